"""The bodies of `w2s serve`, `w2s run --serve`, `w2s eval --endpoint` and `w2s lm-eval-task` (cli.py
only wires them)."""
from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from w2s_ray.config import RunConfig
from w2s_ray.run.manifest import Manifest
from w2s_ray.serve.server import StudentServer, check_exposure


def run_config(run_dir: str | Path) -> RunConfig:
    """The config a run was made with (from its manifest), its run_dir pointing where it lies now."""
    config = RunConfig.model_validate(Manifest.load(run_dir).config)
    return config.model_copy(update={"run_dir": str(run_dir)})


def with_serve_overrides(config: RunConfig, host: str | None, port: int | None) -> RunConfig:
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    return config.model_copy(update={"serve": config.serve.model_copy(update=updates)}) if updates else config


def _announce(server: StudentServer) -> None:
    print(f"serving {server.current.model_id} at {server.url} (model id {server.current.model_id!r}, "
          f"or {server.config.name!r} for whatever is latest); Ctrl-C to stop", flush=True)


@contextmanager
def stop_on_signals():
    """SIGTERM and SIGINT stop the server cleanly: they raise KeyboardInterrupt in the main thread,
    whose `finally` deletes the app and stops the embedded Ray, and the command exits 0.

    Installed after Ray starts, since ray.init installs its own SIGTERM handler (a stack dump, then
    an abort: exit -6), and for SIGINT even when the process inherited it ignored (a job started in
    the background of a script, where `kill -INT` would otherwise do nothing). A second signal while
    stopping is ignored, so it cannot cut the clean-up short. Main thread only.
    """
    stopping = []

    def handler(signum, frame):
        if stopping:
            return
        stopping.append(signum)
        print(f"w2s: {signal.Signals(signum).name} received; stopping", file=sys.stderr, flush=True)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _wait_forever(stop: threading.Event) -> None:
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr, flush=True)
    finally:
        stop.set()


def serve_run_dir(run_dir: str, host: str | None = None, port: int | None = None) -> int:
    """`w2s serve RUN_DIR`: serve the latest promotion and follow new ones until Ctrl-C."""
    config = with_serve_overrides(run_config(run_dir), host, port)
    try:
        check_exposure(config)
    except ValueError as err:
        print(f"w2s serve: {err}", file=sys.stderr)
        return 2
    server, stop = StudentServer(run_dir, config), threading.Event()
    try:
        with stop_on_signals():
            server.start()
        with stop_on_signals():  # again: server.start() started Ray, which replaced the handlers
            if server.current is None:
                print(f"nothing promoted in {run_dir} yet; waiting for a round to finish its eval", flush=True)
                server.wait_for_first(stop)
            _announce(server)
            watcher = threading.Thread(target=server.watch, args=(stop,), name="w2s-serve-watch", daemon=True)
            watcher.start()
            _wait_forever(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        with _ignoring_signals():
            _shutdown(server)
    print("w2s serve: stopped", file=sys.stderr, flush=True)
    return 0


@contextmanager
def serving_alongside(config: RunConfig):
    """`w2s run --serve`: a server that swaps in each round's student as the loop promotes it.

    Yields a function that, once the loop is done, keeps serving until Ctrl-C.
    """
    server, stop = StudentServer(config.run_dir, config), threading.Event()
    server.start()
    print(f"serving beside the loop on port {server.port}: the first round's student appears once "
          "its eval is done", flush=True)
    watcher = threading.Thread(target=server.watch, args=(stop,), name="w2s-serve-watch", daemon=True)
    watcher.start()

    def keep_serving() -> None:
        server.poll()  # the last round's promotion, if the watcher has not seen it yet
        if server.current is None:
            print("the loop promoted nothing (no round evaluated); not serving", flush=True)
            return
        _announce(server)
        with stop_on_signals():
            _wait_forever(stop)
        print("w2s run: stopped serving", file=sys.stderr, flush=True)

    try:
        yield keep_serving
    finally:
        stop.set()
        watcher.join(timeout=5)
        with _ignoring_signals():
            _shutdown(server)


@contextmanager
def _ignoring_signals():
    """While shutting down: a further SIGTERM/SIGINT must not leave Ray half stopped."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _shutdown(server: StudentServer) -> None:
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():  # the server stopped before Ray (a start-up check)
        return
    from ray import serve

    from w2s_ray.raycluster.runtime import cluster_address, shutdown_ray

    server.stop()  # deletes this app only
    # serve.shutdown() deletes every app: only on the embedded Ray this process owns, never on a
    # shared cluster where other apps run.
    if cluster_address(server.config.ray.address) is None:
        serve.shutdown()
    shutdown_ray()


def eval_endpoint(endpoint: str, data: str, *, data_format: str = "auto", run_dir: str | None = None,
                  model: str | None = None, api_key_env: str = "W2S_SERVE_API_KEY", max_tokens: int | None = None,
                  concurrency: int = 4, out: str | None = None) -> int:
    """`w2s eval --endpoint URL --data FILE`: accuracy by level through the endpoint."""
    from w2s_ray.data.loaders import load_problems
    from w2s_ray.eval.accuracy import format_table
    from w2s_ray.eval.endpoint import EndpointError, eval_settings, evaluate_endpoint

    problems = [p.to_row() for p in load_problems(data, data_format).problems]
    teacher, scorers = eval_settings(run_config(run_dir) if run_dir else None, max_tokens)
    try:
        result = evaluate_endpoint(endpoint, problems, teacher, scorers, model=model,
                                   api_key=os.environ.get(api_key_env) or None, concurrency=concurrency)
    except EndpointError as err:
        print(f"w2s eval: {err}", file=sys.stderr)
        return 4
    print(f"{len(problems)} problems from {data}, answered by {result.model}")
    print(format_table(result.table))
    if out:
        Path(out).write_text(json.dumps({"endpoint": endpoint, "data": data, "model": result.model,
                                         "accuracy": result.table, "rows": result.rows}, indent=2, default=str))
        print(f"written: {out}")
    return 0


def lm_eval_task(out: str, *, config: str | None = None, run_dir: str | None = None, data: str | None = None,
                 data_format: str = "auto", settings_from: str | None = None, name: str = "w2s_test",
                 max_tokens: int | None = None, endpoint: str = "http://127.0.0.1:8000/v1") -> int:
    """`w2s lm-eval-task`: an lm-eval task (eval.lm_eval_task) of a run's or config's test split, or of a
    GSM8K / w2s-format JSONL file, asked with the eval settings of the run (or config, or defaults).
    Prints the lm_eval command for the server at `endpoint`; with a run dir, its model id is the run's
    alias and its tokenizer the latest promoted snapshot. Bad data or options raise ValueError."""
    from w2s_ray.config import load_config
    from w2s_ray.data.loaders import load_problems
    from w2s_ray.data.sources import load_splits
    from w2s_ray.eval.endpoint import eval_settings
    from w2s_ray.eval.lm_eval_task import lm_eval_command, write_task
    from w2s_ray.serve.promotion import read_latest

    if settings_from and not data:
        raise ValueError("--settings-from goes with --data (--config and --run-dir give their own settings)")
    if data:
        if _data_format(data, data_format) == "math":
            raise ValueError(f"{data}: MATH-format data; the task's answer filter is GSM8K's '#### N' "
                             "(use GSM8K or w2s-format JSONL)")
        problems, where = [p.to_row() for p in load_problems(data, data_format).problems], data
        run = run_config(settings_from) if settings_from else None
    else:
        run = run_config(run_dir) if run_dir else load_config(config)
        problems, where = [p.to_row() for p in load_splits(run.data)[0]["test"]], f"the test split of {run_dir or config}"
    teacher, _ = eval_settings(run, max_tokens)
    task = write_task(out, problems, name=name, stop=teacher.stop, max_tokens=teacher.max_tokens)
    model, tokenizer = "MODEL", "CHECKPOINT_DIR"
    if run_dir:
        model = run.name  # the alias of whatever round is latest
        latest = read_latest(run_dir)
        if latest is not None:
            tokenizer = str(latest.abs_path(run_dir))
    print(f"{task.n_problems} problems ({where}): {task.data_path}")
    print(f"task {task.name!r}: {task.yaml_path} (greedy, max_gen_toks {teacher.max_tokens}, until {teacher.stop})")
    print("run it against the server (a bearer token goes in $OPENAI_API_KEY):")
    print("  " + shlex.join(lm_eval_command(task, base_url=endpoint, model=model, tokenizer=tokenizer)))
    print(f"the same problems through `w2s eval`: w2s eval --endpoint {endpoint} --data {task.data_path}"
          + (f" --run-dir {run_dir}" if run_dir else ""))
    return 0


def _data_format(path: str, data_format: str) -> str:
    """The format load_problems reads `path` in (its first record's, for "auto")."""
    from w2s_ray.data.formats import detect_format
    from w2s_ray.data.jsonl import iter_jsonl

    if data_format != "auto" or str(path).startswith("hf:"):
        return data_format
    first = next((line.value for line in iter_jsonl(path) if isinstance(line.value, dict)), None)
    return detect_format(first) if first is not None else data_format
