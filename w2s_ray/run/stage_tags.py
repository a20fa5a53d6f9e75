"""What a stage record is for, said by the recipe that ran it: a tag in the manifest.

    {"role": "student_eval", "label": "round 2", "round": 2}

Readers of a run (the report, `w2s compare`, promotion for `w2s serve`) find the models they show
or serve by these tags, never by the shape of a stage key, so a recipe is free to name its stages.

Roles:
  baseline      the evaluation of a reference model: label "weak" (with `teacher`), "strong_base",
                "strong_base_few_shot", "ceiling", "full_weak_ft"
  student_eval  the evaluation of a student the recipe trained; promotion serves the newest one.
                `round` where it is a round of a refinement loop ("round 2"), none otherwise ("stage2")
  train         the training stage that made the model evaluated under the same label
  select        the selection that training stage learned from (the report's selection statistics)
  report        a recipe's own report section: its metrics' `report` mapping is merged into
                report.json (keys the report already has are kept), e.g. easy_to_hard's `rerank`, `sgr`

Manifests written before tags existed carry none: `legacy_tag` maps their fixed stage keys to the
tags the w2s_reasoning recipe writes today, so old run directories still report and serve.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

ROLES = ("baseline", "student_eval", "train", "select", "report")


@dataclass(frozen=True)
class Tag:
    role: str
    label: str
    round: int | None = None  # the round of a refinement loop, for report.rounds
    teacher: str | None = None  # a weak teacher's name, for the "weak" baseline

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"stage tag role {self.role!r} is not one of {ROLES}")
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"stage tag label must be a non-empty string, got {self.label!r}")

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict) -> "Tag":
        return cls(**data)


_STUDENT_ROLES = {"eval": "student_eval", "train": "train", "select": "select", "pairs": "select"}


def legacy_tag(key: str) -> Tag | None:
    """The tag an untagged record of an older manifest stands for, from its stage key (the keys the
    report and promotion matched before tags); None for every other key."""
    if m := re.fullmatch(r"baselines/weak/(.+)/eval", key):
        return Tag("baseline", "weak", teacher=m.group(1))
    if m := re.fullmatch(r"baselines/(strong_base|strong_base_few_shot|ceiling|full_weak_ft)/eval", key):
        return Tag("baseline", m.group(1))
    if m := re.fullmatch(r"baselines/(ceiling|full_weak_ft)/train", key):
        return Tag("train", m.group(1))
    if key == "baselines/full_weak_ft/select":
        return Tag("select", "full_weak_ft")
    if m := re.fullmatch(r"round_(\d+)/(eval|train|select)", key):
        k = int(m.group(1))
        return Tag(_STUDENT_ROLES[m.group(2)], f"round {k}", round=k)
    if m := re.fullmatch(r"stage2/(eval|train|pairs)", key):
        return Tag(_STUDENT_ROLES[m.group(1)], "stage2")
    return None


def stage_tag(record: dict, key: str) -> Tag | None:
    """A record's tag: the one its recipe wrote, or for an untagged record (one written before tags
    existed) the legacy mapping of its key."""
    return Tag.from_json(record["tag"]) if record.get("tag") else legacy_tag(key)


def tagged(manifest, role: str) -> list[tuple[str, Tag]]:
    """(stage key, tag) of the complete stages with this role, in the order they completed."""
    out = []
    for key in manifest.stages():
        tag = stage_tag(manifest.record(key), key)
        if tag is not None and tag.role == role:
            out.append((key, tag))
    return out


def find(manifest, role: str, label: str) -> str | None:
    """The stage key of the newest complete stage with this role and label, or None."""
    keys = [key for key, tag in tagged(manifest, role) if tag.label == label]
    return keys[-1] if keys else None
