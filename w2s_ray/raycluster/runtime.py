"""Where Ray runs: a cluster named by config or RAY_ADDRESS, else an embedded one on loopback.

An open Ray port is remote code execution for whoever reaches it, so the embedded Ray must bind
127.0.0.1 only. Ray 2.60 rewrites 127.0.0.1 to the routable address and binds gRPC on all
interfaces unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is set before it starts (measured; see
../shared/notes/platform.md), so the variables below are set before `ray` is imported anywhere.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time

from w2s_ray.run.kernels import active_pin, pin_env

LOOPBACK = "127.0.0.1"
_LOCAL_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "GLOO_SOCKET_IFNAME": "lo",
    # vLLM, transformers and datasets must never try the hub from a worker.
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def cluster_address(configured: str | None = None) -> str | None:
    """The cluster to join: the config's address wins, then RAY_ADDRESS; None means embedded."""
    return configured or os.environ.get("RAY_ADDRESS") or None


def _job_runtime_env() -> dict:
    """The `ray job submit` runtime_env this driver runs under (Ray passes the job's config to the
    entrypoint in RAY_JOB_CONFIG_JSON_ENV_VAR); {} outside a job."""
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return {}
    return json.loads(raw).get("runtime_env") or {}


def _job_env_vars() -> dict:
    return _job_runtime_env().get("env_vars") or {}


def driver_env_vars(target: str | None) -> dict:
    """The env_vars ray.init gives every worker. Inside a job, Ray refuses a key that the job's
    runtime_env sets too ("Failed to merge the Job's runtime env"), so those are left to the job:
    what the submitter wrote wins."""
    env_vars = {k: v for k, v in _LOCAL_ENV.items() if target is None}
    # Each worker gets one torch thread: on 2 cores, 2 threads per worker made a tiny model's
    # forward ~35x slower (platform notes).
    env_vars.setdefault("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    # A pinned run's kernels (run/kernels.py) reach workers on other nodes too, not only this node's.
    env_vars.update(pin_env(active_pin()))
    job = _job_env_vars()
    return {k: v for k, v in env_vars.items() if k not in job}


PIN_CHECK_HOOK = "w2s_ray.run.kernels.check_pinned"


def driver_runtime_env(target: str | None) -> dict:
    """The runtime_env ray.init gives every worker: driver_env_vars, and under a CPU kernel pin a setup
    hook that checks the pin in each worker process as it starts (scorers, Ray Data's tasks and the
    contrast actor included, not only the actors that call check_pinned themselves). A worker that
    fails it exits before its first task; its task fails after its retries, an actor dies with
    check_pinned's message. The hook imports torch in every worker, so only a pinned run has it. A
    job whose runtime_env brings its own hook keeps it: Ray refuses to merge two."""
    runtime_env = {"env_vars": driver_env_vars(target)}
    if active_pin() != "native" and "worker_process_setup_hook" not in _job_runtime_env():
        runtime_env["worker_process_setup_hook"] = PIN_CHECK_HOOK
    return runtime_env


def _refuse_a_ray_imported_without_token_auth() -> None:
    """Ray's core library reads RAY_AUTH_MODE when `ray` is first imported. Imported before init_ray
    sets it, the driver talks without a token to a GCS that requires one, and ray.init fails after
    ~30 s of "InvalidAuthToken" retries and "Failed to start GCS". Say what happened instead."""
    ray = sys.modules.get("ray")
    if ray is not None and not ray.is_initialized() and os.environ.get("RAY_AUTH_MODE") != "token":
        raise RuntimeError(
            "ray was imported before w2s_ray.raycluster.runtime.init_ray started the embedded Ray, with RAY_AUTH_MODE "
            f"{os.environ.get('RAY_AUTH_MODE', 'unset')}: the embedded Ray requires token authentication and "
            "this driver would not send the token. Import ray (or ray.serve, ray.data, ...) after init_ray, "
            "or set RAY_AUTH_MODE=token before the first import.")


def init_ray(address: str | None = None, num_cpus: int | None = None, temp_dir: str | None = None,
             log_to_driver: bool = True):
    """Connect to a cluster, or start an embedded Ray that listens on 127.0.0.1 only.

    Returns the ray module. Calling it again in the same process is a no-op. With log_to_driver
    False, workers' output goes to Ray's log files only (ray_logs_dir()).
    """
    target = cluster_address(address)
    if target is None:
        _refuse_a_ray_imported_without_token_auth()
        for key, value in _LOCAL_ENV.items():
            os.environ.setdefault(key, value)
        # Not a preference: a value inherited from the shell must not open Ray to the network.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        # Nor let another local user submit work to it: token authentication (Ray keeps the token
        # in ~/.ray/auth_token; a client without it is refused), whatever RAY_AUTH_MODE the shell has.
        os.environ["RAY_AUTH_MODE"] = "token"
        # No metrics port either: Ray's token auth covers gRPC, the dashboard and the job API, but
        # three Prometheus exporters answer any GET on 127.0.0.1 without it, and nothing here reads
        # them. The DashboardAgent's: with this off the raylet starts it with
        # --disable-metrics-collection and it opens no port. The autoscaler monitor's (port
        # AUTOSCALER_METRIC_PORT, 44217): Ray 2.60 has no switch for it, but the monitor treats a
        # port it cannot bind as "no metrics server" (it logs the error to monitor.log and goes
        # on), so it gets one no socket accepts. The dashboard head's (DASHBOARD_METRIC_PORT, 44227,
        # started even with include_dashboard=False, for the job API): the same, it logs the bind
        # error to dashboard.log. Left on, the port answers whenever no other Ray on the machine
        # holds 44227 first: unauthenticated metrics in some runs and not in others.
        os.environ["RAY_enable_metrics_collection"] = "0"
        os.environ["AUTOSCALER_METRIC_PORT"] = "-1"
        os.environ["DASHBOARD_METRIC_PORT"] = "-1"
    import ray

    if ray.is_initialized():
        return ray
    runtime_env = driver_runtime_env(target)
    if target is not None:
        ray.init(address=target, runtime_env=runtime_env, log_to_driver=log_to_driver)
        return ray
    start = functools.partial(ray.init, num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                              _node_ip_address=LOOPBACK, _temp_dir=temp_dir, runtime_env=runtime_env,
                              log_to_driver=log_to_driver)
    start_embedded(ray, start)
    return ray


START_ATTEMPTS = 3
_SLOW_START = "timed out during startup"


def start_embedded(ray, start, attempts: int = START_ATTEMPTS, pause_s: float = 5.0) -> None:
    """`start()` (ray.init of an embedded Ray), again after a node start that timed out. Ray 2.60 gives
    its raylet a fixed 30 s to register (`raylet_start_wait_time_s` in ray/_private/node.py, no
    setting): on 2 cores at load average ~40 it misses that, although nothing is wrong but the load.
    Any other error is raised at once; the last timeout is raised with the count of attempts."""
    for attempt in range(1, attempts + 1):
        try:
            start()
            return
        except Exception as error:  # Ray raises a bare Exception for this one
            if _SLOW_START not in str(error):
                raise
            with contextlib.suppress(Exception):
                ray.shutdown()  # the processes of the failed start, before the next one
            if attempt == attempts:
                raise RuntimeError(f"the embedded Ray's node did not start in Ray's 30 s, {attempts} times "
                                   f"(machine load average {os.getloadavg()[0]:.0f}): {error}") from error
            print(f"[ray] the node timed out during startup (attempt {attempt} of {attempts}, load average "
                  f"{os.getloadavg()[0]:.0f}); starting it again", file=sys.stderr, flush=True)
            time.sleep(pause_s)


def quiet_ray_data() -> None:
    """No Ray Data progress in the console (on a non-terminal it logs a status block every few
    seconds per operator: most of a CPU demo's output); the loop prints one line per stage."""
    import logging

    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.print_on_execution_start = False
    context.execution_options.verbose_progress = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def ray_logs_dir() -> str | None:
    """This driver's Ray session log directory (workers' stdout/stderr, engines' logs), if any."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)  # no public API for the path
    try:
        return node.get_logs_dir_path() if node is not None else None
    except (AttributeError, OSError):  # a driver joined to a remote cluster may have none here
        return None


def shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


class RelativeJobPathError(ValueError):
    """A relative run path in a `ray job submit` driver, with no shared directory to put it under."""


def in_ray_job() -> bool:
    """True in the entrypoint of `ray job submit` (Ray's job supervisor sets this variable)."""
    return bool(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"))


def job_safe_path(path: str, what: str) -> str:
    """`path` as it should be used by this process. Under `ray job submit` the working directory is
    a temporary copy of working_dir that is deleted with the job, so a relative run directory would
    be lost and `--resume` from a later job could not find it: it goes under W2S_SHARED_DIR (storage
    every node and every later job sees; cluster/ sets it), or is refused naming the way out."""
    if os.path.isabs(path) or not in_ray_job():
        return path
    shared = os.environ.get("W2S_SHARED_DIR")
    if shared:
        resolved = os.path.join(shared, path)
        print(f"[w2s] {what} {path!r} is relative; under a Ray job it goes to {resolved} (W2S_SHARED_DIR)",
              flush=True)
        return resolved
    raise RelativeJobPathError(
        f"{what} {path!r} is relative, and under `ray job submit` it would land in the job's temporary "
        f"working directory and be lost with it. Give an absolute path on storage every node sees "
        f"(e.g. --run-dir /shared/runs/NAME), or set W2S_SHARED_DIR in the job's runtime_env.")
