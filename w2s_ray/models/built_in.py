"""The models this project builds itself, by name: what each is built from, and the build.

A run builds the ones its config names as manifest stages (run/model_builds.py), with the recipe's
hash and the hash of the data it trains on as the stage's inputs; the built directory lives in the
content-addressed model cache (models/cache.py), so runs share it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from w2s_ray.models.smollm2 import PACKAGE as SMOLLM2_PACKAGE
from w2s_ray.models.smollm2 import SMOLLM2_NAME, smollm2_model_dir
from w2s_ray.models.strong_student import (
    DEFAULT_STUDENTS,
    build_strong_student,
    corpus_hash,
    recipe_record,
    student_corpus,
)
from w2s_ray.models.weak_teacher import DEFAULT_RECIPES, build_weak_teacher, training_data_sha256


def _sha16(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BuiltInModel:
    name: str
    kind: str  # "strong-student", "weak-teacher", "converted"
    recipe: dict
    data_sha256: Callable[[], str]  # what the build trains on (or converts)
    build: Callable[[Path | None], Path]  # cache dir -> built directory

    def recipe_sha256(self) -> str:
        return _sha16(self.recipe)

    def inputs(self) -> dict[str, str]:
        return {"recipe": self.recipe_sha256(), "data": self.data_sha256()}


def _weak(name: str) -> BuiltInModel:
    recipe = DEFAULT_RECIPES[name]

    return BuiltInModel(name, "weak-teacher", recipe.record(), lambda: training_data_sha256(recipe),
                        lambda cache: build_weak_teacher(name, cache))


def _student(name: str) -> BuiltInModel:
    recipe = DEFAULT_STUDENTS[name]
    return BuiltInModel(name, "strong-student", recipe_record(recipe),
                        lambda: corpus_hash(student_corpus(recipe)),
                        lambda cache: build_strong_student(name, cache, threads=2))


def _smollm2() -> BuiltInModel:
    return BuiltInModel(SMOLLM2_NAME, "converted", {"package": SMOLLM2_PACKAGE}, lambda: _sha16(SMOLLM2_PACKAGE),
                        smollm2_model_dir)


BUILT_IN: dict[str, Callable[[], BuiltInModel]] = {
    SMOLLM2_NAME: _smollm2,
    **{name: (lambda n=name: _weak(n)) for name in DEFAULT_RECIPES},
    **{name: (lambda n=name: _student(n)) for name in DEFAULT_STUDENTS},
}


def built_in(name: str) -> BuiltInModel | None:
    make = BUILT_IN.get(str(name))
    return make() if make else None
