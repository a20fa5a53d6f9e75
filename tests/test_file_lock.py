"""file_lock: the run directory's, the model cache's and promotion's locks (filelock's flock), with a
timeout and one clear error where the file system refuses locks."""
from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from w2s_ray.run.file_lock import LockTimeoutError, LockUnavailableError, acquire, exclusive


def _held_elsewhere(path):
    """A child process that holds the lock on `path` until its stdin closes."""
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys; from w2s_ray.run.file_lock import acquire; "
        "held = acquire(sys.argv[1], timeout_s=60, what='t'); print('held', flush=True); sys.stdin.read()"), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**__import__("os").environ,
                                                                      "PYTHONPATH": ":".join(sys.path)})
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_lock_held_by_another_process_times_out_with_a_clear_error_and_is_free_once_it_dies(tmp_path):
    path = tmp_path / "x.lock"
    child = _held_elsewhere(path)
    try:
        with pytest.raises(LockTimeoutError, match="building m: .*x.lock is locked by another process"):
            with exclusive(path, timeout_s=0.2, what="building m"):
                pass
    finally:
        child.kill()
        child.wait()
    with exclusive(path, timeout_s=30, what="building m"):  # the kernel dropped the dead holder's flock
        pass


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.ENOSYS])
def test_a_file_system_that_refuses_locks_is_one_clear_error(tmp_path, monkeypatch, code):
    import filelock._unix

    def refuse(_fd):
        raise OSError(code, "refused")

    monkeypatch.setattr(filelock._unix, "lock_fd_nonblocking", refuse)
    with pytest.raises(LockUnavailableError, match="writing r: cannot lock .*the file system refuses locks"):
        acquire(tmp_path / "y.lock", timeout_s=0, what="writing r")
    assert not (tmp_path / "y.lock.soft").exists()  # no existence-lock fallback a SIGKILL would leave behind


def test_the_run_lock_names_the_holder_and_the_cli_answers_a_refusing_file_system_in_one_line(tmp_path, monkeypatch,
                                                                                             capsys):
    import filelock._unix

    from w2s_ray.run.lock import RunLockedError, lock_run_dir

    child = subprocess.Popen([sys.executable, "-c", (
        "import sys; from w2s_ray.run.lock import lock_run_dir; lock_run_dir(sys.argv[1]); "
        "print('held', flush=True); sys.stdin.read()"), str(tmp_path / "run")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**__import__("os").environ, "PYTHONPATH": ":".join(sys.path)})
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"pid {child.pid}"):
            lock_run_dir(tmp_path / "run")
    finally:
        child.kill()
        child.wait()

    def refuse(_fd):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(filelock._unix, "lock_fd_nonblocking", refuse)
    from w2s_ray.cli import main

    config = tmp_path / "run.yaml"
    config.write_text(f"run_dir: {tmp_path / 'other'}\nstrong: {{name: s, model: weak-a}}\n"
                      "weak: [{name: w, model: weak-a}]\ndata: {n_weak_train: 20, n_strong_train: 10, n_test_per_level: 2}\n")
    code = main(["run", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and "the file system refuses locks" in err and err.count("\n") == 1, err
