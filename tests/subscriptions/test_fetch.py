"""HttpFetcher against a real, misbehaving server on 127.0.0.1; local files; config."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest
from list_server import LAST_MODIFIED, ListServer

from trackguard.settings import Settings
from trackguard.subscriptions.fetch import (
    MAX_LIST_BYTES,
    FetchConfig,
    FetchError,
    HttpFetcher,
    fetch_file,
    gunzip_if_needed,
)

BODY = b"msFilterList\n-d tracker.example\n"


def test_ok_returns_body_and_validators(list_server: ListServer, fetcher: HttpFetcher) -> None:
    feed = list_server.feed("f-ok", BODY)
    got = fetcher.fetch(list_server.url("feed/f-ok"))
    assert got.body == BODY
    assert got.etag == feed.current_etag
    assert got.last_modified == LAST_MODIFIED
    sent = feed.requests[-1]
    assert "if-none-match" not in sent and sent["user-agent"].startswith("trackguard/")


def test_conditional_request_gets_304(list_server: ListServer, fetcher: HttpFetcher) -> None:
    feed = list_server.feed("f-304", BODY)
    got = fetcher.fetch(
        list_server.url("feed/f-304"), etag=feed.current_etag, last_modified=LAST_MODIFIED
    )
    assert got.not_modified and got.body is None
    assert feed.requests[-1]["if-none-match"] == feed.current_etag
    assert feed.requests[-1]["if-modified-since"] == LAST_MODIFIED


def test_changed_etag_downloads_again(list_server: ListServer, fetcher: HttpFetcher) -> None:
    feed = list_server.feed("f-etag", BODY)
    old = feed.current_etag
    feed.set(BODY + b"-d other.example\n")
    got = fetcher.fetch(list_server.url("feed/f-etag"), etag=old)
    assert got.body == BODY + b"-d other.example\n" and got.etag != old


@pytest.mark.parametrize("mode", ["gzip", "gzfile"])
def test_gzip_is_unpacked(list_server: ListServer, fetcher: HttpFetcher, mode: str) -> None:
    list_server.feed(f"f-{mode}", BODY, mode=mode)
    assert fetcher.fetch(list_server.url(f"feed/f-{mode}")).body == BODY


def test_wrong_content_type_is_ignored(list_server: ListServer, fetcher: HttpFetcher) -> None:
    list_server.feed("f-type", BODY, mode="wrong-type")
    assert fetcher.fetch(list_server.url("feed/f-type")).body == BODY


def test_five_redirects_are_followed(list_server: ListServer, fetcher: HttpFetcher) -> None:
    feed = list_server.feed("f-redir", BODY, mode="redirects")
    feed.redirects = 5
    got = fetcher.fetch(list_server.url("feed/f-redir"))
    assert got.body == BODY and got.final_url is not None and got.final_url.endswith("hop=5")


def expect(fetcher: HttpFetcher, url: str, code: str, *, within: float = 10.0) -> FetchError:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert caught.value.code == code, str(caught.value)
    assert time.monotonic() - started < within
    assert str(caught.value)  # a message a person can read
    return caught.value


def test_six_redirects_are_too_many(list_server: ListServer, fetcher: HttpFetcher) -> None:
    list_server.feed("f-redir6", BODY, mode="redirects").redirects = 6
    expect(fetcher, list_server.url("feed/f-redir6"), "fetch.redirects")


def test_redirect_loop(list_server: ListServer, fetcher: HttpFetcher) -> None:
    feed = list_server.feed("f-loop", BODY, mode="loop")
    error = expect(fetcher, list_server.url("feed/f-loop"), "fetch.redirects")
    assert "redirect" in str(error)
    assert feed.hits == 6  # the first request and five redirects, no retries


def test_404_is_not_retried(list_server: ListServer, fetcher: HttpFetcher) -> None:
    feed = list_server.feed("f-404", BODY, mode="404")
    error = expect(fetcher, list_server.url("feed/f-404"), "fetch.http-404")
    assert "404" in str(error) and not error.transient
    assert feed.hits == 1


def test_500_is_retried_then_fails(list_server: ListServer) -> None:
    delays: list[float] = []
    retrying = HttpFetcher(
        FetchConfig(timeout=1, deadline=2, retries=2, retry_delay=0.5), sleep=delays.append
    )
    feed = list_server.feed("f-500", BODY, mode="500")
    error = expect(retrying, list_server.url("feed/f-500"), "fetch.http-500")
    assert error.transient
    assert feed.hits == 3  # one attempt and two retries
    assert delays == [0.5, 1.0]  # back-off doubles


def test_hanging_server_times_out(list_server: ListServer, quick_fetcher: HttpFetcher) -> None:
    list_server.feed("f-hang", BODY, mode="hang")
    expect(quick_fetcher, list_server.url("feed/f-hang"), "fetch.timeout", within=5)


def test_slow_drip_hits_the_deadline(list_server: ListServer, quick_fetcher: HttpFetcher) -> None:
    feed = list_server.feed("f-drip", BODY * 200, mode="drip")
    feed.drip_delay = 0.1  # always well inside the read timeout, never done in time
    error = expect(quick_fetcher, list_server.url("feed/f-drip"), "fetch.too-slow", within=6)
    assert "slow" in str(error)


def test_truncated_body(list_server: ListServer, fetcher: HttpFetcher) -> None:
    list_server.feed("f-trunc", BODY * 100, mode="truncated")
    expect(fetcher, list_server.url("feed/f-trunc"), "fetch.truncated")


@pytest.mark.parametrize("mode", ["huge", "huge-chunked", "gzip-bomb"])
def test_fifty_megabytes_are_refused(
    list_server: ListServer, fetcher: HttpFetcher, mode: str
) -> None:
    list_server.feed(f"f-{mode}", BODY, mode=mode)
    error = expect(fetcher, list_server.url(f"feed/f-{mode}"), "fetch.too-large")
    assert "16 MiB" in str(error)


def test_connection_refused_is_transient() -> None:
    quick = HttpFetcher(FetchConfig(timeout=1, retries=0))
    error = expect(quick, "http://127.0.0.1:9/list.txt", "fetch.connect")
    assert error.transient


def test_unsupported_scheme() -> None:
    expect(HttpFetcher(), "ftp://lists.example/list.txt", "fetch.bad-url")


def test_corpus_file_is_served_verbatim(
    list_server: ListServer, fetcher: HttpFetcher, corpus_dir: Path
) -> None:
    got = fetcher.fetch(list_server.url("corpus/tpl/easy.tpl"))
    assert got.body == (corpus_dir / "tpl" / "easy.tpl").read_bytes()


def test_local_file_and_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "mine.tpl"
    path.write_bytes(BODY)
    first = fetch_file(path)
    assert first.body == BODY and first.etag
    assert fetch_file(path, etag=first.etag).not_modified
    path.write_bytes(BODY + b"-d more.example\n")
    assert fetch_file(path, etag=first.etag).body == BODY + b"-d more.example\n"


def test_local_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FetchError) as caught:
        fetch_file(tmp_path / "gone.tpl")
    assert caught.value.code == "file.missing"
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 2048)
    with pytest.raises(FetchError) as caught:
        fetch_file(big, max_bytes=1024)
    assert caught.value.code == "fetch.too-large"


def test_gunzip_if_needed_is_bounded() -> None:
    assert gunzip_if_needed(BODY, 100) == BODY
    assert gunzip_if_needed(gzip.compress(BODY), 100) == BODY
    with pytest.raises(FetchError) as caught:
        gunzip_if_needed(gzip.compress(b"x" * 10_000), 1000)
    assert caught.value.code == "fetch.too-large"
    with pytest.raises(FetchError) as caught:
        gunzip_if_needed(gzip.compress(BODY * 50)[:-12], 10_000)
    assert caught.value.code == "fetch.truncated"
    members = gzip.compress(b"one\n") + gzip.compress(b"two\n")  # concatenated .gz files
    assert gunzip_if_needed(members, 100) == b"one\ntwo\n"


def test_config_defaults_settings_and_environment() -> None:
    assert FetchConfig.from_settings(Settings(), {}) == FetchConfig()
    assert FetchConfig().max_bytes == MAX_LIST_BYTES
    settings = Settings(extra={"fetch": {"timeout": 5, "retries": 0, "bogus": 1}})
    env = {"TRACKGUARD_FETCH_TIMEOUT": "0.5", "TRACKGUARD_FETCH_MAX_BYTES": "1000"}
    config = FetchConfig.from_settings(settings, env)
    assert config.timeout == 0.5  # the environment wins
    assert config.retries == 0
    assert config.max_bytes == 1000
    bad = FetchConfig.from_settings(None, {"TRACKGUARD_FETCH_TIMEOUT": "soon"})
    assert bad.timeout == FetchConfig().timeout  # bad values fall back to the default
