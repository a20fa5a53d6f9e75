"""What each model knows before any weak supervision: every configured teacher answers the test
split through Ray Data + vLLM, a pool of scoring actors scores the answers, and a per-level
accuracy table comes out. `make demo` runs this on the demo world.

Writes RUN_DIR/before_supervision/{generations,scored}.parquet and results.json / results.md.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from w2s_ray.config import RunConfig
from w2s_ray.data.sources import demo_pool, load_splits
from w2s_ray.devices import resolve_device
from w2s_ray.eval.accuracy import accuracy_by_model, format_table
from w2s_ray.generate.stage import generate
from w2s_ray.models.load import resolve_model
from w2s_ray.runtime import init_ray
from w2s_ray.score.stage import score_dataset


def run(config: RunConfig) -> dict:
    out = Path(config.run_dir) / "before_supervision"
    out.mkdir(parents=True, exist_ok=True)
    ray = init_ray(config.ray.address, config.ray.num_cpus)
    device = resolve_device(config.ray.device)

    splits, data_stats = load_splits(config.data)
    test = [p.to_row() for p in splits["test"]]
    pool = demo_pool(splits["weak_train"], config.data.n_demos)

    generations, gen_stats = [], []
    for teacher in config.teachers:
        model_path = resolve_model(teacher.model, config.resolved_cache_dir())
        ds, stats = generate(test, teacher, str(model_path), device, pool)
        generations.append(ds)
        gen_stats.append(stats)
    all_generations = generations[0].union(*generations[1:]) if len(generations) > 1 else generations[0]
    all_generations.write_parquet(str(out / "generations"))

    start = time.perf_counter()
    scored = score_dataset(all_generations, config.scorers).materialize()
    score_seconds = time.perf_counter() - start
    scored.write_parquet(str(out / "scored"))
    rows = scored.take_all()

    table = accuracy_by_model(rows)
    results = {
        "config_hash": config.config_hash(),
        "data": data_stats,
        "accuracy": table,
        "generate": [dict(vars(s), tokens_per_s=s.tokens_per_s) for s in gen_stats],
        "score": {"rows": len(rows), "seconds": score_seconds, "rows_per_s": len(rows) / score_seconds},
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    report = render(table, results)
    (out / "results.md").write_text(report)
    print(report, file=sys.stdout, flush=True)
    return results


def render(table: dict, results: dict) -> str:
    lines = ["## Accuracy (%) by level on the test split, before any weak supervision", "",
             format_table(table), "", "## Throughput", "",
             "| stage | what | rows | tokens | seconds | rate |", "|---|---|---|---|---|---|"]
    for g in results["generate"]:
        lines.append(f"| generate | {g['teacher']} ({g['engine']}) | {g['rows']} | {g['generated_tokens']} | "
                     f"{g['seconds']:.1f} | {g['tokens_per_s']:.0f} tokens/s |")
    s = results["score"]
    lines.append(f"| score | all scorers | {s['rows']} | - | {s['seconds']:.1f} | {s['rows_per_s']:.0f} rows/s |")
    return "\n".join(lines) + "\n"
