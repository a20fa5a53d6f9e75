"""train.keep_engines: a stage on another checkpoint of the live engines' shape and tokenizer gets those
engines with the checkpoint's weights loaded in place (issue 27: rounds of every recipe, not only RL);
anything else still gets new engines."""
from __future__ import annotations

import json
from dataclasses import replace

from w2s_ray.generate.engine_pool import EngineCache, EngineSpec

SHAPE = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
         "vocab_size": 100, "tie_word_embeddings": True}


def _checkpoint(path, **config):
    path.mkdir()
    (path / "config.json").write_text(json.dumps({**SHAPE, **config}))
    (path / "tokenizer.json").write_text('{"vocab": ["a", "b"]}')
    (path / "model.safetensors").write_bytes(b"weights")
    return str(path)


class LivePool:
    """The cache's pool as far as the cache sees it (EnginePool without Ray): its spec, and the
    weights it was asked to load."""

    def __init__(self, spec):
        self.spec, self.loaded = spec, []

    def load_weights(self, model_dir):
        self.loaded.append(model_dir)
        self.spec = replace(self.spec, model_path=model_dir)
        return 0.5


def _cache(tmp_path, weights_in_place=True):
    spec = EngineSpec(model_path=_checkpoint(tmp_path / "round0"), engine_kwargs=(("dtype", "float32"),),
                      env_vars=(), device="cpu", replicas=1)
    cache = EngineCache(weights_in_place=weights_in_place)
    cache.pool = LivePool(spec)
    return cache, spec


def test_a_trained_checkpoint_of_the_same_shape_is_loaded_into_the_live_engines(tmp_path):
    cache, spec = _cache(tmp_path)
    round1 = replace(spec, model_path=_checkpoint(tmp_path / "round1"))
    pool, reused = cache.get(round1, {"CPU": 1.0})
    assert reused and pool is cache.pool and pool.loaded == [round1.model_path]
    assert (cache.starts, cache.weight_loads, cache.reuses) == (0, 1, 1)
    assert cache.get(round1, {"CPU": 1.0})[1] and cache.weight_loads == 1  # held already: nothing loaded


def test_another_shape_other_engine_settings_or_the_option_off_do_not_reuse(tmp_path, capsys):
    cache, spec = _cache(tmp_path)
    wider = replace(spec, model_path=_checkpoint(tmp_path / "wider", hidden_size=128))
    assert not cache.serves(wider)
    assert "field 'hidden_size' is 128" in capsys.readouterr().err  # why new engines start
    same_weights_other_args = replace(spec, model_path=_checkpoint(tmp_path / "round1"),
                                      engine_kwargs=(("dtype", "bfloat16"),))
    assert not cache.serves(same_weights_other_args)
    (tmp_path / "off").mkdir()
    off, spec_off = _cache(tmp_path / "off", weights_in_place=False)
    assert off.serves(spec_off) and not off.serves(replace(spec_off, model_path=_checkpoint(tmp_path / "off" / "r1")))
    assert off.pool.loaded == [] and cache.pool.loaded == []


def test_the_plan_asks_for_training_beside_the_kept_engines(tmp_path):
    from w2s_ray.config import RunConfig
    from w2s_ray.raycluster.plan import stage_asks

    base = {"name": "t", "run_dir": str(tmp_path / "run"), "data": {"source": "world"},
            "weak": [{"name": "w", "model": "world-student-tiny"}],
            "strong": {"name": "s", "model": "world-student-tiny"}, "train": {"num_workers": 1}}
    stages = [a.stage for a in stage_asks(RunConfig.model_validate(base), "gpu")]
    assert not any("kept engines" in s for s in stages)
    kept = RunConfig.model_validate({**base, "train": {"num_workers": 1, "keep_engines": True}})
    [ask] = [a for a in stage_asks(kept, "gpu") if "kept engines" in a.stage]
    assert ask.total["GPU"] == 2.0  # one train worker's GPU and the engine's
