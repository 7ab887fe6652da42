"""What the demo, the benchmarks and the tests share to run pieces of the local loop on
127.0.0.1 (one copy, so a fix to one reaches all three)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
