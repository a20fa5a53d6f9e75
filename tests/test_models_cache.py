"""The model cache: one build per recipe, atomic publication, no half-built directories."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from w2s_ray.models.cache import RECIPE_FILE, cached_model, default_cache_dir


class CountingBuilder:
    def __init__(self, fail: bool = False, delay: float = 0.0):
        self.calls, self.fail, self.delay = 0, fail, delay

    def __call__(self, out: Path) -> None:
        self.calls += 1
        (out / "weights.txt").write_text("partial")
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("builder crashed")
        (out / "done.txt").write_text("ok")


def test_same_recipe_gives_the_same_directory_without_rebuilding(tmp_path):
    build = CountingBuilder()
    first = cached_model("toy", {"size": 1, "name": "a"}, build, tmp_path)
    second = cached_model("toy", {"name": "a", "size": 1}, build, tmp_path)
    assert first == second and build.calls == 1
    assert (first / "done.txt").read_text() == "ok"
    written = json.loads((first / RECIPE_FILE).read_text())
    assert written["kind"] == "toy" and written["recipe"] == {"size": 1, "name": "a"}


def test_a_different_recipe_kind_or_code_version_gives_a_different_directory(tmp_path):
    build = CountingBuilder()
    dirs = {
        cached_model("toy", {"size": 1}, build, tmp_path),
        cached_model("toy", {"size": 2}, build, tmp_path),
        cached_model("other", {"size": 1}, build, tmp_path),
        cached_model("toy", {"size": 1}, build, tmp_path, code_version="next"),
    }
    assert len(dirs) == 4 and build.calls == 4


def test_a_crash_inside_build_leaves_nothing_and_the_next_call_rebuilds(tmp_path):
    with pytest.raises(RuntimeError, match="crashed"):
        cached_model("toy", {"size": 1}, CountingBuilder(fail=True), tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]
    build = CountingBuilder()
    out = cached_model("toy", {"size": 1}, build, tmp_path)
    assert build.calls == 1 and (out / "done.txt").is_file()


def test_a_killed_builds_leftovers_are_removed_by_the_next_build(tmp_path):
    build = CountingBuilder()
    target = cached_model("toy", {"size": 1}, build, tmp_path)
    target.rename(tmp_path / f".{target.name}.tmp-killed")  # as a build killed before its rename
    assert cached_model("toy", {"size": 1}, build, tmp_path) == target and build.calls == 2
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [target.name]


def test_concurrent_callers_build_once_and_all_get_the_finished_directory(tmp_path):
    build = CountingBuilder(delay=0.3)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(cached_model("toy", {"n": 1}, build, tmp_path)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert build.calls == 1
    assert len(set(results)) == 1 and all((r / "done.txt").is_file() for r in results)


def test_default_cache_dir_follows_w2s_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("W2S_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    out = cached_model("toy", {"size": 1}, CountingBuilder())
    assert out.parent == tmp_path
    monkeypatch.delenv("W2S_CACHE")
    # From this checkout, whatever the working directory: where the Makefile's W2S_CACHE points.
    monkeypatch.chdir(tmp_path)
    assert default_cache_dir() == Path(__file__).resolve().parents[1] / ".cache" / "w2s"


def test_make_and_a_bare_cli_share_one_cache_and_one_extensions_dir(monkeypatch):
    import subprocess

    root = Path(__file__).resolve().parents[1]
    printed = subprocess.run(["make", "-s", "-C", str(root), "--no-print-directory", "-f", "-", "show"],
                             input="include Makefile\nshow:\n\t@echo $$W2S_CACHE $$TORCH_EXTENSIONS_DIR\n",
                             capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, check=True)
    make_cache, make_ext = printed.stdout.split()
    monkeypatch.delenv("W2S_CACHE", raising=False)
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    from w2s_ray.train.worker_runtime import default_torch_extensions_dir

    assert (Path(make_cache), Path(make_ext)) == (default_cache_dir(), Path(default_torch_extensions_dir()))
