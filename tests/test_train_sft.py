"""SFT through Ray Train + TRL on a tiny model: plain DDP, DeepSpeed ZeRO-2/3, LoRA, failures.

Each training test starts a 2-worker Ray Train run (~30-60 s on 2 cores, most of it start-up);
the first ZeRO run on a machine also compiles DeepSpeed's shm op once (~60 s, cached in
TORCH_EXTENSIONS_DIR).
"""
from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import long_test
from w2s_ray.data.world import generate_world
from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama, save_model_dir
from w2s_ray.models.weak_teacher import training_examples
from w2s_ray.models.word_tokenizer import build_world_tokenizer
from w2s_ray.train import LoraSettings, TrainConfig, TrainingFailed
from w2s_ray.train.objectives import train_objective

# hidden / heads = 32: a head size vLLM's CPU kernels accept, so the output could be served too.
SHAPE = TinyLlamaShape(hidden=64, layers=2, heads=2)
# 16 rows, 4 epochs, 2 workers x batch 4: 8 optimizer steps on the same small set.
FAST = dict(epochs=4, lr=3e-3, per_device_batch_size=4, max_length=128)
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle"}
LOOPBACK_ADDRESSES = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def listeners_of_this_process_tree() -> set[tuple[str, int, str]]:
    """(address, port, process name) of every listening socket of this process and its children.

    Same as tests/test_runtime.py's ray_listeners (tests/ is not importable as a package).
    """
    names = {}
    for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            names[proc.pid] = proc.name()
        except psutil.NoSuchProcess:
            continue
    return {
        (c.laddr.ip, c.laddr.port, names[c.pid])
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in names
    }


@pytest.fixture(scope="module")
def ray_for_training():
    from w2s_ray.raycluster.runtime import init_ray, shutdown_ray

    # Checked without importing ray: importing it before init_ray() sets the loopback variables
    # would let Ray's workers listen on every interface.
    already_running = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    ray = init_ray(num_cpus=2)
    yield ray
    if not already_running:  # a session-wide Ray belongs to whoever started it
        shutdown_ray()


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    tokenizer = build_world_tokenizer()
    model = build_tiny_llama(tokenizer, SHAPE, seed=0)
    return save_model_dir(model, tokenizer, tmp_path_factory.mktemp("base") / "model")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [{"prompt": p, "completion": c} for p, c in training_examples(generate_world(16, seed=1))]


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))


def assert_plain_model_dir(out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    names = {p.name for p in out.iterdir()}
    assert "model.safetensors" in names
    assert "adapter_config.json" not in names, "a LoRA adapter must be merged, not saved beside"
    assert {"train_config.json", "metrics.json"} <= names
    assert not [n for n in names if Path(n).suffix in PICKLE_SUFFIXES], f"pickle files in {sorted(names)}"
    assert AutoModelForCausalLM.from_pretrained(out) is not None
    assert len(AutoTokenizer.from_pretrained(out)) == len(build_world_tokenizer())


def assert_loss_went_down(metrics: dict) -> None:
    losses = [entry["loss"] for entry in metrics["loss_history"]]
    assert len(losses) == metrics["steps"] == 8
    assert losses[-1] < 0.9 * losses[0], losses


def assert_weights_moved(base: Path, out: Path) -> None:
    before, after = weights(base), weights(out)
    # DeepSpeed's gathered state dict also names the tied output head; it must equal the embedding.
    extra = set(after) - set(before)
    assert set(before) <= set(after) and extra <= {"lm_head.weight"}, extra
    if extra:
        assert torch.equal(after["lm_head.weight"], after["model.embed_tokens.weight"])
    assert any(not torch.equal(before[k], after[k]) for k in before)


class ListenerWatch(threading.Thread):
    """Samples the listening sockets of Ray's processes while training runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: set[tuple[str, int, str]] = set()
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.5):
            self.seen.update(listeners_of_this_process_tree())


@pytest.mark.slow
def test_sft_on_two_workers_learns_saves_safetensors_and_stays_on_loopback(
    ray_for_training, base_model, rows, tmp_path, capsys
):
    out = tmp_path / "round_1" / "student"
    watch = ListenerWatch()
    watch.start()
    try:
        result = train_objective(rows, base_model, out, TrainConfig(**FAST), device="cpu")
    finally:
        watch.done.set()
        watch.join()

    assert Path(result.model_dir) == out.resolve()
    assert_plain_model_dir(out)
    assert_weights_moved(base_model, out)
    metrics = result.metrics
    assert_loss_went_down(metrics)
    assert metrics["final_train_loss"] == metrics["loss_history"][-1]["loss"]
    assert metrics["samples"] == len(rows) * FAST["epochs"]
    assert metrics["tokens"] > metrics["samples"]  # non-pad tokens, several per row
    assert metrics["samples_per_second"] > 0 and metrics["tokens_per_second"] > 0
    assert metrics["wall_seconds"] >= metrics["train_seconds"] > 0
    # Timed per step inside the worker (worker_loop.step_timer), the first step apart.
    assert min(metrics[k] for k in ("first_step_seconds", "step_seconds_median", "step_seconds_mean")) > 0
    assert list(Path(result.log_dir).rglob("events.out.tfevents.*")), "no TensorBoard event file"
    # Provenance next to the weights; nothing half-written or left over beside out_dir.
    provenance = json.loads((out / "train_config.json").read_text())
    assert provenance["n_rows"] == len(rows) and provenance["config"]["lr"] == FAST["lr"]
    assert json.loads((out / "metrics.json").read_text())["steps"] == 8
    assert sorted(p.name for p in out.parent.iterdir()) == ["student", "tb"]
    # The rendezvous store and every Ray process listened on loopback only, during training too.
    exposed = [entry for entry in watch.seen if entry[0] not in LOOPBACK_ADDRESSES]
    assert watch.seen and not exposed, f"listening beyond loopback during training: {exposed}"
    # Rank 0's steps and loss reach the driver's output (run/progress.py), the last line at least.
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[progress] train")]
    assert progress and progress[-1].startswith("[progress] train round_1/student: 8/8 steps (100 %), "), progress
    assert f"loss {metrics['final_train_loss']:.4f}" in progress[-1]


@pytest.mark.slow
# ZeRO-3 (the harder: sharded parameters gathered to save) in make test, ZeRO-2 in make test-long
@pytest.mark.parametrize("stage", [pytest.param("zero2", marks=long_test), "zero3"])
def test_deepspeed_zero_on_cpu_trains_and_saves_full_weights(ray_for_training, base_model, rows, tmp_path, stage):
    out = tmp_path / stage
    result = train_objective(rows, base_model, out, TrainConfig(deepspeed=stage, logging="none", **FAST), device="cpu")

    assert_plain_model_dir(out)
    assert_weights_moved(base_model, out)  # ZeRO-3: gathered, not empty shards
    assert_loss_went_down(result.metrics)
    assert result.log_dir is None


@pytest.mark.slow
def test_lora_adapter_is_merged_into_a_plain_model(ray_for_training, base_model, rows, tmp_path):
    out = tmp_path / "lora"
    lora = LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
    ctrl_c = signal.getsignal(signal.SIGINT)
    train_objective(rows, base_model, out, TrainConfig(lora=lora, logging="none", **FAST), device="cpu")
    # Ray Train's fit() leaves its own Ctrl-C handler behind; a later Ctrl-C must reach the caller
    assert signal.getsignal(signal.SIGINT) is ctrl_c

    assert_plain_model_dir(out)
    before, after = weights(base_model), weights(out)
    assert set(after) == set(before), "merged weights keep the base model's names (no lora_ keys)"
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(("q_proj" in k or "v_proj" in k) for k in changed), changed


@pytest.mark.slow
def test_a_failure_inside_the_workers_publishes_nothing(ray_for_training, base_model, rows, tmp_path):
    out = tmp_path / "student"
    # Valid as config; PEFT raises inside each worker when no module matches.
    # max_failures=0: the same error would only repeat on a restart.
    bad = TrainConfig(lora=LoraSettings(target_modules=["no_such_module"]), logging="none", max_failures=0, **FAST)
    with pytest.raises(TrainingFailed, match="no_such_module"):
        train_objective(rows, base_model, out, bad, device="cpu")

    assert not out.exists()
    assert not list(tmp_path.glob("student.tmp-*"))


def test_an_empty_training_set_is_an_error_before_anything_starts(base_model, tmp_path):
    with pytest.raises(ValueError, match="empty training set"):
        train_objective([], base_model, tmp_path / "out", TrainConfig(), device="cpu")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "bad_row, message",
    [
        ({"prompt": "Question: x\nAnswer:"}, "string 'prompt' and 'completion'"),
        ({"prompt": "q", "completion": " "}, "empty completion"),
    ],
)
def test_malformed_rows_are_named(base_model, tmp_path, rows, bad_row, message):
    with pytest.raises(ValueError, match=message) as err:
        train_objective([*rows[:3], bad_row], base_model, tmp_path / "out", TrainConfig(), device="cpu")
    assert "row 3" in str(err.value)


def test_an_existing_output_is_never_overwritten_by_default(base_model, rows, tmp_path):
    out = tmp_path / "done"
    out.mkdir()
    with pytest.raises(FileExistsError):
        train_objective(rows, base_model, out, TrainConfig(), device="cpu")


def _completion_loss(model_dir: Path, rows: list[dict]) -> float:
    """Mean cross-entropy over completion tokens (+ EOS), as TRL's completion-only eval_loss."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    total, count = 0.0, 0
    for row in rows:
        prompt = tokenizer(row["prompt"])["input_ids"]
        full = tokenizer(row["prompt"] + row["completion"])["input_ids"] + [tokenizer.eos_token_id]
        ids = torch.tensor([full])
        with torch.no_grad():
            logits = model(ids).logits[0, :-1]
        targets = ids[0, 1:]
        losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")[len(prompt) - 1:]
        total, count = total + losses.sum().item(), count + len(losses)
    return total / count


@pytest.mark.slow
@long_test  # a Ray Train run (~60 s); tests/test_train_early_stopping.py tests the rule without Ray
def test_early_stopping_keeps_the_weights_with_the_lowest_held_out_loss(ray_for_training, base_model, rows, tmp_path):
    from w2s_ray.train.early_stopping import split_holdout

    out = tmp_path / "early"
    # 12 problems at a constant lr for 90 steps (30 epochs of 3 steps; max_steps overrides FAST's 4
    # epochs): the held-out loss falls, then rises as it memorises.
    config = TrainConfig(**FAST, max_steps=90, lr_scheduler="constant", num_workers=1, logging="none",
                         early_stopping={"holdout": 0.25, "eval_steps": 6})
    result = train_objective(rows, base_model, out, config, device="cpu")
    early = result.metrics["early_stopping"]
    train_rows, held = split_holdout(rows, 0.25, seed=0)
    assert result.metrics["steps"] == 90 and result.metrics["epochs"] == pytest.approx(30)
    assert result.metrics["samples"] == pytest.approx(30 * len(train_rows))
    assert early["holdout_rows"] == len(held) == 4 and early["train_rows"] == len(train_rows)
    history = early["history"]
    assert len(history) >= 4 and early["best_eval_loss"] == min(h["eval_loss"] for h in history)
    # The held-out loss rose again: the kept weights are the best ones, not the last.
    assert history[-1]["eval_loss"] > early["best_eval_loss"], history
    assert _completion_loss(out, held) == pytest.approx(early["best_eval_loss"], rel=0.02)
