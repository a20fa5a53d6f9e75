"""`serve.port: 0` picks a free port outside the kernel's ephemeral range, where outgoing connections
(Ray's own) could take it between the check and Serve's bind."""
from __future__ import annotations

import socket

from w2s_ray.serve.server import _ephemeral_ports, _free_port


def test_a_free_port_is_outside_the_ephemeral_range_and_binds():
    ephemeral = _ephemeral_ports()
    for _ in range(20):
        port = _free_port("127.0.0.1")
        assert port not in ephemeral and 20000 <= port <= 65535
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_taken_port_is_not_chosen(monkeypatch):
    import w2s_ray.serve.server as server

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        monkeypatch.setattr(server, "SERVE_PORTS", range(taken, taken + 1))
        monkeypatch.setattr(server, "_ephemeral_ports", lambda: range(0))
        assert _free_port("127.0.0.1") != taken  # falls back to the kernel's choice
