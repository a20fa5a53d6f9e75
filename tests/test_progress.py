"""Progress lines on the driver's output: at most every `every_s`, at each tenth done, and at the end,
with the counts, rates and ETA of what the stage reported (a fake clock drives the module); and a real
tiny generation stage prints its final line."""
from __future__ import annotations

import io

import pytest

from tests.conftest import long_test
from w2s_ray.run import progress as progress_module
from w2s_ray.run.progress import Poller, Progress, ProgressBoard, duration


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _progress(total=100, every_s=30.0, unit="rows"):
    clock, out = Clock(), io.StringIO()
    return Progress("generate weak", total, unit=unit, every_s=every_s, clock=clock, out=out), clock, out


def _at(progress, clock, t, done, **extra):
    clock.now = 1000.0 + t
    return progress.update(done, **extra)


def test_lines_come_every_interval_and_at_each_tenth_and_at_the_end():
    progress, clock, out = _progress()
    assert _at(progress, clock, 1, 1) is None and _at(progress, clock, 5, 9) is None  # neither is due
    assert _at(progress, clock, 6, 10, tokens=600) == (
        "[progress] generate weak: 10/100 rows (10 %), 1.67 rows/s, 100 tokens/s, ETA 54s")
    assert _at(progress, clock, 7, 15) is None  # the same tenth, 1 s later
    assert _at(progress, clock, 35.9, 18) is None  # 29.9 s after the last line
    assert _at(progress, clock, 36, 18) == ("[progress] generate weak: 18/100 rows (18 %), 0.50 rows/s, "
                                            "17 tokens/s, ETA 2m44s")
    assert _at(progress, clock, 38, 35) is not None  # two tenths at once: one line
    assert _at(progress, clock, 39, 39) is None
    assert _at(progress, clock, 90, 100) is None  # all done: finish() says so
    clock.now = 1100.0
    final = progress.finish(100)
    assert final.startswith("[progress] generate weak: 100/100 rows (100 %), ") and final.endswith("took 1m40s")
    assert _at(progress, clock, 200, 100) is None  # nothing after the end
    assert out.getvalue().count("\n") == 4


def test_training_lines_have_steps_per_second_and_the_loss():
    progress, clock, out = _progress(total=0, unit="steps")
    _at(progress, clock, 0, 0, total=40)
    line = _at(progress, clock, 10, 8, total=40, loss=0.53125)
    assert line == "[progress] generate weak: 8/40 steps (20 %), 0.80 steps/s, loss 0.5312, ETA 40s"


def test_the_interval_is_the_run_setting(monkeypatch):
    monkeypatch.setattr(progress_module, "_default_every_s", progress_module.PROGRESS_EVERY_S)
    progress_module.set_interval(0.5)
    assert Progress("x", 10).every_s == 0.5
    assert Progress("x", 10, every_s=7).every_s == 7
    assert [duration(s) for s in (4.4, 75, 3 * 3600 + 125)] == ["4s", "1m15s", "3h02m"]


def test_a_poller_reads_a_board_until_its_block_ends():
    board, clock, out = ProgressBoard(), Clock(), io.StringIO()
    progress = Progress("train r1", 0, unit="steps", every_s=0, clock=clock, out=out)

    def poll():
        state = board.get()
        clock.now += 1
        if state.get("step"):
            progress.update(state["step"], total=state["total"], loss=state.get("loss"))

    with Poller(poll, 0.01):
        board.put(step=3, total=6)
        board.put(loss=1.5)
        while "3/6 steps" not in out.getvalue():
            pass
    assert "loss 1.5000" in out.getvalue()


@pytest.mark.slow
@long_test  # an engine start (~70 s loaded); test_loop's tiny run checks the generate, score and train lines
def test_a_tiny_generation_stage_prints_its_final_progress_line(ray_local, tiny_models, capsys):
    from w2s_ray.config import TeacherConfig
    from w2s_ray.data.world import generate_world
    from w2s_ray.generate.stage import generate

    problems = [p.to_row() for p in generate_world(4, seed=3, levels=(1,))]
    teacher = TeacherConfig(name="tiny", model=tiny_models[0], engine="hf", n=2, max_tokens=8, dtype="float32")
    ds, stats = generate(problems, teacher, tiny_models[0], "cpu")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[progress]")]
    assert lines and lines[-1].startswith("[progress] generate tiny: 8/8 rows (100 %), ")
    assert "tokens/s" in lines[-1] and stats.generated_tokens > 0 and ds.count() == 8
