"""The easy-to-hard recipe's work that grows with the samples, in Ray Data's workers: the driver holds
one row per problem at most, never the samples.

  step labels   a map: each solution labelled on its own (step_labels.step_labels), written by the
                workers as the PRM's training rows (stages/select_data.map_data)
  rerank        a group-by on (problem_id, model): each problem's samples reranked by every method
                (select/rerank.rerank on the group); the picks, one per problem and method, come back
                to the driver, which scores them by level as rerank_report does
  step AUROC    a map: each test sample labelled as the PRM's training data is, its (step score,
                label) pairs; then a sort of the pairs and one pass over them (stages/data_order.py)
  MC solutions  the Monte Carlo labels' hard solutions: the solved problems' ids (one per problem),
                then the first wrong and right solutions by a sort, then those rows, whole

Each equals the list function on the whole stage: tests/test_recipe_pieces.py without Ray,
tests/test_recipe_data_ray.py through Ray.
"""
from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence

import pyarrow as pa

from w2s_ray.recipes.easy_to_hard.report import _unscored as unscored
from w2s_ray.recipes.easy_to_hard.report import step_auroc, step_pairs
from w2s_ray.recipes.easy_to_hard.step_labels import step_labels
from w2s_ray.run.shuffle import group_by, in_order, parquet_bytes, sort_by
from w2s_ray.select.rerank import METHODS, rerank
from w2s_ray.select.selection import _as_int
from w2s_ray.stages.select_data import DataSelection, StageData, map_data

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
# What the step labels read of a scored sample: its text and the step checker's and answer checker's columns.
LABEL_INPUT = pa.schema([("problem_id", _S), ("model", _S), ("sample_index", _I), ("question", _S), ("text", _S),
                         ("level", _I), ("has_gold", _B), ("correct", _B), ("wrong_steps", pa.list_(_I)),
                         ("n_checkable_steps", _I)])
LABEL_SCHEMA = pa.schema([("problem_id", _S), ("prompt", _S), ("steps", pa.list_(_S)), ("labels", pa.list_(_I)),
                          ("source", _S), ("source_model", _S), ("sample_index", _I), ("level", _I)])
LABEL_ORDER = ("problem_id", "source_model", "sample_index")  # Selection's sort_key


def step_labels_data(samples: StageData, source: str, step_sep: str, with_answer: bool) -> DataSelection:
    """step_labels over a sampled stage, as a map (select_data runs it and writes the rows)."""
    piece = functools.partial(step_labels, source=source, step_sep=step_sep, with_answer=with_answer)
    return map_data("step_labels", samples, piece, LABEL_INPUT, LABEL_SCHEMA, LABEL_ORDER)


def _rerank_input(aggregate: str) -> pa.Schema:
    return pa.schema([("problem_id", _S), ("model", _S), ("sample_index", _I), ("level", _I), ("answer", _S),
                      ("correct", _B), (aggregate, _F)])


def rerank_group(rows: Sequence[dict], aggregate: str) -> list[dict]:
    """One (problem, model)'s samples -> its pick by each method, in METHODS' order, each
    {method, problem_id, model, pick, samples, unscored} (the counts on the first only). The samples
    in sample_index order, as the stage's rows are read back."""
    rows = sorted(rows, key=lambda r: _as_int(r.get("sample_index")) or 0)
    out = []
    for index, method in enumerate(METHODS):
        (pick,) = rerank(rows, method, aggregate)
        out.append({"method": index, "problem_id": pick["problem_id"], "model": pick["model"],
                     "pick": json.dumps(pick), "samples": len(rows) if index == 0 else 0,
                     "unscored": sum(1 for r in rows if unscored(r.get(aggregate))) if index == 0 else 0})
    return out


def picks_by_method(rows: Iterable[dict]) -> tuple[dict[str, list[dict]], int, int]:
    """rerank_group's rows of every group -> ({method: its picks in rerank's order}, samples, unscored)."""
    rows = sorted(rows, key=lambda r: (r["method"], r["problem_id"], r["model"]))
    picks: dict[str, list[dict]] = {method: [] for method in METHODS}
    for row in rows:
        picks[METHODS[row["method"]]].append(json.loads(row["pick"]))
    return picks, sum(r["samples"] for r in rows), sum(r["unscored"] for r in rows)


_PICK_SCHEMA = pa.schema([("method", _I), ("problem_id", _S), ("model", _S), ("pick", _S), ("samples", _I),
                          ("unscored", _I)])


def _rerank_table(table: pa.Table, aggregate: str) -> pa.Table:
    return pa.Table.from_pylist(rerank_group(table.to_pylist(), aggregate), schema=_PICK_SCHEMA)


def rerank_data(samples: StageData, aggregate: str) -> tuple[dict[str, list[dict]], int, int]:
    """picks_by_method over a sampled stage: a group-by on (problem_id, model) in Ray Data; the picks
    (a few per problem) come back."""
    import ray

    for method in METHODS:
        rerank([], method, aggregate)  # a bad score column is refused here, as the list path refuses it
    ds = samples.dataset("samples", _rerank_input(aggregate))
    if ds is None:
        return picks_by_method([])
    out = group_by(in_order(ds), ["problem_id", "model"], parquet_bytes(samples.files())).map_groups(
        functools.partial(_rerank_table, aggregate=aggregate), batch_format="pyarrow")
    tables = [t for t in ray.get(out.to_arrow_refs()) if t.num_rows]
    return picks_by_method(row for t in tables for row in t.to_pylist())


# The step AUROC: what the labels read, and the PRM's scores of each step.
AUROC_INPUT = pa.schema([*LABEL_INPUT, ("step_scores", pa.list_(_F))])
_PAIRS = pa.schema([("score", _F), ("label", _I), ("pairs", _I), ("steps", _I), ("negatives", _I),
                    ("solutions", _I)])
_COUNTS = ("pairs", "steps", "negatives", "solutions")


def auroc_pairs(rows: Sequence[dict], levels: Sequence[int], source: str, step_sep: str,
                with_answer: bool) -> tuple[list[float], list[int], int]:
    """The (step score, label) pairs of the samples of `levels`, labelled by `source` as the PRM's
    training data is, and the number of solutions labelled: report.step_auroc's, for these rows."""
    labels = step_labels([r for r in rows if r["level"] in levels], source, step_sep, with_answer).rows
    xs, ys = step_pairs(rows, labels)
    return xs, ys, len(labels)


def _auroc_table(table: pa.Table, **settings) -> pa.Table:
    """A batch's pairs with a score (auroc leaves NaN out), and one row of its counts (NaN's counted)."""
    xs, ys, solutions = auroc_pairs(table.to_pylist(), **settings)
    kept = [i for i, x in enumerate(xs) if not math.isnan(x)]
    pad = [None] * len(kept)
    return pa.table({"score": pa.array([xs[i] for i in kept] + [None], _F),
                     "label": pa.array([ys[i] for i in kept] + [None], _I),
                     "pairs": pa.array(pad + [len(kept)], _I), "steps": pa.array(pad + [len(xs)], _I),
                     "negatives": pa.array(pad + [ys.count(0)], _I),
                     "solutions": pa.array(pad + [solutions], _I)}, schema=_PAIRS)


def _block_counts(table: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    return pa.table({c: pa.array([pc.sum(table[c]).as_py() or 0], _I) for c in _COUNTS})


def _pairs_only(table: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    return table.filter(pc.is_valid(table["label"])).select(["score", "label"])


def step_auroc_data(samples: StageData, levels: Sequence[int], source: str, step_sep: str,
                    with_answer: bool) -> dict:
    """report.step_auroc(rows, step_labels(rows of `levels`).rows) over a sampled stage: the pairs made
    in a map, their AUROC from a sort of them (stages/data_order.sorted_auroc)."""
    from w2s_ray.stages.data_order import sorted_auroc

    ds = samples.dataset("samples", AUROC_INPUT)
    if ds is None:
        return step_auroc([], [])
    settings = {"levels": list(levels), "source": source, "step_sep": step_sep, "with_answer": with_answer}
    out = ds.map_batches(functools.partial(_auroc_table, **settings), batch_format="pyarrow").materialize()
    counts = {c: sum(r[c] for r in out.map_batches(_block_counts, batch_format="pyarrow", batch_size=None)
                     .take_all()) for c in _COUNTS}
    pairs = out.map_batches(_pairs_only, batch_format="pyarrow", batch_size=None)
    value = sorted_auroc(pairs) if counts["pairs"] else None  # None without both classes, as auroc
    return {"auroc": value, "n_steps": counts["steps"], "n_negative": counts["negatives"],
            "n_solutions": counts["solutions"]}


_SCORES_INPUT = pa.schema([("problem_id", _S), ("model", _S), ("sample_index", _I), ("step_scores", pa.list_(_F))])


def _with_keys(table: pa.Table, keys: frozenset) -> pa.Table:
    rows = [r for r in table.to_pylist()
            if (str(r["problem_id"]), str(r["model"]), _as_int(r["sample_index"])) in keys]
    return pa.Table.from_pylist(rows, schema=table.schema)


def sample_scores(samples: StageData, label_rows: Sequence[dict]) -> list[dict]:
    """The samples' step scores of the labelled solutions only (a few hundred Monte Carlo ones), for
    report.step_auroc: {problem_id, model, sample_index, step_scores}."""
    import ray

    keys = frozenset((str(r["problem_id"]), str(r["source_model"]), int(r["sample_index"])) for r in label_rows)
    ds = samples.dataset("samples", _SCORES_INPUT)
    if ds is None or not keys:
        return []
    out = ds.map_batches(functools.partial(_with_keys, keys=keys), batch_format="pyarrow")
    return [row for t in ray.get(out.to_arrow_refs()) for row in t.to_pylist()]


def solution_order(row: dict) -> tuple[str, int]:
    return str(row["problem_id"]), int(row["sample_index"])


def mc_solutions(rows: Iterable[dict], hard_levels: Sequence[int], n: int) -> list[dict]:
    """Hard-level solutions of problems some sample solved (the search needs a solvable question):
    the first n wrong ones and as many right ones, in a fixed order."""
    hard = sorted((r for r in rows if r["level"] in hard_levels), key=solution_order)
    solved = {r["problem_id"] for r in hard if r["correct"]}
    wrong = [r for r in hard if r["problem_id"] in solved and not r["correct"]][:n]
    right = [r for r in hard if r["correct"]][:len(wrong)]
    return wrong + right


_OUTCOME_INPUT = pa.schema([("problem_id", _S), ("sample_index", _I), ("level", _I), ("correct", _B)])


def _hard_outcomes(table: pa.Table, hard_levels: list[int]) -> pa.Table:
    """The hard rows' (problem_id, sample_index, correct)."""
    rows = [{"problem_id": r["problem_id"], "sample_index": r["sample_index"], "correct": bool(r["correct"])}
            for r in table.to_pylist() if r["level"] in hard_levels]
    return pa.Table.from_pylist(rows, schema=pa.schema([("problem_id", _S), ("sample_index", _I), ("correct", _B)]))


def _solved_ids(table: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    return pa.table({"problem_id": pc.unique(_keep(table, True)["problem_id"])})


def _in_problems(table: pa.Table, problem_ids: frozenset) -> pa.Table:
    import pyarrow.compute as pc

    return table.filter(pc.is_in(table["problem_id"], value_set=pa.array(sorted(problem_ids), _S)))


def _keep(table: pa.Table, correct: bool) -> pa.Table:
    import pyarrow.compute as pc

    return table.filter(pc.equal(table["correct"], correct))


def _rows_of(table: pa.Table, keys: frozenset) -> pa.Table:
    rows = [r for r in table.to_pylist() if solution_order(r) in keys]
    return pa.Table.from_pylist(rows, schema=table.schema)


def mc_solutions_data(samples: StageData, hard_levels: Sequence[int], n: int) -> list[dict]:
    """mc_solutions over a sampled stage: the outcomes of its hard rows are sorted in Ray Data, and
    only the 2n rows chosen come to the driver, whole (every column, as stage_rows reads them)."""
    import ray

    levels = list(hard_levels)
    ds = samples.dataset("samples", _OUTCOME_INPUT)
    if ds is None:
        return []
    hard = in_order(ds).map_batches(functools.partial(_hard_outcomes, hard_levels=levels),
                                    batch_format="pyarrow").materialize()
    # Each block's solved ids (a map, not Dataset.unique: its hash aggregation holds actors that a
    # 2-CPU cluster's next tasks wait on), joined in the driver: one id per problem at most.
    solved = frozenset(r["problem_id"] for r in hard.map_batches(_solved_ids, batch_format="pyarrow",
                                                                 batch_size=None).take_all())
    outcomes = hard.map_batches(functools.partial(_in_problems, problem_ids=solved),
                                batch_format="pyarrow").materialize()

    def first(correct: bool, k: int) -> list[tuple[str, int]]:
        if not k:
            return []
        keep = outcomes.map_batches(functools.partial(_keep, correct=correct), batch_format="pyarrow")
        chosen = sort_by(keep, ["problem_id", "sample_index"]).limit(k).take_all()
        return sorted(solution_order(r) for r in chosen)

    wrong = first(False, n)
    right = first(True, len(wrong))
    if not wrong:
        return []
    keys = frozenset(wrong + right)
    rows = ray.data.read_parquet(samples.files()).map_batches(functools.partial(_rows_of, keys=keys),
                                                               batch_format="pyarrow")
    by_key = {solution_order(r): r for t in ray.get(rows.to_arrow_refs()) for r in t.to_pylist()}
    return [by_key[key] for key in wrong + right]
