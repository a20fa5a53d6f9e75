"""Keep Serve replicas' internal gRPC server on 127.0.0.1 in an embedded, single-machine Ray.

Ray Serve 2.60 starts an inter-deployment gRPC server in every replica on a hard-coded "[::]:0"
(ray/serve/_private/replica.py, `_on_initialized`), i.e. on every interface, even when Ray itself
was told to stay on loopback (measured: ../shared/notes/platform.md, "Listening sockets").

The deployments of the app call this from their constructors, which Serve runs before
`_on_initialized` starts that server; it rewrites the wildcard bind to 127.0.0.1 in that replica's
process. (A runtime_env `worker_process_setup_hook` would be the natural place, but Ray 2.60 honours
it only in the job's runtime_env, not per actor: measured, the hook never ran in the replicas.) On a
real multi-node cluster the replicas must stay reachable from other nodes, so the app asks for this
only on an embedded Ray.
"""
from __future__ import annotations

_WILDCARD = "[::]:"


def bind_replica_grpc_on_loopback() -> None:
    try:
        from ray.serve._private import replica
    except ImportError:  # a worker without Serve: nothing to patch
        return
    original = replica.add_port_to_grpc_server
    if getattr(original, "_w2s_loopback", False):
        return

    def add_port_on_loopback(server, address: str):
        if address.startswith(_WILDCARD):
            address = "127.0.0.1:" + address[len(_WILDCARD):]
        return original(server, address)

    add_port_on_loopback._w2s_loopback = True
    replica.add_port_to_grpc_server = add_port_on_loopback
