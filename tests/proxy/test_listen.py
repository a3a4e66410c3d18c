"""Listening sockets and the batch acceptor (`proxy/listen.py`), on real loopback sockets."""

from __future__ import annotations

import socket


def test_a_burst_of_connections_is_accepted_in_one_go() -> None:
    """libuv accepts one connection per loop iteration; the proxy's acceptor takes the
    whole queue at once, so a browser's burst is not left waiting behind busy work."""
    import asyncio

    from trackguard.proxy.listen import Acceptor, listening_sockets

    async def scenario() -> tuple[int, int]:
        (listener,) = listening_sockets("127.0.0.1", 0)
        adopted: list[socket.socket] = []
        acceptor = Acceptor([listener], adopted.append)
        port = listener.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        try:
            acceptor._ready(listener)  # one readiness callback
            first = len(adopted)
            acceptor._ready(listener)  # nothing left: returns at once
            return first, len(adopted)
        finally:
            for s in clients + adopted:
                s.close()
            listener.close()

    assert asyncio.run(scenario()) == (40, 40)


def test_accepting_pauses_instead_of_spinning_when_out_of_descriptors() -> None:
    import asyncio
    import errno

    from trackguard.proxy.listen import Acceptor, listening_sockets

    class Exhausted:
        """A listening socket whose accept() fails as when the process hit its fd limit."""

        def __init__(self, real: socket.socket) -> None:
            self.real = real
            self.calls = 0

        def fileno(self) -> int:
            return self.real.fileno()

        def setblocking(self, flag: bool) -> None:
            self.real.setblocking(flag)

        def accept(self) -> tuple[socket.socket, object]:
            self.calls += 1
            raise OSError(errno.EMFILE, "Too many open files")

        def close(self) -> None:
            self.real.close()

    async def scenario() -> tuple[int, int]:
        (listener,) = listening_sockets("127.0.0.1", 0)
        sock = Exhausted(listener)
        acceptor = Acceptor([sock], lambda conn: None)  # type: ignore[list-item]
        acceptor.PAUSE = 0.2
        acceptor.start(asyncio.get_running_loop())
        client = socket.create_connection(("127.0.0.1", listener.getsockname()[1]))
        await asyncio.sleep(0.1)
        paused_calls = sock.calls  # one failure, then the reader is off
        await asyncio.sleep(0.25)  # resumed once, failed once more
        calls = sock.calls
        acceptor.close()
        client.close()
        return paused_calls, calls

    paused_calls, calls = asyncio.run(scenario())
    assert paused_calls == 1
    assert calls == 2
