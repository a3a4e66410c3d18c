"""The DNT-policy check (learning.md §B7.4, Privacy Badger's exemption, §A6): network I/O.

A host that posts the EFF Do Not Track policy at `https://<fqdn>/.well-known/dnt-policy.txt`
promises not to track users who send DNT, so the learner's own decisions leave that exact
host alone (user rules and lists do not). This module only fetches and compares: which
hosts are checked and when (decided trackers, `auto` mode only, re-checked after a random
1-7 days) is the service's business, and the core gets the results as plain values
(`LearnState.record_dnt`, `LearnedRules.exempt`).

What the fetch reveals is bounded (§B9 (d)): one HTTPS GET with no cookies, no Referer, no
proxy from the environment and no redirects followed, at most one per second per process,
the body read to at most `MAX_POLICY` bytes. Must not: decide anything, or run in the core.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

logger = logging.getLogger("trackguard.learn")

POLICY_PATH = "/.well-known/dnt-policy.txt"
#: The policy text is about 10 KB; anything much larger is not it.
MAX_POLICY = 64 * 1024
#: Hosts waiting for a check, per process (more are asked again on a later request).
MAX_QUEUE = 256

#: SHA-1 of the known EFF DNT policy texts, byte for byte as served. Facts taken from
#: Privacy Badger's configuration (github.com/EFForg/privacybadger, src/data/pbconfig.json,
#: key "dnt_policy_hashes", commit 0044712515bc; the same 7 values in
#: src/data/dnt-policies.json, commit 554d04fd10bf).
POLICY_HASHES: frozenset[str] = frozenset(
    {
        "41ae62ddfee360fe1e0e7dbae0f35b2dc06212eb",  # preliminary DNT policy
        "96297930e450cb795004ae5b1fcc88290a2fe982",  # discussion draft v0.1
        "76d89351d48f10c633fd1b5273587913f0851367",  # discussion draft v0.2 (Feb 2015)
        "a18e8dba6848d3fc241b03b88291cb75a3cfec3b",  # v1.0
        "5b8972a0e8df8236bb28061ddc462767d4366218",  # v1.0, no trailing space
        "c09f71363bb29d0250a1f5524eef36f9ab07669b",  # v1.0, DOS line endings
        "7861462d500fbb6ccb74c614782f4937377bec76",  # v1.0, no newline at the end
    }
)

#: fqdn -> the policy file's bytes, or None when there is none (any error, non-200, too big)
Fetch = Callable[[str], bytes | None]


def is_known_policy(body: bytes | None, hashes: Iterable[str] = POLICY_HASHES) -> bool:
    """The body is one of the known policy texts (pure)."""
    return body is not None and hashlib.sha1(body, usedforsecurity=False).hexdigest() in hashes


def fetch_policy(
    fqdn: str,
    *,
    address: str | None = None,
    port: int = 443,
    verify: ssl.SSLContext | bool = True,
    timeout: float = 10.0,
) -> bytes | None:
    """GET `https://<fqdn>/.well-known/dnt-policy.txt` as §B7.4 says; None when absent.

    `address` connects to that address instead of resolving `fqdn` (TLS and `Host` still
    name `fqdn`); tests use it for loopback servers.
    """
    import httpx  # here, not at the top: most processes never check a policy

    target = address or fqdn
    if ":" in target:
        target = f"[{target}]"
    try:
        with (
            httpx.Client(
                verify=verify, trust_env=False, follow_redirects=False, timeout=timeout
            ) as client,
            client.stream(
                "GET",
                f"https://{target}:{port}{POLICY_PATH}",
                headers={"Host": fqdn if port == 443 else f"{fqdn}:{port}", "Accept": "*/*"},
                extensions={"sni_hostname": fqdn},
            ) as response,
        ):
            if response.status_code != 200:
                return None
            body = b""
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > MAX_POLICY:
                    return None
            return body
    except (httpx.HTTPError, OSError, ssl.SSLError, ValueError):
        return None


class DntChecker:
    """Checks hosts one at a time on a background thread, at most one per `interval`.

    `request` queues a host (ignored when it is queued already or the queue is full);
    `results` hands back what finished as (fqdn, compliant). Thread-safe; the thread
    starts with the first request and stops with `close`.
    """

    def __init__(
        self,
        fetch: Fetch = fetch_policy,
        hashes: Iterable[str] = POLICY_HASHES,
        *,
        interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.fetch = fetch
        self.hashes = frozenset(hashes)
        self.interval = interval
        self.monotonic = monotonic
        self._stopping = threading.Event()
        self.sleep = sleep if sleep is not None else self._stopping.wait
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._queue: deque[str] = deque()
        self._waiting: set[str] = set()  # queued or being fetched
        self._done: deque[tuple[str, bool]] = deque()
        self._thread: threading.Thread | None = None
        self.checked = 0

    def request(self, fqdn: str) -> bool:
        with self._lock:
            if self._stopping.is_set() or fqdn in self._waiting or len(self._queue) >= MAX_QUEUE:
                return False
            self._queue.append(fqdn)
            self._waiting.add(fqdn)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="trackguard-dnt-check", daemon=True
                )
                self._thread.start()
        self._wake.set()
        return True

    def results(self) -> list[tuple[str, bool]]:
        if not self._done:  # the common case, without taking the lock
            return []
        with self._lock:
            out = list(self._done)
            self._done.clear()
        return out

    def idle(self) -> bool:
        with self._lock:
            return not self._waiting

    def close(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        last = float("-inf")
        while not self._stopping.is_set():
            with self._lock:
                fqdn = self._queue.popleft() if self._queue else None
                if fqdn is None:
                    self._wake.clear()
            if fqdn is None:
                self._wake.wait()
                continue
            gap = last + self.interval - self.monotonic()
            if gap > 0:
                self.sleep(gap)
                if self._stopping.is_set():
                    return
            last = self.monotonic()
            try:
                compliant = is_known_policy(self.fetch(fqdn), self.hashes)
            except Exception:  # a fetch must never kill the checker
                logger.exception("DNT policy check of %s failed", fqdn)
                compliant = False
            with self._lock:
                self._done.append((fqdn, compliant))
                self._waiting.discard(fqdn)
                self.checked += 1
