"""Layering: the packages of w2s_ray import each other without a cycle (the driver above the recipes,
the recipes above the stage library), and a recipe is found by the name it registered."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import w2s_ray

ROOT = Path(w2s_ray.__file__).parent


# Modules that are a layer of their own inside their package: the Recipe contract sits below the
# config (which builds its sections from it), the recipes above it.
OWN_LAYER = {"w2s_ray.recipes.base": "recipes.base"}


def _unit(module: str) -> str:
    """w2s_ray.stages.steps -> stages; w2s_ray.manifest -> manifest: the layer a module belongs to."""
    if module in OWN_LAYER:
        return OWN_LAYER[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def import_graph() -> dict[str, set[str]]:
    """{layer: layers it imports}, from every import in the source, those inside functions included
    (a lazy import is still a dependency)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        module = ".".join(("w2s_ray", *path.relative_to(ROOT).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.startswith("w2s_ray.") and _unit(name) != _unit(module):
                    graph[_unit(module)].add(_unit(name))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node, [])):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"loop": {"recipes"}, "recipes": {"loop"}}) is not None
    assert find_cycle({"driver": {"recipes", "stages"}, "recipes": {"stages"}}) is None


def test_packages_import_each_other_without_a_cycle():
    graph = import_graph()
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"
    assert "recipes" in graph["driver"] and "stages" in graph["recipes"]
    assert not {"recipes", "driver"} & graph["stages"], "the stage library must not know the recipes"
    assert "driver" not in graph["recipes"]
    assert not graph.get("recipes.base"), f"the Recipe contract imports {graph.get('recipes.base')}"
    assert "recipes" not in graph["config"] | graph["eval"] | graph["plan"], "they know recipes by the contract"
    # The shared vocabulary (prompts, answers) is the bottom layer: every stage may import it, and
    # no stage imports another stage's package just for a prompt or an answer.
    assert not graph.get("text"), f"text imports {graph.get('text')}"
    assert "generate" not in graph["select"] | graph["models"] | graph["score"]
    assert "score" not in graph["select"] | graph["generate"] | graph["models"]


def test_a_recipe_is_found_by_its_folder():
    from w2s_ray.recipes import recipe
    from w2s_ray.recipes.w2s_reasoning.recipe import run

    assert recipe("w2s_reasoning").run is run
    with pytest.raises(KeyError, match="w2s_reasoning"):  # the message lists what is registered
        recipe("no_such_recipe")
