"""The "logconf" trainer (train/confidence_worker.py) on a tiny model, without Ray: the authors'
step_frac reaches the loss, and training moves the option the weak labels name up."""
from __future__ import annotations

from tests.conftest import long_test


@long_test
def test_the_confidence_trainer_trains_toward_the_weak_choice(tmp_path):
    import torch
    from datasets import Dataset

    from w2s_ray.models.tiny_llama import TinyLlamaShape, build_tiny_llama, save_model_dir
    from w2s_ray.models.word_tokenizer import build_world_tokenizer
    from w2s_ray.train.config import TrainConfig
    from w2s_ray.train.confidence import choice_row
    from w2s_ray.train.confidence_worker import confidence_trainer, step_fraction
    from w2s_ray.train.worker_loop import trainer_arguments

    tokenizer = build_world_tokenizer(("logic", "temporal"))
    model = build_tiny_llama(tokenizer, TinyLlamaShape(hidden=64, layers=1, heads=2, head_dim=32, init_std=0.1,
                                                       max_positions=128), seed=0)
    save_model_dir(model, tokenizer, tmp_path / "base")
    options = [tokenizer.convert_tokens_to_ids("\u0120" + w) for w in ("yes", "no", "unknown")]
    prompt = tokenizer("Question: Tom is a wug. Every wug is a dax. Is Tom a dax?\nAnswer: Verdict:")["input_ids"]
    names = [tokenizer.convert_tokens_to_ids("\u0120" + w) for w in ("Tom", "Max")]
    binary = tokenizer("Question: Tom arrived before Max. Who arrived first, Tom or Max?\nAnswer: =>")["input_ids"]
    rows = [choice_row(prompt, options, 0) for _ in range(8)] + [choice_row(binary, names, i % 2) for i in range(8)]

    def p_yes(m) -> float:
        with torch.no_grad():
            return torch.softmax(m(torch.tensor([prompt])).logits[0, -1, options], dim=-1)[0].item()

    config = TrainConfig(objective="logconf", max_steps=6, per_device_batch_size=8, lr=1e-2, logging="none",
                         cpu_threads=1, confidence={"warmup_frac": 0.5})
    common = trainer_arguments(config, "cpu", None, "none", str(tmp_path / "out"))
    trainer = confidence_trainer(config, common, str(tmp_path / "base"), Dataset.from_list(rows), tokenizer)
    before, fractions = p_yes(trainer.model), []
    compute_loss = trainer.compute_loss

    def recording(*args, **kwargs):
        fractions.append(step_fraction(trainer.state))
        return compute_loss(*args, **kwargs)

    trainer.compute_loss = recording
    trainer.train()
    assert fractions == [i / 6 for i in range(6)]  # weak_to_strong/train.py:127, step / nsteps
    assert p_yes(trainer.model) > before + 0.1
