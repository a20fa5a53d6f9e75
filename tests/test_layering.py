"""Layering: the packages of w2s_ray import each other without a cycle (the driver above the recipes,
the recipes above the stage library), and a recipe is found by the name it registered."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import w2s_ray

ROOT = Path(w2s_ray.__file__).parent


# Modules that are a layer of their own inside the package they belong to by topic: the contracts
# and bases sit below everything that uses them (the config builds its sections from the Recipe
# contract; train's config derives from the config base), and the run's context, its driver and the
# cluster plan sit above the stage library they compose, while the rest of run/ (manifest, stage IO,
# tags, locks) and raycluster/ (Ray init, devices, free resources) sit below it.
OWN_LAYER = {"w2s_ray.recipes.base": "recipes.base", "w2s_ray.config.base": "config.base",
             "w2s_ray.run.context": "run.context", "w2s_ray.run.model_builds": "run.context",
             "w2s_ray.run.driver": "run.driver", "w2s_ray.raycluster.plan": "raycluster.plan"}


def _unit(module: str) -> str:
    """w2s_ray.stages.steps -> stages; w2s_ray.run.manifest -> manifest: the layer a module belongs to."""
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
    assert find_cycle({"run.driver": {"recipes", "stages"}, "recipes": {"stages"}}) is None


def test_packages_import_each_other_without_a_cycle():
    graph = import_graph()
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"
    assert "recipes" in graph["run.driver"] and "stages" in graph["recipes"]
    assert not {"recipes", "run.driver"} & graph["stages"], "the stage library must not know the recipes"
    assert "run.driver" not in graph["recipes"]
    assert not graph.get("recipes.base"), f"the Recipe contract imports {graph.get('recipes.base')}"
    assert not graph.get("config.base"), f"the config base imports {graph.get('config.base')}"
    assert "recipes" not in graph["config"] | graph["eval"] | graph["raycluster.plan"], "they know recipes by the contract"
    # The run record and the Ray environment are below every stage: nothing there knows a stage.
    low = {"generate", "score", "select", "train", "models", "data", "stages", "eval", "serve", "recipes"}
    assert not low & (graph["run"] | graph["raycluster"]), (graph["run"], graph["raycluster"])
    assert not (ROOT / "supervision").exists() and sorted(p.name for p in ROOT.glob("*.py")) == [
        "__init__.py", "cli.py", "registry.py"], "the root shows the layers: packages, not loose modules"
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
