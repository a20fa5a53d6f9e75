"""Serve a run's latest student and follow its promotions: what `w2s serve` and `w2s run --serve` run.

    server = StudentServer(run_dir, config)
    server.start()          # Serve on 127.0.0.1:<port>; deploys latest.json's checkpoint if any
    server.poll()           # a newer promotion? verify it, redeploy (rolling, no request dropped)
    server.watch(stop)      # poll every serve.poll_seconds until stop is set
    server.stop()           # delete the app (Serve stays up for others in this Ray)

A checkpoint is verified (config, weights present, weights sha256 as promoted) right before it is
deployed; one that fails is refused and the app keeps serving the one it has.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from pathlib import Path

from w2s_ray.config import RunConfig
from w2s_ray.raycluster import cuda_check
from w2s_ray.raycluster.devices import resolve_device
from w2s_ray.run.kernels import pin_kernels
from w2s_ray.raycluster.runtime import LOOPBACK, cluster_address, init_ray, ray_logs_dir
from w2s_ray.run.manifest import MANIFEST_FILE, ManifestError
from w2s_ray.serve.app import AppSpec, app_name, build_app
from w2s_ray.serve.promotion import Promoted, PromotionError, promote_latest, verified_latest

_LOOPBACK_HOSTS = {LOOPBACK, "localhost", "::1"}


def _log(message: str) -> None:
    print(f"[w2s serve] {message}", file=sys.stderr, flush=True)


def api_key(config: RunConfig) -> str | None:
    """The bearer token from the environment variable the config names; None when unset or empty."""
    return os.environ.get(config.serve.api_key_env) or None


def check_exposure(config: RunConfig) -> None:
    """Binding beyond loopback serves the model to the network: not without a token."""
    if config.serve.host not in _LOOPBACK_HOSTS and api_key(config) is None:
        raise ValueError(f"serve.host {config.serve.host!r} is not loopback and ${config.serve.api_key_env} "
                         "is unset: refusing to serve without a bearer token beyond this machine")


def serving_ray_cpus(config: RunConfig) -> int | None:
    """The CPUs of an embedded Ray for a server beside the loop: the loop's, plus logical CPUs for
    the model replicas (twice `serve.replicas` during a swap), so that the loop's stages are not left
    waiting on CPUs the server holds. None on a cluster (its size is its own)."""
    if cluster_address(config.ray.address) is not None:
        return config.ray.num_cpus
    extra = math.ceil(2 * config.serve.replicas * config.serve.num_cpus)
    return (config.ray.num_cpus or os.cpu_count() or 1) + extra


def init_ray_for_serving(config: RunConfig):
    """Ray for a server beside the loop, sized by serving_ray_cpus. Started before the loop's own
    init_ray (a no-op then), so it honours ray.worker_logs as the loop does: by default the replicas'
    and engines' output goes to Ray's log files, not the console."""
    pin_kernels(config.ray.cpu_kernels)  # its replicas answer with the loop's kernels
    return init_ray(config.ray.address, serving_ray_cpus(config), log_to_driver=config.ray.log_to_driver)


class StudentServer:
    def __init__(self, run_dir: str | Path, config: RunConfig):
        self.run_dir = Path(run_dir).resolve()
        self.config = config
        self.device = "cpu"
        self.name = app_name(config.name)
        self.current: Promoted | None = None
        self.port: int | None = None
        # The watcher thread and the caller both poll; one deploy at a time, or both deploy the same round.
        self._deploying = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.config.serve.host}:{self.port}/v1"

    def start(self) -> None:
        """Start Serve (HTTP on serve.host:serve.port) and deploy the latest promotion, if there is one."""
        check_exposure(self.config)
        # The same start-up GPU check as a run's (run/context.py open_run): a GPU server without a
        # usable GPU stops here in one line, not in a replica that Serve restarts forever.
        embedded = cluster_address(self.config.ray.address) is None
        if self.config.ray.device == "gpu" and embedded:
            cuda_check.check_this_machine()
        ray = init_ray_for_serving(self.config)
        from ray import serve  # after init_ray: importing ray first fixes the driver's auth mode (raycluster/runtime.py)

        logs = ray_logs_dir()
        if not self.config.ray.log_to_driver and logs:  # on a cluster, its own log directories
            _log(f"replica and engine logs: {logs}")

        self.device = resolve_device(self.config.ray.device)
        if self.device == "gpu":
            cuda_check.check_cluster(ray, embedded)
        self.port = self.config.serve.port or _free_port(self.config.serve.host)
        serve.start(http_options={"host": self.config.serve.host, "port": self.port})
        if (self.run_dir / MANIFEST_FILE).exists():  # `w2s run --serve` starts before the manifest
            try:
                promote_latest(self.run_dir)  # a loop that died between its eval and its promotion
            except (PromotionError, ManifestError) as err:
                _log(f"could not promote the newest evaluated round: {err}")
        self.poll()

    def poll(self) -> bool:
        """Deploy the promoted checkpoint if it differs from the one served; True if it swapped."""
        with self._deploying:
            return self._poll()

    def _poll(self) -> bool:
        try:
            latest = verified_latest(self.run_dir)
        except PromotionError as err:
            _log(f"not swapping: {err}")
            return False
        if latest is None or (self.current is not None and latest.model_id == self.current.model_id
                              and latest.sha256 == self.current.sha256):
            return False
        self.deploy(latest)
        return True

    def deploy(self, latest: Promoted) -> None:
        from ray import serve

        spec = AppSpec(
            model_id=latest.model_id, model_dir=str(latest.abs_path(self.run_dir)), run_name=self.config.name,
            teacher=self.config.strong, serve=self.config.serve, device=self.device, api_key=api_key(self.config),
            replaces=self.current.model_id if self.current else None,
            embedded=cluster_address(self.config.ray.address) is None)
        verb = "swapping to" if self.current else "serving"
        _log(f"{verb} {latest.model_id} ({latest.path})")
        start = time.perf_counter()
        serve.run(build_app(spec), name=self.name, route_prefix="/")
        self.current = latest
        _log(f"{latest.model_id} is live at {self.url} after {time.perf_counter() - start:.1f} s")

    def watch(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.serve.poll_seconds):
            try:
                self.poll()
            except Exception as err:  # noqa: BLE001 - a failed swap must not end serving what works
                _log(f"swap failed, still serving {self.current.model_id if self.current else 'nothing'}: "
                     f"{type(err).__name__}: {err}")

    def wait_for_first(self, stop: threading.Event) -> bool:
        """Block until something is served (or stop is set); True once an app is live."""
        while self.current is None and not stop.is_set():
            self.poll()
            if self.current is None:
                stop.wait(self.config.serve.poll_seconds)
        return self.current is not None

    def stop(self) -> None:
        from ray import serve

        try:
            serve.delete(self.name)
        except Exception as err:  # noqa: BLE001 - shutting down: say so, do not mask the real exit
            _log(f"could not delete app {self.name}: {err}")


# Where `serve.port: 0` looks for a free port: above Ray's worker ports (10002-19999) and outside the
# kernel's ephemeral range, from which every outgoing connection takes its port. A port from bind(0)
# lies in that range, and one was taken by a connection between the check and Serve's own bind
# (the full suite: "Failed to bind to address '127.0.0.1:42095'", Address already in use).
SERVE_PORTS = range(20000, 65536)


def _ephemeral_ports() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default
    return range(low, high + 1)


def _free_port(host: str) -> int:
    import random
    import socket

    ephemeral = _ephemeral_ports()
    candidates = [p for p in SERVE_PORTS if p not in ephemeral]
    for port in random.sample(candidates, min(64, len(candidates))):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # no such port free: the kernel's choice
        s.bind((host, 0))
        return s.getsockname()[1]
