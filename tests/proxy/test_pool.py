"""The idle pool (`proxy/pool.py`): per-host cap, reuse of usable connections only, idle
expiry, and the stream-path check that refuses streams with bytes left unread."""

from __future__ import annotations

import asyncio

from trackguard.proxy.pool import IdlePool, stream_usable


class Conn:
    """A pooled connection as the pool sees one: usable until closed, counted on abort."""

    def __init__(self, name: str) -> None:
        self.name, self.closed, self.aborted = name, False, False


def pool(per_host: int = 2, idle: float = 30.0) -> IdlePool[Conn]:
    def abort(conn: Conn) -> None:
        conn.aborted = True

    return IdlePool(per_host, idle, lambda c: not c.closed and not c.aborted, abort)


KEY = ("http", "cdn.test", 80)


def test_get_returns_the_newest_usable_connection_and_drops_dead_ones() -> None:
    p = pool()
    old, new = Conn("old"), Conn("new")
    p.put(KEY, old, 0.0)
    p.put(KEY, new, 1.0)
    new.closed = True  # the upstream closed it while idle
    assert p.get(KEY) is old and new.aborted
    assert p.get(KEY) is None and p.get(("http", "other.test", 80)) is None


def test_per_host_cap_and_idle_expiry() -> None:
    p = pool(per_host=2, idle=10.0)
    a, b, c = Conn("a"), Conn("b"), Conn("c")
    for t, conn in enumerate((a, b, c)):
        p.put(KEY, conn, float(t))
    assert c.aborted and not a.aborted  # the third is over the cap
    p.sweep(11.5)  # a (t=0) and b (t=1) are past 10 s idle
    assert a.aborted and b.aborted and p.get(KEY) is None
    d = Conn("d")
    p.put(KEY, d, 20.0)
    p.close()
    assert d.aborted


def test_a_stream_with_unread_bytes_is_never_reused() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            writer.write(b"leftover")
            await writer.drain()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        clean = stream_usable((reader, writer))
        writer.write(b"x")
        await reader.readexactly(1)  # some bytes arrive, "eftover" stays buffered
        await asyncio.sleep(0.05)
        dirty = stream_usable((reader, writer))
        writer.transport.abort()
        await asyncio.sleep(0)
        closed = stream_usable((reader, writer))
        server.close()
        return clean, dirty, closed

    assert asyncio.run(scenario()) == (True, False, False)
