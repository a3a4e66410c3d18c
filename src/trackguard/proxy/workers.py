"""Several proxy processes on one port (`trackguard proxy --workers N`), sharing attribution.

One Python process uses one core. With `--workers N` the parent opens N listening sockets
on the same address with `SO_REUSEPORT` (the kernel spreads new connections over them),
builds the engine once, then forks N workers; each serves its own socket with its own
event loop, decision-log writer and settings watcher. The parent only forwards
SIGINT/SIGTERM and waits; if a worker dies on its own, the others are stopped too (a
half-working proxy would silently lose protection on some connections).

The catch is first-party attribution (TPL spec §A.7, `attribution.NavigationRecord`): a
page's navigation and its subresources arrive on different connections, so on different
workers. **Decision:** every worker keeps its own record and *replicates* its changes to
its siblings (`RecordSync`): each change (a page context opened or still in use, a frame
seen) is one small datagram on a Unix socketpair per pair of workers. Changes are rare
(navigations and frames, and at most one "still in use" per site and minute), reads stay
local and lock-free, and the datagram leaves when the navigation's *response head*
arrives, before the browser can even see the page and ask for its subresources. A shared
memory table would need locks or a lock-free hash across processes for no gain here.
Loss is the only failure mode (a full socket buffer): it is counted, and a lost change
degrades exactly as a single proxy that never saw the navigation (fail open, §A.7 item 4).

No request handling here; `server.ProxyServer` does that in each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Sequence
from types import FrameType

from trackguard.policy.attribution import NavigationRecord
from trackguard.proxy.listen import open_listener

logger = logging.getLogger("trackguard.proxy")

#: Largest replicated change; origins are short, anything longer is not ours.
MAX_EVENT = 4096
#: Most workers `--workers` accepts by default (more rarely helps one machine's browser).
DEFAULT_MAX_WORKERS = 4


def default_workers() -> int:
    """Number of CPUs, capped at `DEFAULT_MAX_WORKERS`."""
    return max(1, min(os.cpu_count() or 1, DEFAULT_MAX_WORKERS))


def encode_event(event: tuple[str, ...]) -> bytes:
    return "\t".join(event).encode("utf-8", "replace")


def decode_event(data: bytes) -> tuple[str, ...] | None:
    if len(data) > MAX_EVENT:
        return None
    try:
        return tuple(data.decode("utf-8").split("\t"))
    except UnicodeDecodeError:
        return None


class RecordSync:
    """Replicates one worker's NavigationRecord changes to its siblings, and back.

    `peers` are this worker's ends of one `AF_UNIX`/`SOCK_DGRAM` socketpair per sibling.
    Sends never block the event loop (a full buffer drops the change and counts it).
    """

    def __init__(self, record: NavigationRecord, peers: Sequence[socket.socket]) -> None:
        self.record = record
        self.peers = list(peers)
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for peer in self.peers:
            peer.setblocking(False)
            self._loop.add_reader(peer.fileno(), self._read, peer)
        self.record.publish = self.publish

    def close(self) -> None:
        self.record.publish = None
        if self._loop is not None:
            for peer in self.peers:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(peer.fileno())
        for peer in self.peers:
            peer.close()

    def publish(self, event: tuple[str, ...]) -> None:
        data = encode_event(event)
        if len(data) > MAX_EVENT:
            self.dropped += 1
            return
        for peer in self.peers:
            try:
                peer.send(data)
                self.sent += 1
            except OSError:  # full (BlockingIOError) or the sibling is gone
                self.dropped += 1

    def _read(self, peer: socket.socket) -> None:
        while True:
            try:
                data = peer.recv(MAX_EVENT + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                if self._loop is not None:
                    self._loop.remove_reader(peer.fileno())
                return
            if not data:
                return
            event = decode_event(data)
            if event is not None:
                self.received += 1
                self.record.apply(event)


def listen_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on one address with SO_REUSEPORT (port 0: one free port).

    Only the first address `host` resolves to is used (unlike a single-process proxy,
    which listens on all of them).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = open_listener(family, kind, proto, address, reuse_port=True)
            sockets.append(sock)
            address = sock.getsockname()  # port 0 becomes the port the first one got
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


#: Runs one worker: (index, its listening socket, its sibling sockets) -> exit code.
Worker = Callable[[int, socket.socket, list[socket.socket]], int]


def run_workers(sockets: Sequence[socket.socket], worker: Worker) -> int:
    """Fork one worker per socket and wait for them; returns the exit code for the CLI.

    Call before any event loop or thread exists in this process (fork copies only the
    calling thread).
    """
    count = len(sockets)
    # Move everything alive (the engine above all) out of the collector's reach before
    # forking: a collection in a worker would otherwise write to every object's header
    # and turn the engine's shared copy-on-write pages into one private copy per worker.
    gc.collect()
    gc.freeze()
    pairs = {
        (i, j): socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for i in range(count)
        for j in range(i + 1, count)
    }
    supervisor = _Supervisor()  # handles SIGINT/SIGTERM from before the first fork
    for index in range(count):
        peers = [
            pairs[(min(index, j), max(index, j))][0 if index < j else 1]
            for j in range(count)
            if j != index
        ]
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                # Until the worker's event loop takes over the signals (graceful stop), a
                # stop request simply ends it.
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, _exit_now)
                _stop_with_parent()
                for other, sock in enumerate(sockets):
                    if other != index:
                        sock.close()
                for pair in pairs.values():
                    for end in pair:
                        if end not in peers:
                            end.close()
                code = worker(index, sockets[index], peers)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        supervisor.add(pid)
    for sock in sockets:
        sock.close()
    for pair in pairs.values():
        for end in pair:
            end.close()
    return supervisor.wait()


def _stop_with_parent() -> None:
    """Ask Linux to send SIGTERM to this worker if the supervisor dies (even by SIGKILL).

    Without it a killed supervisor would leave workers serving the port unsupervised.
    Elsewhere this is a no-op (the workers then stop only when told).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        raise SystemExit(0)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class _Supervisor:
    """Forwards SIGINT/SIGTERM to the workers and waits for them all."""

    def __init__(self) -> None:
        self.live: set[int] = set()
        self.stopping = False
        self.failed = False
        self._previous = {
            sig: signal.signal(sig, self.stop_all) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def add(self, pid: int) -> None:
        self.live.add(pid)
        if self.stopping:
            os.kill(pid, signal.SIGTERM)

    def stop_all(self, signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        self.stopping = True
        for pid in list(self.live):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def wait(self) -> int:
        try:
            while self.live:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                if pid not in self.live:
                    continue
                self.live.discard(pid)
                code = os.waitstatus_to_exitcode(status)
                if code != 0 or not self.stopping:
                    if not self.stopping:
                        logger.error("worker %d stopped (exit %d); stopping the others", pid, code)
                    self.failed = True
                    self.stop_all()
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
        return 1 if self.failed else 0
