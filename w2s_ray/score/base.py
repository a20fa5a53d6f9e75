"""The Scorer contract and the registry of scorers by name.

A scorer is a class:

    @register("answer_check")
    class AnswerChecker(Scorer):
        name = "answer_check"
        columns = ("correct", "has_gold")   # the columns it adds, nothing else
        group_by = None                      # None: row-wise; else keys whose rows arrive together
        num_cpus = 0.5                       # what one instance needs (Ray actor resources)
        num_gpus = 0.0

        def __init__(self, *, style="gsm8k"):   # keyword config only; heavy state loads here
            ...

        def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            ...                              # ONLY the new columns, each as long as the batch

A scorer's config is typed: `options_model(cls)` is a pydantic model of its keyword arguments, read
from `__init__`'s signature (annotations and defaults, so defaults live in one place), or the class's
own `Options` model where it declares one (for constraints an annotation cannot say). A config's
`scorers: [{name: answer_check, config: {style: math}}]` is validated against it when the config
loads, and the error names the scorer, its position and the option.

A scorer is named by its registered name or by import path, `package.module:Class`, so a user's own
scorer needs no registration: the module is imported when the config loads (it must be importable
there and on the Ray workers), and the class must be a Scorer subclass declaring its columns.

`name`, `columns`, `group_by` and the resources are class attributes, so the stage can plan the Ray
job (actor resources, groupby keys) without constructing the scorer: constructing may load a model,
and that must happen once per actor, inside the actor, not in the driver. They are therefore fixed
per class: a variant with other columns or keys (say, votes across all models of a problem) is a
subclass registered under another name.

Row-wise scorers get batches of any size (possibly empty). A grouped scorer gets every row of one
group in one batch (Ray Data `groupby(...).map_groups`), so e.g. majority vote sees all samples of a
(problem_id, model) at once. Rows may arrive in any order; a scorer that needs an order sorts.

Model-based scorers fit this contract unchanged:

* Process reward model (score/reward_models.py, `process_reward_model`): loads the PRM once per
  actor, splits each `text` with `step_checker.split_steps` (so its indices line up with
  `wrong_steps`), runs batched forward passes and reads the score at each step-end token:
  `step_scores` (a list per row) plus scalar aggregates for best-of-N ranking. `reward_model` is its
  outcome counterpart (one `reward` per row).

* Two-model contrast (expert-amateur, LightReasoner). `__init__(*, expert, amateur, ...)` loads both
  LMs. `__call__` teacher-forces the expert's `prompt + text` through each and returns, per row, the
  per-step KL(pi_E || pi_A) and the expert's top tokens V_t with both log-probs over them (list
  columns). The KL step selection is a Select-stage function over those columns.

List-valued columns are built with `object_column` (a 1-D numpy object array holding one list per row),
because `np.array(list_of_equal_length_lists)` would silently make a 2-D array. On Ray they are
stored as Arrow list columns, and a later scorer reads such a column back as an object array of
1-D numpy arrays (plain lists in `score_rows`): iterate, do not assume a type.
"""
from __future__ import annotations

import importlib
import inspect
import typing
from functools import lru_cache
from typing import Any, Callable, ClassVar, Iterable, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, create_model

from w2s_ray.registry import Registry

Batch = dict[str, np.ndarray]



class Scorer:
    """Batch in, new columns out. Subclass it, set the class attributes, register it by name."""

    name: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()
    group_by: ClassVar[tuple[str, ...] | None] = None
    num_cpus: ClassVar[float] = 1.0
    num_gpus: ClassVar[float] = 0.0
    # None: the options are __init__'s keyword arguments (options_model); else a pydantic model of them
    Options: ClassVar[type[BaseModel] | None] = None

    def __call__(self, batch: Batch) -> Batch:  # pragma: no cover - the contract
        raise NotImplementedError


class UnknownScorerError(KeyError):
    """A scorer name that is not registered; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError's default repr-quotes the message
        return str(self.args[0]) if self.args else ""


# Every module of this package is imported on the first lookup, so that `get_scorer("answer_check")`
# works after importing only this module, without a cycle (the scorer modules import this one).
# Re-registering a class of the same name (a module imported again by a Ray worker) is harmless.
SCORERS: Registry[type[Scorer]] = Registry("scorer", ("w2s_ray.score",), error=UnknownScorerError,
                                           origin=lambda cls: cls.__qualname__)


S = TypeVar("S", bound=type[Scorer])


def register(name: str) -> Callable[[S], S]:
    """Class decorator: make a scorer available under `name` (and set its `name`)."""

    def decorate(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Scorer)):
            raise TypeError(f"@register({name!r}) needs a Scorer subclass, got {cls!r}")
        if not cls.columns:
            raise TypeError(f"scorer {name!r} declares no columns")
        SCORERS.add(name, cls)
        cls.name = name
        return cls

    return decorate


def get_scorer(name: str) -> type[Scorer]:
    """The scorer class registered under `name`, or at import path `package.module:Class`."""
    if ":" in name:
        return _import_scorer(name)
    return SCORERS.get(name)


def _import_scorer(path: str) -> type[Scorer]:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise UnknownScorerError(f"scorer {path!r}: an import path is 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 - any failure to import is the user's to see, by name
        raise UnknownScorerError(f"scorer {path!r}: cannot import {module_name!r}: {type(err).__name__}: {err}") from None
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Scorer)):
        what = "no such attribute" if cls is None else f"{cls!r} is not a Scorer subclass"
        raise UnknownScorerError(f"scorer {path!r}: {what} in {module_name}")
    if not cls.columns:
        raise UnknownScorerError(f"scorer {path!r} declares no columns")
    return cls


@lru_cache(maxsize=None)
def options_model(cls: type[Scorer]) -> type[BaseModel]:
    """The pydantic model of a scorer's keyword config: its own `Options`, else its __init__'s
    keyword arguments (strict, unknown keys refused; an unannotated one takes any value)."""
    if cls.Options is not None:
        return cls.Options
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: check names, not types
        hints = {}
    fields: dict[str, Any] = {}
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # past self
    extra = "allow" if any(p.kind is p.VAR_KEYWORD for p in params) else "forbid"
    for p in params:
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            fields[p.name] = (hints.get(p.name, Any), ... if p.default is p.empty else p.default)
    return create_model(f"{cls.__name__}Options", __config__=ConfigDict(extra=extra, strict=True), **fields)


def check_options(cls: type[Scorer], config: dict) -> None:
    """ValueError naming each bad option of `config` for scorer `cls`."""
    from pydantic import ValidationError

    try:
        options_model(cls).model_validate(config)
    except ValidationError as err:
        problems = "; ".join(f"option '{'.'.join(str(p) for p in e['loc']) or '(config)'}': {e['msg']}"
                             for e in err.errors())
        raise ValueError(problems) from None


def object_column(values: Iterable[Any]) -> np.ndarray:
    """A 1-D object array with one Python value (e.g. a list) per row."""
    values = list(values)
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def batch_length(batch: Batch) -> int:
    return len(next(iter(batch.values()))) if batch else 0


def column_values(batch: Batch, column: str, default: Any = None) -> list[Any]:
    """A column as plain Python values; a missing column reads as `default` for every row.

    Arrow nulls arrive as None, pandas ones as NaN: both read as `default`.
    """
    if column not in batch:
        return [default] * batch_length(batch)
    return [default if _is_missing(v) else v for v in batch[column].tolist()]


def require_column(batch: Batch, column: str, scorer: str) -> list[Any]:
    if column not in batch:
        raise KeyError(f"scorer {scorer!r} needs column {column!r}; batch has {sorted(batch)}")
    return column_values(batch, column)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
