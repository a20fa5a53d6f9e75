"""A run's vLLM engines outlive a stage: the next stage on the same model and engine arguments gets
them (no start-up), any other stage replaces them, and release() stops them."""
from __future__ import annotations

import pytest

from w2s_ray.config import TeacherConfig
from w2s_ray.data.world import generate_world
from w2s_ray.generate.engine_pool import EngineCache
from w2s_ray.generate.stage import generate

pytestmark = pytest.mark.slow


def _alive(pool) -> set[str]:
    from ray._private.state import actors

    ids = {e._actor_id.hex() for e in pool.engines}
    return {a["ActorID"] for a in actors().values() if a["ActorID"] in ids and a["State"] == "ALIVE"}


def test_stages_on_the_same_model_share_engines_and_another_model_replaces_them(ray_local, tiny_models):
    weak, strong = tiny_models
    problems = [p.to_row() for p in generate_world(8, seed=3, levels=(1, 2))]
    base = dict(model=weak, engine="vllm", dtype="float32", max_model_len=256, batch_size=8)
    # A teacher's generation and its evaluation: other samples, lengths and names, the same engines.
    sampled = TeacherConfig(name="gen", n=2, temperature=1.0, max_tokens=16, **base)
    greedy = TeacherConfig(name="eval", n=1, temperature=0.0, max_tokens=24, **base)
    cache = EngineCache()
    try:
        first, first_stats = generate(problems, sampled, weak, "cpu", engines=cache)
        pool = cache.pool
        engine_ids = _alive(pool)
        second, second_stats = generate(problems, greedy, weak, "cpu", engines=cache)

        assert (cache.starts, cache.reuses) == (1, 1) and cache.pool is pool and _alive(pool) == engine_ids
        assert first_stats.startup_seconds > 1.0 and second_stats.startup_seconds == 0.0
        assert first.count() == 16 and second.count() == 8
        assert {r["model"] for r in second.take_all()} == {"eval"}
        assert all(r["n_generated_tokens"] <= 24 for r in second.take_all())

        # Another model (or other engine arguments): the old engines stop, new ones start.
        other = greedy.model_copy(update={"model": strong})
        generate(problems, other, strong, "cpu", engines=cache)
        assert cache.starts == 2 and cache.pool is not pool and not _alive(pool)
        newest = cache.pool
    finally:
        cache.release()
    assert cache.pool is None and not _alive(newest)
