"""Config section of the supervision_mix recipe (recipes/supervision_mix/recipe.py; METHODS.md section 3)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from w2s_ray.config.base import Strict, repeated


class MixPart(Strict):
    """One kind of supervision in a mix, with the share of its solutions made wrong."""

    kind: Literal["hard", "subtask", "rephrased"]
    outcome_error: float = Field(default=0.0, ge=0.0, le=1.0)
    # final: only the last step is wrong; early: the first step is wrong and the error propagates
    error_step: Literal["final", "early"] = "final"


class MixConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", max_length=64)  # a stage key part
    parts: list[MixPart] = Field(min_length=1)

    @field_validator("parts")
    @classmethod
    def _one_part_per_kind(cls, parts):
        kinds = [p.kind for p in parts]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"each kind at most once in a mix, got {kinds}")
        return parts


class FindingConfig(Strict):
    """A claim of the paper as a pair of mixes: `better` should beat `worse` on the test split. The
    report says whether it did (a paired bootstrap interval over test problems) beside both sets' errors."""

    claim: str = Field(min_length=1, max_length=200)
    better: str
    worse: str


class SupervisionMixConfig(Strict):
    """Hard problems (these levels, the first n_hard of the weak half, with gold solutions), the
    subtasks cut from them (`subtask_steps` steps from the middle) and their rewordings; each mix is
    SFT'd from the strong base and evaluated on the test split."""

    hard_levels: list[Literal[1, 2, 3, 4, 5]] = Field(default_factory=lambda: [4, 5], min_length=1)  # data.schema.LEVELS
    n_hard: int = Field(default=200, ge=1)
    subtask_steps: int = Field(default=2, ge=1)
    seed: int = 0
    evaluate_base: bool = True  # the strong base on the test split, for reference
    mixes: list[MixConfig] = Field(min_length=1)
    findings: list[FindingConfig] = Field(default_factory=list)

    @field_validator("mixes")
    @classmethod
    def _unique_names(cls, mixes):
        dupes = repeated([m.name for m in mixes])
        if dupes:
            raise ValueError(f"mix names must be unique; repeated: {dupes}")
        return mixes

    @model_validator(mode="after")
    def _findings_name_mixes(self):
        names = {m.name for m in self.mixes}
        for i, finding in enumerate(self.findings):
            unknown = [n for n in (finding.better, finding.worse) if n not in names]
            if unknown:
                raise ValueError(f"findings.{i}: {unknown} not among the mixes {sorted(names)}")
        return self


SECTIONS = {"supervision_mix": SupervisionMixConfig}  # required


def check(config) -> None:
    if config.supervision_mix is None:
        raise ValueError("recipe 'supervision_mix' needs its section 'supervision_mix' (the mixes)")
    if config.data.source != "world":  # text has no step structure to plant an error in or reword
        for i, mix in enumerate(config.supervision_mix.mixes):
            for j, part in enumerate(mix.parts):
                if part.outcome_error or part.kind == "rephrased":
                    raise ValueError(f"supervision_mix.mixes.{i}.parts.{j}: error injection and rephrasing "
                                     f"need data.source 'world'; on files only error-free hard and subtask parts")
