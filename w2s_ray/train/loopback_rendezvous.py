"""Keep torch.distributed's rendezvous store on 127.0.0.1 when all train workers share one machine.

Ray Train (2.60, ray/train/torch/config.py, `_TorchBackend.on_start`) sets MASTER_ADDR to rank 0's
node IP, which Ray reports as the routable address even for a Ray started on 127.0.0.1 (measured:
192.0.2.2 here), then calls init_process_group("env://"). torch starts a TCPStore server on rank 0
that binds the wildcard address (measured: `*:PORT`); TCPStore has no bind-address option, and
TorchConfig offers no hook between choosing the address and creating the store. TCPStore does
accept `master_listen_fd`, a socket bound by the caller. So before Ray Train sets up the process
group, every worker swaps torch's store factory (`torch.distributed.rendezvous._create_c10d_store`,
private) for one that meets on 127.0.0.1: rank 0 binds the socket there and hands it over, the
other ranks connect there. Gloo's own sockets follow GLOO_SOCKET_IFNAME (raycluster/runtime.py sets `lo`).

Only when every worker is on one node: across nodes the others must reach rank 0, so torch's
defaults stay.
"""
from __future__ import annotations

import importlib
import socket

from ray.train.torch import TorchConfig
from ray.train.torch.config import _TorchBackend

from w2s_ray.raycluster.runtime import LOOPBACK


def _rendezvous_on_loopback() -> None:
    """In a train worker process: rank 0's TCPStore listens on 127.0.0.1 only, and all ranks meet there."""
    from torch.distributed import TCPStore

    # Not `import torch.distributed.rendezvous as ...`: torch.distributed's function `rendezvous`
    # shadows the submodule of the same name.
    rendezvous = importlib.import_module("torch.distributed.rendezvous")
    original = getattr(rendezvous._create_c10d_store, "_w2s_original", rendezvous._create_c10d_store)

    def create_store(hostname, port, rank, world_size, timeout, use_libuv=True):
        if rendezvous._torchelastic_use_agent_store():
            return original(hostname, port, rank, world_size, timeout, use_libuv)
        if rank != 0:
            return original(LOOPBACK, port, rank, world_size, timeout, use_libuv)
        listener = socket.create_server((LOOPBACK, port), backlog=128)
        # detach(): the store owns the descriptor from here; a GC'd socket object must not close it.
        fd = listener.detach()
        return TCPStore(
            host_name=LOOPBACK, port=port, world_size=world_size, is_master=True, timeout=timeout,
            multi_tenant=True, use_libuv=use_libuv, master_listen_fd=fd,
        )

    create_store._w2s_original = original
    rendezvous._create_c10d_store = create_store


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


class _LoopbackTorchBackend(_TorchBackend):
    def on_start(self, worker_group, backend_config):
        # Decided from where the workers are, not from how Ray was reached: a one-node cluster
        # joined by address meets on loopback too, and a multi-node group keeps torch's defaults.
        if len(set(worker_group.execute(_node_id))) == 1:
            worker_group.execute(_rendezvous_on_loopback)
        super().on_start(worker_group, backend_config)


class LoopbackTorchConfig(TorchConfig):
    """TorchConfig whose rendezvous stays on 127.0.0.1 when all workers share one node."""

    @property
    def backend_cls(self):
        return _LoopbackTorchBackend
