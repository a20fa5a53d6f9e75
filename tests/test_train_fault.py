"""tests/train_fault.py: only the named train stage dies, and the resume trains it."""
import pytest

from tests.train_fault import Fault, train_dies_at
from w2s_ray.stages import steps


def test_only_the_named_stage_dies_and_the_resume_trains_it(monkeypatch):
    trained = []
    monkeypatch.setattr(steps, "train_objective", lambda *args, label="", **kwargs: trained.append(label))
    resume = train_dies_at(monkeypatch, "a/train")
    steps.train_objective("rows", label="b/train")
    with pytest.raises(Fault, match="a/train"):
        steps.train_objective("rows", label="a/train")
    resume()
    steps.train_objective("rows", label="a/train")
    assert trained == ["b/train", "a/train"]
