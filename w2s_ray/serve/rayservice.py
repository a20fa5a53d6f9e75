"""The Serve application builder for KubeRay's RayService (cluster/rayservice.yaml):

    serveConfigV2: applications: [{import_path: "w2s_ray.serve.rayservice:app", args: {run_dir: ...}}]

It serves the run's latest promoted student, as `w2s serve RUN_DIR` does, but once: a RayService
redeploys when its serveConfigV2 changes, so a newer promotion goes live when the manifest is
re-applied (or use `w2s serve` on the cluster, which follows promotions itself). `replicas` in the
args sets the model replicas (the run config's `serve.replicas` otherwise); a swap holds twice as
many. On Kubernetes the app is reached through the RayService's Service, so it is refused without a
bearer token.
"""
from __future__ import annotations

from w2s_ray.serve.app import AppSpec, build_app


class RayServiceConfigError(ValueError):
    """A RayService application that cannot be built; says what to change in its args or env."""


def app_spec(args: dict) -> AppSpec:
    from w2s_ray.serve.commands import run_config
    from w2s_ray.serve.promotion import verified_latest
    from w2s_ray.serve.server import api_key

    run_dir = args.get("run_dir")
    if not run_dir:
        raise RayServiceConfigError("serveConfigV2 args need run_dir: the run (on the shared volume) to serve")
    config = run_config(run_dir)
    if "replicas" in args:  # the manifest's own count; the run config's serve.replicas otherwise
        replicas = args["replicas"]
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise RayServiceConfigError(f"serveConfigV2 args: replicas must be a whole number >= 1, got {replicas!r}")
        config = config.model_copy(update={"serve": config.serve.model_copy(update={"replicas": replicas})})
    latest = verified_latest(run_dir)
    if latest is None:
        raise RayServiceConfigError(f"{run_dir} has no promoted student yet: serve it after its first round")
    token = api_key(config)
    if token is None:
        raise RayServiceConfigError(f"no bearer token in ${config.serve.api_key_env}: a RayService is reached "
                                    f"through a Kubernetes Service, so set it from a Secret")
    return AppSpec(model_id=latest.model_id, model_dir=str(latest.abs_path(run_dir)), run_name=config.name,
                   teacher=config.strong, serve=config.serve, device=args.get("device", "gpu"), api_key=token,
                   embedded=False)


def app(args: dict):
    return build_app(app_spec(args))
