"""A scoring stage's live line: its rows go from the workers to the stage's files and never reach the
driver, so `write_dataset` counts the rows in the files the workers have finished while they write."""
from __future__ import annotations

import io
import re
import time

import pytest

from w2s_ray.run.progress import Progress
from w2s_ray.run.stage_dataset import write_dataset

pytestmark = pytest.mark.slow


def _slow(batch):
    time.sleep(1.0)  # each block finishes a second after the one before it on the same worker
    return batch


def test_the_rows_in_finished_files_are_reported_while_the_workers_write(ray_local, tmp_path):
    ds = ray_local.data.range(40, override_num_blocks=4).map_batches(_slow, batch_size=None)
    out = io.StringIO()
    progress = Progress("score s", 40, every_s=0.1, out=out)
    record = write_dataset(tmp_path / "stage", ds, order=("id",), progress=progress)
    assert record["rows"] == 40
    live = [int(m.group(1)) for m in re.finditer(r"score s: (\d+)/40 rows", out.getvalue())]
    assert live and all(0 < done < 40 for done in live), out.getvalue()  # a count while writing, none at the end
    assert live == sorted(live)
