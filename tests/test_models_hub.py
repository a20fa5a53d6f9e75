"""Hub ids (`org/name`) resolve through the Hugging Face cache to the same directory for every stage
(generate, train, serve); an id that is nowhere gives an error naming it. Offline, on a tiny model
saved in the hub cache's own layout (models--org--name/snapshots/<commit>/, refs/main)."""
from __future__ import annotations

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.tiny_run import write_config
from w2s_ray.cli import main
from w2s_ray.config import load_config
from w2s_ray.models.hub import ModelNotFoundError
from w2s_ray.models.load import resolve_model
from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama, save_model_dir
from w2s_ray.models.word_tokenizer import build_world_tokenizer
from w2s_ray.run.context import resolve_models

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_home(tmp_path, monkeypatch):
    """HF_HOME with `tiny-org/tiny-llama` cached as `huggingface_hub` itself lays out a download."""
    home = tmp_path / "hf"
    repo = home / "hub" / "models--tiny-org--tiny-llama"
    tokenizer = build_world_tokenizer()
    save_model_dir(build_tiny_llama(tokenizer, TinyLlamaShape(hidden=32, layers=1, heads=1), seed=0),
                   tokenizer, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def test_a_hub_id_resolves_to_its_cached_snapshot_which_loads(hub_home):
    path = resolve_model("tiny-org/tiny-llama")
    assert path == hub_home / "hub" / "models--tiny-org--tiny-llama" / "snapshots" / COMMIT
    # What a train worker and the serve app do with it: a directory transformers loads offline.
    AutoModelForCausalLM.from_pretrained(path)
    AutoTokenizer.from_pretrained(path)


def test_every_stage_of_a_run_gets_the_same_directory_for_an_id(hub_home, tmp_path):
    cfg = write_config(tmp_path / "run.yaml", tmp_path / "run", ("tiny-org/tiny-llama", "tiny-org/tiny-llama"),
                       rounds=0, baselines=[])
    models = resolve_models(load_config(cfg))
    assert models == {"tiny-org/tiny-llama": str(resolve_model("tiny-org/tiny-llama"))}


def test_an_unknown_id_is_named_in_the_error(hub_home):
    with pytest.raises(ModelNotFoundError, match=r"'no-org/no-model'.*HF_HUB_OFFLINE=1.*no snapshot"):
        resolve_model("no-org/no-model")
    with pytest.raises(ModelNotFoundError, match=r"'not a valid id'"):
        resolve_model("not a valid id")


def test_w2s_run_with_an_unknown_id_exits_2_naming_it_before_ray_starts(hub_home, tmp_path, capsys):
    cfg = write_config(tmp_path / "run.yaml", tmp_path / "run", ("tiny-org/tiny-llama", "no-org/no-model"),
                       rounds=0, baselines=[])
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "'no-org/no-model'" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing started: no run directory, no Ray
