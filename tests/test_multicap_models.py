"""The two built-in models of configs/demo-multicap.yaml: world-student-multicap (the strong student
pretrained on every capability) and weak-multicap (a weak teacher of every capability). The demo's
strong half and test split must lie inside what each model was kept from: the student's held-out
problems (its corpus is leak-checked against them) and the teacher's non-training splits."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import long_test
from w2s_ray.config import load_config
from w2s_ray.data.capabilities import capability_names, capability_splits
from w2s_ray.models.built_in import built_in
from w2s_ray.models.strong_student import DEFAULT_STUDENTS, recipe_record, student_corpus
from w2s_ray.models.weak_teacher import DEFAULT_RECIPES, training_problems

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "configs" / "demo-multicap.yaml"


def test_the_demo_names_the_multicap_models_and_they_know_every_capability():
    config = load_config(DEMO)
    assert config.strong.model == "world-student-multicap" and [t.model for t in config.weak] == ["weak-multicap"]
    assert built_in("world-student-multicap").kind == "strong-student"
    assert built_in("weak-multicap").kind == "weak-teacher"
    student, teacher = DEFAULT_STUDENTS["world-student-multicap"], DEFAULT_RECIPES["weak-multicap"]
    assert set(student.capabilities) == set(teacher.capabilities) == set(capability_names())
    assert set(config.multi_capability.capabilities) == set(student.capabilities)
    # world-student's arithmetic corpus and shape: only the capabilities, their corpus and the steps differ
    multi, world = recipe_record(student), recipe_record(DEFAULT_STUDENTS["world-student"])
    splits = {"split_weak_train", "split_strong_train", "split_test_per_level"}
    corpus = {"capability_problems", "capability_target_names", "capability_options"}
    assert {k for k in {*multi, *world} if multi.get(k) != world.get(k)} == {"name", "capabilities", "max_steps",
                                                                          *splits, *corpus}


@long_test
def test_the_demos_held_out_problems_are_held_out_from_both_models():
    """Minutes: the student's whole corpus checked against the demo's own strong half and test split.
    The student's corpus is leak-checked at build against its recipe's splits (20,000 / 2,000 / 200 a
    level); a demo of other sizes holds other problems there (the lowest hashes of a smaller pool), so
    the demo's must be checked themselves. The teacher trains on the weak partition only."""
    from w2s_ray.data.capabilities.corpus import leaks as capability_leaks
    from w2s_ray.data.pretrain_corpus import leaks as arithmetic_leaks

    config = load_config(DEMO)
    mc, seed = config.multi_capability, config.data.seed
    student, teacher = DEFAULT_STUDENTS["world-student-multicap"], DEFAULT_RECIPES["weak-multicap"]
    examples = student_corpus(student)  # raises if it leaks against the recipe's own splits
    taught = {p.id for p in training_problems(teacher)}
    held = {name: [p for split in ("strong_train", "test") for p in
                   capability_splits(name, seed, mc.n_weak_train, mc.n_strong_train, mc.n_test_per_level)[split]]
            for name in mc.capabilities}
    assert not {p.id for problems in held.values() for p in problems} & taught
    assert arithmetic_leaks(examples, held["arithmetic"]) == []
    assert capability_leaks(examples, [p for name, ps in held.items() if name != "arithmetic" for p in ps]) == []
