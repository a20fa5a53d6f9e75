"""registry.Registry: one way every named part registers and is found."""
from __future__ import annotations

import pytest

from w2s_ray.registry import Registry


def first():
    pass


def test_a_lookup_imports_the_package_first_and_lists_the_known_names_when_it_misses():
    from w2s_ray.score.base import SCORERS

    assert {"answer_check", "step_check", "majority_vote"} <= set(SCORERS.names())
    with pytest.raises(KeyError, match="unknown scorer 'nope'; known scorers: .*answer_check"):
        SCORERS.get("nope")


def test_the_same_part_again_is_harmless_another_under_its_name_is_refused():
    registry: Registry = Registry("widget", ())
    registry.add("a", first)
    registry.add("a", first)  # a module imported again (a Ray worker) registers it again

    def other():
        pass

    with pytest.raises(ValueError, match="widget 'a' is already registered, by tests.test_registry.first"):
        registry.add("a", other)
    assert registry.names() == ["a"] and registry.get("a") is first


def test_the_error_type_is_the_registrys():
    with pytest.raises(ValueError, match="unknown gadget 'x'; known gadgets: none"):
        Registry("gadget", (), error=ValueError).get("x")
