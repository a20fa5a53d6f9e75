"""What a Ray Train rank holds of the training rows (train/shards.py) and that it trains on exactly
that: the shard arithmetic, the validators' row numbers, the objectives' columns, the train loader
left to a rank's own rows (fast); a real 2-worker run that records what each rank fed its model
(long: Ray Train, `make test-long`)."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import long_test
from tests.test_train_sft import base_model, ray_for_training  # noqa: F401 (fixtures of the long test)
from w2s_ray.train.early_stopping import held_prompts, split_holdout
from w2s_ray.train.shards import ShardCollector, shard_indices, shard_length, split_rank_rows


@pytest.mark.parametrize("n,world", [(1, 1), (7, 1), (8, 2), (15, 2), (16, 3), (1, 3), (2, 4), (101, 8)])
def test_every_rank_holds_as_many_rows_and_together_they_cover_every_row(n, world):
    shards = [shard_indices(n, rank, world) for rank in range(world)]
    assert {len(s) for s in shards} == {shard_length(n, world)}
    counts = Counter(i for s in shards for i in s)
    assert set(counts) == set(range(n))
    # Every row once, and padding repeats at most world - 1 rows once more (DistributedSampler's rule).
    assert sum(counts.values()) - n == shard_length(n, world) * world - n < world
    assert all(len(set(s)) == len(s) for s in shards)


def test_one_rank_holds_every_row_in_order_and_two_split_them_strided():
    assert shard_indices(5, 0, 1) == [0, 1, 2, 3, 4]
    assert shard_indices(5, 0, 2) == [0, 2, 4] and shard_indices(5, 1, 2) == [1, 3, 0]  # topped up from row 0
    with pytest.raises(ValueError, match="rank 2 is not one of 2"):
        shard_indices(5, 2, 2)
    with pytest.raises(ValueError, match="at least one row"):
        shard_length(0, 2)


def test_a_rank_keeps_only_its_rows_of_the_stream():
    rows = [{"i": i} for i in range(7)]
    shard = split_rank_rows(iter(rows), 7, 1, 3).train
    assert [r["i"] for r in shard] == [1, 4, 0] and shard[0] is rows[1]
    assert split_rank_rows(iter(rows), 7, 0, 1).train == rows
    collector = ShardCollector(7, 0, 2)
    for row in rows[:5]:
        collector.offer(row)
    with pytest.raises(ValueError, match="expected 7 training rows, read 5"):
        collector.rows()


def _problem_rows(n_problems: int, per_problem: int) -> list[dict]:
    return [{"prompt": f"q{p}", "completion": f" a{p}.{k}"} for p in range(n_problems) for k in range(per_problem)]


def _split(rows, rank, world, share=None):
    held = held_prompts((r["prompt"] for r in rows), share, 0) if share else None
    n_held = sum(r["prompt"] in held for r in rows) if held else 0
    return split_rank_rows(iter(rows), len(rows), rank, world, held, n_held)


def test_with_early_stopping_one_rank_gets_split_holdouts_own_split_and_ranks_share_its_train_rows():
    rows = _problem_rows(10, 3)
    train, holdout = split_holdout(rows, 0.3, seed=0)
    one = _split(rows, 0, 1, share=0.3)
    assert one.train == train and one.holdout == holdout and one.n_train == len(train)
    two = [_split(rows, rank, 2, share=0.3) for rank in range(2)]
    assert all(part.holdout == holdout and part.n_train == len(train) for part in two)
    assert len(two[0].train) == len(two[1].train)
    assert Counter(r["completion"] for part in two for r in part.train) >= Counter(r["completion"] for r in train)
    plain = _split(rows, 1, 2)
    assert plain.holdout is None and plain.train == rows[1::2]


def test_a_stream_of_another_length_than_recorded_is_refused():
    rows = _problem_rows(3, 2)
    with pytest.raises(ValueError, match="expected 7 rows, read 6"):
        split_rank_rows(iter(rows), 7, 0, 2)
    with pytest.raises(ValueError, match="expected 5 training rows, read more"):
        split_rank_rows(iter(rows), 5, 0, 2)


def _valid_rows() -> dict[str, dict]:
    """objective -> one valid row, with a provenance column training does not read."""
    extra = {"problem_id": "p7"}
    pair = {"prompt": "Q", "chosen": " right", "rejected": " wrong", **extra}
    return {
        "sft": {"prompt": "Q", "completion": " A", **extra},
        "dpo": pair, "orpo": pair, "reward": pair,
        "process_reward": {"prompt": "Q", "steps": ["a", "b"], "labels": [1, 0], **extra},
        "process_reward_step_end": {"prompt": "Q", "steps": ["a"], "labels": [1], **extra},
        "grpo": {"prompt": "Q", "completion": " A", "advantage": 0.5, "eos": False, **extra},
        "soft_kl": {"input_ids": [1, 2], "target_ids": [3, 4], "target_probs": [0.25, 0.75], **extra},
        "soft_kl_index_minus_1": {"input_ids": [1], "target_ids": [3], "target_probs": [1.0], **extra},
        "logconf": {"input_ids": [1, 2], "choice_ids": [5, 6], "weak_probs": [1.0, 0.0], **extra},
    }


@pytest.mark.parametrize("name,row", list(_valid_rows().items()))
def test_every_objective_reads_a_stage_through_its_columns_and_names_the_global_row(name, row):
    from w2s_ray.train.objectives import get_objective

    objective = get_objective(name)
    assert objective.columns, f"{name} declares no columns: its stage rows would pass through the driver"
    narrowed = {k: v for k, v in row.items() if k in objective.columns}
    assert objective.rows([narrowed]) == objective.rows([row])
    first_field = next(f for f in objective.columns if f in row)
    bad = {k: v for k, v in narrowed.items() if k != first_field}
    with pytest.raises(ValueError, match=rf"row 4096\b.*'{first_field}'"):
        objective.rows([narrowed, bad], 4095)


def test_the_train_loader_is_left_to_the_ranks_own_rows():
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

    from w2s_ray.train.worker_loop import own_rows_only

    class Trainer:  # the one method own_rows_only wraps, as transformers builds it under 2 processes
        def get_train_dataloader(self):
            batches = BatchSamplerShard(BatchSampler(SequentialSampler(range(10)), 2, False),
                                        num_processes=2, process_index=1)
            return DataLoader(list(range(10)), batch_sampler=batches)

    trainer = Trainer()
    assert [b.tolist() for b in trainer.get_train_dataloader()] == [[2, 3], [6, 7], [0, 1]]  # every other batch
    own_rows_only(trainer)
    assert [x for b in trainer.get_train_dataloader() for x in b.tolist()] == list(range(10))


@long_test
@pytest.mark.parametrize("source", ["list", "stage"])
def test_two_ranks_take_equal_steps_and_feed_their_own_shards_which_cover_every_row(
        source, ray_for_training, base_model, tmp_path):  # noqa: F811 (fixtures)
    from tests.train_shard_probe import probe_sft_loop
    from w2s_ray.data.world import generate_world
    from w2s_ray.models.weak_teacher import training_examples
    from w2s_ray.run.stage_io import write_stage
    from w2s_ray.train import TrainConfig
    from w2s_ray.train.train_job import StageRowsInput, run_train_job

    rows = [{"prompt": p, "completion": c} for p, c in training_examples(generate_world(16, seed=1))][:15]
    config = TrainConfig(num_workers=2, epochs=2, lr=3e-3, per_device_batch_size=4, max_length=128, logging="none")
    data = rows if source == "list" else StageRowsInput(write_stage(tmp_path / "select", rows), ("prompt", "completion"))
    ranks = run_train_job(probe_sft_loop, data, base_model, config, "cpu", tmp_path / "out").metrics["ranks"]

    # 15 rows on 2 ranks: 8 each (row 0 twice), 2 batches of 4 a rank per epoch, 2 epochs.
    assert [r["steps"] for r in ranks] == [4, 4]
    assert [r["held"] for r in ranks] == [[rows[i]["prompt"] + rows[i]["completion"] for i in shard_indices(15, k, 2)]
                                          for k in range(2)]
    for r in ranks:  # each epoch a rank feeds its model exactly its own shard, in its own order
        shard = Counter(map(tuple, r["shard_ids"]))
        assert len(r["fed"]) == 2 * len(r["shard_ids"])
        assert Counter(map(tuple, r["fed"][:8])) == shard == Counter(map(tuple, r["fed"][8:]))
    assert not set(map(tuple, ranks[0]["shard_ids"])) & set(map(tuple, ranks[1]["shard_ids"][:-1]))

