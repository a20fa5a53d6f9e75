"""Engine weights updated in place: after loading a new checkpoint into a running vLLM engine, greedy
decoding gives the tokens a freshly started engine on that checkpoint gives, token for token; a
checkpoint of another shape or tokenizer is refused before anything is loaded; through the engine
pool, the router's engines serve the new weights, an engine Ray restarts after a crash included."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import long_test

from w2s_ray.data.world import generate_world
from w2s_ray.generate.weight_update import check_same_model_shape
from w2s_ray.text.prompts import zero_shot

ENGINE = dict(dtype="float32", max_model_len=256, enforce_eager=True, enable_chunked_prefill=False,
              max_num_batched_tokens=2048)


def greedy_tokens(llm, prompts: list[str]) -> list[list[int]]:
    from vllm import SamplingParams

    outputs = llm.generate(prompts, SamplingParams(temperature=0, max_tokens=24), use_tqdm=False)
    return [list(o.outputs[0].token_ids) for o in outputs]


@pytest.fixture()
def vllm_in_process(monkeypatch):
    vllm = pytest.importorskip("vllm")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # as generate/vllm_engine.engine_env
    return vllm


@pytest.mark.slow
def test_weights_loaded_in_place_give_a_fresh_engines_greedy_tokens(vllm_in_process, tiny_models):
    from w2s_ray.generate.weight_update import load_weights_in_place

    weak, strong = tiny_models
    prompts = [zero_shot(p.question) for p in generate_world(8, seed=2)]
    llm = vllm_in_process.LLM(model=weak, **ENGINE)
    before = greedy_tokens(llm, prompts)
    seconds = load_weights_in_place(llm, strong)
    updated = greedy_tokens(llm, prompts)
    del llm
    fresh = greedy_tokens(vllm_in_process.LLM(model=strong, **ENGINE), prompts)

    assert updated == fresh
    assert sum(a != b for a, b in zip(before, fresh)) >= 4  # the two checkpoints decode differently
    assert 0 < seconds


def _copy(model_dir, to):
    shutil.copytree(model_dir, to)
    return to


def test_another_shape_tokenizer_or_no_weights_is_refused_naming_file_and_field(tiny_models, tmp_path):
    weak, strong = tiny_models
    check_same_model_shape(weak, strong)  # the tiny pair: one shape, one tokenizer

    wider = _copy(strong, tmp_path / "wider")
    config = json.loads((wider / "config.json").read_text())
    (wider / "config.json").write_text(json.dumps({**config, "hidden_size": 128}))
    with pytest.raises(ValueError, match=r"wider/config.json field 'hidden_size' is 128, the engine's model .* has 64"):
        check_same_model_shape(weak, wider)

    retokenized = _copy(strong, tmp_path / "retokenized")
    vocab = json.loads((retokenized / "tokenizer.json").read_text())
    (retokenized / "tokenizer.json").write_text(json.dumps({**vocab, "truncation": {"max_length": 3}}))
    with pytest.raises(ValueError, match=r"retokenized/tokenizer.json differs from the engine's"):
        check_same_model_shape(weak, retokenized)

    empty = _copy(strong, tmp_path / "empty")
    (empty / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no \\*.safetensors weights"):
        check_same_model_shape(weak, empty)


@pytest.mark.slow
@long_test  # ~3 min on 2 loaded cores: make test-long
def test_the_pool_serves_new_weights_and_a_restarted_engine_reloads_them(ray_local, tiny_models, vllm_in_process):
    import ray

    from w2s_ray.config import TeacherConfig
    from w2s_ray.generate.engine_pool import EngineCache
    from w2s_ray.generate.vllm_engine import engine_spec

    weak, strong = tiny_models
    prompts = [zero_shot(p.question) for p in generate_world(6, seed=2)]
    requests = [(p, {"temperature": 0.0, "max_tokens": 24}) for p in prompts]
    teacher = TeacherConfig(name="policy", model=weak, engine="vllm", dtype="float32", max_model_len=256, batch_size=8)
    cache = EngineCache(weights_in_place=True)  # train.keep_engines: how a round's stage gets its engines
    pool, _ = cache.get(engine_spec(teacher, weak, "cpu", replicas=1), {"CPU": 1.0})
    try:
        before = [text for text, *_ in ray.get(pool.router.generate.remote(requests))]
        same, reused = cache.get(engine_spec(teacher, strong, "cpu", replicas=1), {"CPU": 1.0})
        assert same is pool and reused and (cache.starts, cache.weight_loads) == (1, 1)
        assert pool.spec.model_path == str(strong)
        updated = [text for text, *_ in ray.get(pool.router.generate.remote(requests))]
        # Killed: Ray restarts the engine on its first checkpoint; the router's next batch reloads it.
        ray.kill(pool.engines[0], no_restart=False)
        restarted = [text for text, *_ in ray.get(pool.router.generate.remote(requests))]
        from ray._private.state import actors  # the test session's Ray (the state API may find others)

        assert actors()[pool.engines[0]._actor_id.hex()]["NumRestarts"] == 1
    finally:
        pool.shutdown()
    fresh_llm = vllm_in_process.LLM(model=strong, **ENGINE)
    from vllm import SamplingParams

    fresh = [o.outputs[0].text for o in fresh_llm.generate(prompts, SamplingParams(temperature=0, max_tokens=24),
                                                           use_tqdm=False)]
    assert updated == restarted == fresh
    assert before != fresh


def test_a_resaved_tokenizer_is_the_same_tokenizer(tiny_models, tmp_path):
    """A train stage re-saves the tokenizer with where it was loaded from (transformers adds "is_local",
    "local_files_only"): the same tokenizer, so the engines keep running; a changed entry is not."""
    weak, strong = tiny_models
    resaved = _copy(strong, tmp_path / "resaved")
    config = json.loads((resaved / "tokenizer_config.json").read_text())
    (resaved / "tokenizer_config.json").write_text(json.dumps({"local_files_only": True, "is_local": True,
                                                               **dict(reversed(list(config.items())))}, indent=4))
    check_same_model_shape(weak, resaved)
    (resaved / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 7}))
    with pytest.raises(ValueError, match=r"resaved/tokenizer_config.json differs from the engine's"):
        check_same_model_shape(weak, resaved)
