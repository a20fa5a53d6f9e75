"""A fault in one train stage, named by its label: a run killed there, then resumed, must keep every
stage that finished (the long resume tests of the recipes)."""
from __future__ import annotations


class Fault(RuntimeError):
    pass


def train_dies_at(monkeypatch, label: str):
    """The train stage `label` raises Fault; every other stage trains as it would. Returns a callable
    that lets `label` train again (the resume)."""
    from w2s_ray.stages import steps

    real_train = steps.train_objective

    def dies_at_label(*args, **kwargs):
        if kwargs.get("label") == label:
            raise Fault(f"killed in {label}")
        return real_train(*args, **kwargs)

    monkeypatch.setattr(steps, "train_objective", dies_at_label)
    return lambda: monkeypatch.setattr(steps, "train_objective", real_train)
