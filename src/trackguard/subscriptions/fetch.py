"""Getting the bytes of a list: over HTTP(S) with httpx, or from a local file.

This is the only module of trackguard that opens network connections. Everything that
can go wrong on the way (status codes, redirects, timeouts, slow or endless bodies,
truncation, compression bombs) ends here as a `FetchError` with a stable code and a
message a person can act on; deciding what to do with the bytes is `update.py`'s job.

The network side is injected through the `Fetcher` protocol, so tests and other callers
can substitute their own (the test suite uses a real server on 127.0.0.1).
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from trackguard import __version__
from trackguard.model import TrackguardError
from trackguard.settings import Settings

if TYPE_CHECKING:
    import httpx

#: Called with (bytes received so far, expected total or None) while downloading.
ProgressCallback = Callable[[int, int | None], None]

MAX_REDIRECTS = 5  # TPL spec §A.9
MAX_LIST_BYTES = 16 * 1024 * 1024  # TPL spec §A.10, after decompression


class FetchError(TrackguardError):
    """A download failed; the last good copy stays. `transient` errors are worth a retry."""

    def __init__(
        self, code: str, message: str, *, transient: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """Network limits for list downloads, with documented defaults.

    Read from `settings.extra["fetch"]` and overridden by `TRACKGUARD_FETCH_*` environment
    variables (handy for tests and for slow links), always at the edge.
    """

    #: Seconds to wait for a connection or for the next bytes of an answer.
    timeout: float = 30.0
    #: Seconds one whole download may take, so a slow-drip server cannot stall updates.
    deadline: float = 300.0
    #: Largest list accepted, after decompression (TPL spec §A.10).
    max_bytes: int = MAX_LIST_BYTES
    #: Extra attempts after a transient failure (connection error, 5xx, 429).
    retries: int = 2
    #: Seconds before the first retry; doubles for each further one.
    retry_delay: float = 1.0

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, environ: Mapping[str, str] | None = None
    ) -> FetchConfig:
        """Defaults, then `settings.extra["fetch"]`, then the environment; bad values ignored."""
        values: dict[str, float | int] = {}
        extra = settings.extra.get("fetch") if settings is not None else None
        sources: list[Mapping[str, object]] = [extra] if isinstance(extra, Mapping) else []
        env = os.environ if environ is None else environ
        sources.append(
            {
                name: env[f"TRACKGUARD_FETCH_{name.upper()}"]
                for name in ("timeout", "deadline", "max_bytes", "retries", "retry_delay")
                if f"TRACKGUARD_FETCH_{name.upper()}" in env
            }
        )
        for source in sources:
            for name, raw in source.items():
                number = _number(raw)
                if number is None or number < 0:
                    continue
                if name in ("max_bytes", "retries"):
                    values[name] = int(number)
                elif name in ("timeout", "deadline", "retry_delay"):
                    values[name] = float(number)
        return cls(**values)  # type: ignore[arg-type]


def _number(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class Fetched:
    """The answer to one fetch. `body` is None when the publisher said "not modified"."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.body is None


class Fetcher(Protocol):
    """Downloads one list over the network (conditional on the validators given)."""

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> Fetched: ...


# --- HTTP -------------------------------------------------------------------------------


class _BoundedDecoder:
    """Content-Encoding decoding that never produces more than `limit` bytes.

    httpx decodes gzip in unbounded steps, so a 10 MB gzip bomb could allocate gigabytes
    before any size check; here every step is capped.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        self._raw_deflate = False
        if encoding in ("gzip", "x-gzip"):
            self._zlib: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
            self._raw_deflate = True  # some servers send raw deflate; detected on first chunk
        elif encoding in ("", "identity"):
            self._zlib = None
        else:
            raise FetchError(
                "fetch.bad-encoding",
                f"the server used Content-Encoding {encoding!r}, which trackguard does not "
                "accept (it only asks for gzip or deflate)",
            )
        self._started = False

    def feed(self, chunk: bytes) -> None:
        if self._zlib is None:
            self._append(chunk)
            return
        # zlib-wrapped deflate starts with a CMF byte whose low nibble is 8.
        if self._raw_deflate and not self._started and chunk and chunk[0] & 0x0F != 8:
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self._started = True
        data = chunk
        try:
            while data:
                out = self._zlib.decompress(data, self.limit - self.size + 1)
                self._append(out)
                data = self._zlib.unconsumed_tail
                if self._zlib.eof and self._zlib.unused_data:
                    # Another gzip member follows (concatenated .gz files are valid gzip).
                    data = self._zlib.unused_data + data
                    self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        except zlib.error as exc:
            raise FetchError(
                "fetch.bad-compression", f"the compressed body is corrupt: {exc}"
            ) from None

    def finish(self) -> bytes:
        if self._zlib is not None and not self._zlib.eof:
            raise FetchError(
                "fetch.truncated",
                "the download ended in the middle of the compressed data (truncated)",
                transient=True,
            )
        return b"".join(self.parts)

    def _append(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _too_large(self.limit)
        self.parts.append(data)


def _too_large(limit: int) -> FetchError:
    return FetchError(
        "fetch.too-large",
        f"the list is larger than {limit // (1024 * 1024)} MiB (limit, TPL spec §A.10); "
        "not downloaded",
    )


def gunzip_if_needed(body: bytes, limit: int) -> bytes:
    """Unpack a body that is itself a .gz file (served without Content-Encoding)."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    decoder = _BoundedDecoder("gzip", limit)
    decoder.feed(body)
    return decoder.finish()


class HttpFetcher:
    """The real network: httpx with timeouts, a total deadline, size caps and retries."""

    def __init__(
        self,
        config: FetchConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or FetchConfig()
        self._sleep = sleep
        self._clock = clock

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> Fetched:
        attempt = 0
        while True:
            try:
                return self._fetch_once(url, etag, last_modified, progress)
            except FetchError as exc:
                if not exc.transient or attempt >= self.config.retries:
                    raise
                delay = self.config.retry_delay * (2**attempt)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, 60.0))
                self._sleep(delay)
                attempt += 1

    def _fetch_once(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        progress: ProgressCallback | None,
    ) -> Fetched:
        import httpx  # here, not at the top: every CLI command would pay for it otherwise

        config = self.config
        headers = {
            "User-Agent": f"trackguard/{__version__} (list updater)",
            "Accept": "text/plain, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        started = self._clock()
        try:
            with (
                httpx.Client(
                    follow_redirects=True,
                    max_redirects=MAX_REDIRECTS,
                    timeout=httpx.Timeout(config.timeout),
                ) as client,
                client.stream("GET", url, headers=headers) as response,
            ):
                _check_redirects(url, response)
                if response.status_code == 304:
                    return Fetched(
                        None,
                        etag=response.headers.get("etag", etag),
                        last_modified=response.headers.get("last-modified", last_modified),
                        final_url=str(response.url),
                    )
                _check_status(response)
                body = self._read_body(response, started, progress)
                return Fetched(
                    body,
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                    final_url=str(response.url),
                )
        except httpx.TooManyRedirects:
            raise FetchError(
                "fetch.redirects",
                f"more than {MAX_REDIRECTS} redirects (a redirect loop?); the list address "
                "may have moved: check it in a browser",
            ) from None
        except httpx.TimeoutException:
            raise FetchError(
                "fetch.timeout",
                f"the server did not answer within {config.timeout:g} s",
            ) from None
        except httpx.ConnectError as exc:
            raise FetchError(
                "fetch.connect",
                f"could not connect to {urlsplit(url).hostname} ({_reason(exc)}); "
                "is the network up?",
                transient=True,
            ) from None
        except httpx.RemoteProtocolError as exc:
            raise FetchError(
                "fetch.truncated",
                f"the server broke off the download: {_reason(exc)}",
                transient=True,
            ) from None
        except httpx.UnsupportedProtocol as exc:
            raise FetchError("fetch.bad-url", f"cannot download {url}: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            raise FetchError(
                "fetch.network", f"network error: {_reason(exc)}", transient=True
            ) from None

    def _read_body(
        self, response: httpx.Response, started: float, progress: ProgressCallback | None
    ) -> bytes:
        config = self.config
        declared = response.headers.get("content-length")
        total = int(declared) if declared and declared.isdigit() else None
        encoding = response.headers.get("content-encoding", "").strip().lower()
        # The cap applies after decompression, but an identity body declaring more than
        # the cap is refused before a single byte of it is read.
        if total is not None and total > config.max_bytes and encoding in ("", "identity"):
            raise _too_large(config.max_bytes)
        decoder = _BoundedDecoder(encoding, config.max_bytes)
        received = 0
        for chunk in response.iter_raw():  # as it arrives, so the deadline is checked often
            received += len(chunk)
            if received > config.max_bytes:
                raise _too_large(config.max_bytes)
            decoder.feed(chunk)
            if progress is not None:
                progress(received, total)
            if self._clock() - started > config.deadline:
                raise FetchError(
                    "fetch.too-slow",
                    f"the download took longer than {config.deadline:g} s "
                    f"({received} bytes received); the server is too slow",
                )
        return gunzip_if_needed(decoder.finish(), config.max_bytes)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _check_redirects(url: str, response: httpx.Response) -> None:
    """Refuse an HTTPS subscription that was redirected to plain HTTP."""
    if urlsplit(url).scheme.lower() == "https" and response.url.scheme == "http":
        raise FetchError(
            "fetch.insecure-redirect",
            f"the HTTPS address redirected to plain HTTP ({response.url}); refused, "
            "since anyone on the path could change the list",
        )


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    phrase = response.reason_phrase or ""
    text = f"HTTP {status} {phrase}".strip()
    if status == 429 or status >= 500:
        retry_after = response.headers.get("retry-after", "")
        raise FetchError(
            f"fetch.http-{status}",
            f"the server answered {text}; will retry later",
            transient=True,
            retry_after=float(retry_after) if retry_after.isdigit() else None,
        )
    hint = " (the list is gone or its address changed)" if status in (404, 410) else ""
    raise FetchError(f"fetch.http-{status}", f"the server answered {text}{hint}")


# --- Local files ------------------------------------------------------------------------


def path_of_file_url(url: str) -> Path:
    """`file:///home/me/list.tpl` -> Path; the subscription's stored form of a local list."""
    from urllib.request import url2pathname

    return Path(url2pathname(urlsplit(url).path))


def fetch_file(path: Path, *, etag: str | None = None, max_bytes: int = MAX_LIST_BYTES) -> Fetched:
    """Read a local list; "not modified" when its size and modification time are unchanged."""
    try:
        info = path.stat()
        stamp = f"{info.st_mtime_ns}-{info.st_size}"
        if etag == stamp:
            return Fetched(None, etag=stamp)
        if info.st_size > max_bytes:
            raise _too_large(max_bytes)
        with path.open("rb") as f:
            body = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise FetchError("file.missing", f"the file {path} does not exist any more") from None
    except OSError as exc:
        raise FetchError("file.unreadable", f"cannot read {path}: {exc.strerror}") from None
    if len(body) > max_bytes:
        raise _too_large(max_bytes)
    return Fetched(gunzip_if_needed(body, max_bytes), etag=stamp)
