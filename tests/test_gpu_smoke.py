"""The GPU smoke's parts (w2s_ray/smoke.py) as pytest tests, on a node with a CUDA device: the tiny
model on GPU, vLLM at tensor parallel 1 and 2, the engine -> trainer hand-off, a ZeRO-2 step over
NCCL, a served request. Run once, in the command's order (each part hands the next what it made);
each test holds its part to PASS, or skips with the part's reason. Skipped here: no CUDA device."""
from __future__ import annotations

import pytest
import torch

from w2s_ray import smoke

pytestmark = [pytest.mark.gpu, pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, smoke.Outcome]:
    from w2s_ray.raycluster.runtime import init_ray

    init_ray()  # the node's CPUs and GPUs (the session's 2-CPU Ray instead, where a test started it)
    state = smoke.SmokeState(tmp_path_factory.mktemp("smoke"))
    try:
        return {o.part: o for o in smoke.run_parts(smoke.PARTS, state, verbose=True)}
    finally:
        if state.engines is not None:
            state.engines.release()


@pytest.mark.parametrize("part", [name for name, _ in smoke.PARTS])
def test_part(outcomes, part):
    outcome = outcomes[part]
    if outcome.status == "SKIP":
        pytest.skip(outcome.detail)
    assert outcome.status == "PASS", outcome.line()
