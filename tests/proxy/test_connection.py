"""What connections share (`proxy/connection.py`): the write batch and the Context's
address questions (allowed clients, the proxy itself, relay loops)."""

from __future__ import annotations

import asyncio

from proxy_helpers import make_matcher

from trackguard.policy.decide import PolicyConfig
from trackguard.proxy.connection import Context, ServerLimits
from trackguard.proxy.exchange import Planner, ProxyState


def context(**kw: object) -> Context:
    options: dict[str, object] = dict(
        host="127.0.0.1",
        port=8118,
        allow_from=("127.0.0.0/8", "::1/128"),
        connect_to=None,
        pac_fallback_direct=False,
    )
    options.update(kw)
    planner = Planner(ProxyState(make_matcher(), PolicyConfig()))
    return Context(planner, ServerLimits(), **options)  # type: ignore[arg-type]


def test_only_clients_inside_allow_from_are_served() -> None:
    ctx = context(allow_from=("127.0.0.0/8", "10.1.0.0/16"))
    assert ctx.client_allowed(("127.0.0.1", 5000))
    assert ctx.client_allowed(("10.1.2.3", 5000))
    assert ctx.client_allowed(("::ffff:10.1.2.3", 5000, 0, 0))  # IPv4-mapped
    assert not ctx.client_allowed(("10.2.0.1", 5000))
    assert not ctx.client_allowed(("::1", 5000, 0, 0))  # not listed here
    assert not ctx.client_allowed("/tmp/socket")  # not TCP/IP
    assert not ctx.client_allowed(("not an address", 1))


def test_targets_naming_the_proxy_itself_are_recognised() -> None:
    ctx = context(host="proxy.lan")
    ctx.listen = [("192.0.2.7", 8118)]
    for host in ("localhost", "PROXY.lan", "127.0.0.2", "[::1]", "0.0.0.0", "192.0.2.7"):
        assert ctx.is_self(host, 8118), host
    assert not ctx.is_self("localhost", 8119)
    assert not ctx.is_self("192.0.2.8", 8118)
    assert not ctx.is_self("example.test", 8118)


def test_an_upstream_connection_to_our_own_port_is_a_loop() -> None:
    async def scenario() -> tuple[bool, bool]:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return context(port=port).is_loop(writer.transport), context(port=port + 1).is_loop(
                writer.transport
            )
        finally:
            writer.transport.abort()
            server.close()

    assert asyncio.run(scenario()) == (True, False)


def test_write_batch_sends_an_iterations_writes_together_in_order() -> None:
    import asyncio

    from trackguard.proxy.connection import WriteBatch

    class Sink:
        def __init__(self, log: list[tuple[str, bytes]], name: str) -> None:
            self.log, self.name, self.closing = log, name, False

        def write(self, data: bytes) -> None:
            self.log.append((self.name, data))

        def is_closing(self) -> bool:
            return self.closing

        def abort(self) -> None:
            self.closing = True

    class Broken(Sink):
        def write(self, data: bytes) -> None:
            raise RuntimeError("handle is closed")

    async def scenario() -> tuple[list[list[tuple[str, bytes]]], bool]:
        log: list[tuple[str, bytes]] = []
        a, b, gone = Sink(log, "a"), Sink(log, "b"), Sink(log, "gone")
        broken = Broken(log, "broken")
        batch = WriteBatch(asyncio.get_running_loop())
        writes = ((a, b"1"), (broken, b"!"), (b, b"x"), (gone, b"?"), (a, b"2"))
        for transport, data in writes:
            batch.write(transport, data)  # type: ignore[arg-type]
        gone.closing = True  # the client went away before the end of the iteration
        seen = [list(log)]  # nothing sent during the callbacks
        await asyncio.sleep(0)
        seen.append(list(log))
        batch.write(a, b"3")  # type: ignore[arg-type]
        batch.flush()  # before a hand-over: sent at once
        seen.append(list(log))
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        seen.append(list(log))
        return seen, broken.closing

    (during, after, flushed, later), broken_aborted = asyncio.run(scenario())
    assert broken_aborted
    assert during == []
    # A transport whose write fails is aborted; the others' writes still go out.
    assert after == [("a", b"1"), ("b", b"x"), ("a", b"2")]
    assert flushed == [*after, ("a", b"3")] == later
