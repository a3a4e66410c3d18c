"""Subscription operations against a real, misbehaving list server.

After every failure the last good copy must still be what the engine decides with, and
the record must say what went wrong (TPL spec §A.9).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from list_server import Feed, ListServer

from trackguard.model import Format, TrackguardError
from trackguard.subscriptions import engine_for
from trackguard.subscriptions.fetch import HttpFetcher
from trackguard.subscriptions.service import (
    NotSubscribed,
    add_list,
    describe,
    ensure_state,
    load_subscriptions,
    open_store,
    remove_list,
    set_enabled,
    update_due,
    update_lists,
)
from trackguard.subscriptions.sources import AddRefused, slugify
from trackguard.subscriptions.state import BUILTIN_ID, Subscription
from trackguard.subscriptions.store import Store
from trackguard.subscriptions.update import Outcome, Status

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BLOCKED_BY_FEED = "https://247ilabs.com/pixel.gif"  # `-d 247ilabs.com` in Fanboy's list
PAGE = "https://news.example/"


def blocked_by(home: Path, url: str = BLOCKED_BY_FEED) -> str | None:
    decision = engine_for(home).check(url, PAGE, "image")
    return decision.list if decision.blocked else None


def snapshot(home: Path) -> dict[str, bytes]:
    """Every file of the state folder except locks and the engine cache."""
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.suffix != ".lock" and "engine" not in p.parts
    }


@dataclass
class Subscribed:
    home: Path
    feed: Feed
    url: str
    sub: Subscription


@pytest.fixture
def subscribed(
    request: pytest.FixtureRequest,
    home: Path,
    list_server: ListServer,
    fetcher: HttpFetcher,
    tracking_tpl: bytes,
) -> Subscribed:
    """Fanboy's Tracking List subscribed from a feed at T0, built-in list disabled."""
    name = "svc-" + slugify(request.node.name)
    feed = list_server.feed(name, tracking_tpl)
    url = list_server.url(f"feed/{name}")
    sub = add_list(url, name="feed", home=home, fetcher=fetcher, now=T0)
    set_enabled(BUILTIN_ID, False, home=home)
    return Subscribed(home, feed, url, sub)


# --- first run --------------------------------------------------------------------------


def test_first_run_installs_the_enabled_builtin_list(home: Path) -> None:
    assert not home.exists()
    state = load_subscriptions(home)
    assert [s.id for s in state.subscriptions] == [BUILTIN_ID]
    builtin = state.subscriptions[0]
    assert builtin.enabled and builtin.format is Format.TPL and builtin.stats.rules > 250
    assert (home / "subscriptions.json").is_file()
    decision = engine_for(home).check("https://www.google-analytics.com/collect", PAGE, "image")
    assert decision.blocked and decision.list == BUILTIN_ID


def test_builtin_record_follows_a_new_package_version(home: Path) -> None:
    store = open_store(home)
    state = ensure_state(store)
    stale = state.put(state.subscriptions[0].replace(sha256="0" * 64, enabled=False))
    with store.write_lock():
        store.save_state(stale)
    refreshed = ensure_state(store).get(BUILTIN_ID)
    assert refreshed is not None and refreshed.sha256 != "0" * 64
    assert not refreshed.enabled  # the user's choice survives the upgrade


# --- adding -----------------------------------------------------------------------------


def test_add_stores_a_validated_copy(subscribed: Subscribed) -> None:
    sub = subscribed.sub
    assert (sub.id, sub.name, sub.format) == ("feed", "feed", Format.TPL)
    assert sub.stats.rules > 4000
    assert sub.title == "Fanboy's Tracking List"
    assert sub.interval == 3 * 86400 and sub.interval_source == "Expires=3"
    assert sub.etag == subscribed.feed.current_etag
    assert sub.insecure  # plain HTTP is allowed but flagged
    assert sub.file is not None
    stored = (subscribed.home / "lists" / sub.file).read_bytes()
    assert stored == subscribed.feed.body
    assert blocked_by(subscribed.home) == "feed"


def test_add_without_name_uses_the_title(
    home: Path, list_server: ListServer, fetcher: HttpFetcher, tracking_tpl: bytes
) -> None:
    list_server.feed("svc-title", tracking_tpl)
    url = list_server.url("feed/svc-title")
    sub = add_list(url, home=home, fetcher=fetcher)
    assert (sub.id, sub.name) == ("fanboys-tracking-list", "Fanboy's Tracking List")
    with pytest.raises(AddRefused, match="already subscribed as 'fanboys-tracking-list'"):
        add_list(url, home=home, fetcher=fetcher)


def test_a_list_without_valid_rules_is_refused_and_nothing_changes(
    home: Path, list_server: ListServer, fetcher: HttpFetcher
) -> None:
    load_subscriptions(home)
    before = snapshot(home)
    list_server.feed("svc-empty", b"msFilterList\n# Title: Nothing\n# only comments\n")
    with pytest.raises(AddRefused) as caught:
        add_list(list_server.url("feed/svc-empty"), home=home, fetcher=fetcher)
    message = str(caught.value)
    assert "was not added" in message and "Nothing was changed" in message
    assert snapshot(home) == before


@pytest.mark.parametrize(
    ("mode", "words"),
    [("404", "HTTP 404"), ("html", "web page"), ("latin1", "UTF-8"), ("loop", "redirects")],
)
def test_add_refuses_bad_downloads(
    home: Path,
    list_server: ListServer,
    fetcher: HttpFetcher,
    tracking_tpl: bytes,
    mode: str,
    words: str,
) -> None:
    load_subscriptions(home)
    before = snapshot(home)
    list_server.feed(f"svc-add-{mode}", tracking_tpl, mode=mode)
    with pytest.raises(AddRefused, match=words):
        add_list(list_server.url(f"feed/svc-add-{mode}"), home=home, fetcher=fetcher)
    assert snapshot(home) == before


def test_add_refuses_a_taken_name(subscribed: Subscribed, fetcher: HttpFetcher) -> None:
    with pytest.raises(AddRefused, match="already used"):
        add_list(subscribed.url + "?other", name="Feed", home=subscribed.home, fetcher=fetcher)


def test_add_a_local_file_and_pick_up_edits(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "mine.tpl"
    path.write_text("msFilterList\n-d one.example\n")
    sub = add_list(str(path), home=home)
    assert sub.url == path.resolve().as_uri() and sub.stats.rules == 1 and sub.id == "mine"
    [unchanged] = update_lists(["mine"], home=home)
    assert unchanged.outcome is Outcome.NOT_MODIFIED
    path.write_text("msFilterList\n-d one.example\n-d two.example\n")
    [edited] = update_lists(["mine"], home=home)
    assert edited.outcome is Outcome.UPDATED and edited.rules_after == 2
    path.unlink()
    [gone] = update_lists(["mine"], home=home)
    assert gone.outcome is Outcome.FAILED and gone.error_code == "file.missing"
    assert blocked_by(home, "https://two.example/x.gif") == "mine"


# --- updating: every way a publisher can fail -------------------------------------------


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("404", "fetch.http-404"),
        ("500", "fetch.http-500"),
        ("hang", "fetch.timeout"),
        ("drip", "fetch.too-slow"),
        ("truncated", "fetch.truncated"),
        ("latin1", "list.not-utf8"),
        ("html", "list.html"),
        ("huge", "fetch.too-large"),
        ("huge-chunked", "fetch.too-large"),
        ("gzip-bomb", "fetch.too-large"),
        ("loop", "fetch.redirects"),
        ("no-header", "list.rejected"),
    ],
)
def test_failed_update_keeps_the_last_good_copy(
    subscribed: Subscribed,
    fetcher: HttpFetcher,
    quick_fetcher: HttpFetcher,
    mode: str,
    code: str,
) -> None:
    home, feed = subscribed.home, subscribed.feed
    files_before = sorted(p.name for p in (home / "lists").iterdir())
    if mode == "no-header":  # a "wrong header": the TPL without its msFilterList line
        feed.set(feed.body.split(b"\n", 1)[1])
    else:
        feed.set(feed.body + b"-d new.example\n", mode=mode)
    later = T0 + timedelta(days=4)
    slow_server = mode in ("hang", "drip")
    [result] = update_lists(
        ["feed"], home=home, fetcher=quick_fetcher if slow_server else fetcher, now=later
    )
    assert result.outcome is Outcome.FAILED
    assert result.error_code == code, result.message
    sub = load_subscriptions(home).get("feed")
    assert sub is not None
    assert sub.failures == 1 and sub.last_error_code == code and sub.last_error
    assert sub.last_success == T0 and sub.last_attempt == later
    assert sub.stats.rules == subscribed.sub.stats.rules
    assert sorted(p.name for p in (home / "lists").iterdir()) == files_before
    assert describe(sub, later)["status"] == Status.FAILING.value
    assert blocked_by(home) == "feed"


def test_not_modified_counts_as_success(subscribed: Subscribed, fetcher: HttpFetcher) -> None:
    home = subscribed.home
    subscribed.feed.set(mode="500")
    update_lists(["feed"], home=home, fetcher=fetcher, now=T0 + timedelta(days=1))
    subscribed.feed.set(mode="ok")
    later = T0 + timedelta(days=2)
    [result] = update_lists(["feed"], home=home, fetcher=fetcher, now=later)
    assert result.outcome is Outcome.NOT_MODIFIED and result.message == "not modified"
    assert subscribed.feed.requests[-1]["if-none-match"] == subscribed.sub.etag
    sub = load_subscriptions(home).get("feed")
    assert sub is not None and sub.failures == 0 and sub.last_error is None
    assert sub.last_success == later and sub.last_changed == T0


def test_changed_etag_replaces_the_copy_atomically(
    subscribed: Subscribed, fetcher: HttpFetcher
) -> None:
    home, feed = subscribed.home, subscribed.feed
    feed.set(feed.body + b"-d brand-new-tracker.example\n")
    later = T0 + timedelta(days=1)
    [result] = update_lists(["feed"], home=home, fetcher=fetcher, now=later)
    assert result.outcome is Outcome.UPDATED
    assert result.rules_after == result.rules_before + 1
    sub = load_subscriptions(home).get("feed")
    assert sub is not None and sub.etag == feed.current_etag and sub.last_changed == later
    assert [p.name for p in (home / "lists").iterdir()] == [sub.file]  # old copy swept
    assert blocked_by(home, "https://brand-new-tracker.example/t.js") == "feed"


def test_wrong_content_type_and_gzip_still_update(
    subscribed: Subscribed, fetcher: HttpFetcher
) -> None:
    feed = subscribed.feed
    for n, mode in enumerate(("wrong-type", "gzip", "gzfile")):
        feed.set(feed.body + f"-d extra{n}.example\n".encode(), mode=mode)
        [result] = update_lists(["feed"], home=subscribed.home, fetcher=fetcher)
        assert result.outcome is Outcome.UPDATED, (mode, result.message)


def test_a_version_losing_most_rules_is_held_back_unless_forced(
    subscribed: Subscribed, fetcher: HttpFetcher
) -> None:
    home, feed = subscribed.home, subscribed.feed
    feed.set(b"msFilterList\n-d only-one.example\n-d only-two.example\n")
    [held] = update_lists(["feed"], home=home, fetcher=fetcher, now=T0 + timedelta(days=1))
    assert held.outcome is Outcome.HELD_BACK and "--force" in held.message
    sub = load_subscriptions(home).get("feed")
    assert sub is not None and sub.held_back_rules == 2 and sub.stats.rules > 4000
    assert blocked_by(home) == "feed"
    [forced] = update_lists(["feed"], force=True, home=home, fetcher=fetcher)
    assert forced.outcome is Outcome.UPDATED and forced.rules_after == 2
    assert "if-none-match" not in feed.requests[-1]  # --force downloads unconditionally
    assert blocked_by(home) is None
    assert blocked_by(home, "https://only-one.example/x") == "feed"


def test_stale_once_older_than_twice_the_interval(
    subscribed: Subscribed, fetcher: HttpFetcher
) -> None:
    subscribed.feed.set(mode="404")
    much_later = T0 + timedelta(days=7)
    update_lists(["feed"], home=subscribed.home, fetcher=fetcher, now=much_later)
    view = describe(load_subscriptions(subscribed.home).subscriptions[-1], much_later)
    assert view["status"] == "stale" and "404" in view["last_error"]
    assert blocked_by(subscribed.home) == "feed"  # stale, but still protecting


def test_update_due_follows_the_schedule(subscribed: Subscribed, fetcher: HttpFetcher) -> None:
    home, feed = subscribed.home, subscribed.feed
    assert update_due(home, fetcher=fetcher, now=T0 + timedelta(days=2)) == []
    hits = feed.hits
    [result] = update_due(home, fetcher=fetcher, now=T0 + timedelta(days=3, hours=8))
    assert result.outcome is Outcome.NOT_MODIFIED and feed.hits == hits + 1
    # A failure is retried after the back-off (1 h), not at the next interval.
    feed.set(mode="500")
    failed_at = T0 + timedelta(days=8)
    [failed] = update_due(home, fetcher=fetcher, now=failed_at)
    assert failed.outcome is Outcome.FAILED
    assert update_due(home, fetcher=fetcher, now=failed_at + timedelta(minutes=30)) == []
    feed.set(mode="ok")
    [retried] = update_due(home, fetcher=fetcher, now=failed_at + timedelta(minutes=61))
    assert retried.ok


def test_update_due_skips_disabled_and_builtin_lists(
    subscribed: Subscribed, fetcher: HttpFetcher
) -> None:
    set_enabled("feed", False, home=subscribed.home)
    assert update_due(subscribed.home, fetcher=fetcher, now=T0 + timedelta(days=30)) == []


def test_update_due_returns_at_once_while_another_update_runs(
    subscribed: Subscribed, fetcher: HttpFetcher
) -> None:
    store = Store(subscribed.home)
    with store.update_lock():
        result: list[object] = []
        thread = threading.Thread(
            target=lambda: result.append(
                update_due(subscribed.home, fetcher=fetcher, now=T0 + timedelta(days=9))
            )
        )
        thread.start()
        thread.join(5)
        assert not thread.is_alive() and result == [[]]


def test_concurrent_updates_from_threads_stay_consistent(
    subscribed: Subscribed, fetcher: HttpFetcher
) -> None:
    feed = subscribed.feed
    feed.set(feed.body + b"-d threaded.example\n")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            update_lists(["feed"], home=subscribed.home, fetcher=fetcher)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    sub = load_subscriptions(subscribed.home).get("feed")
    assert sub is not None and sub.failures == 0
    assert [p.name for p in (subscribed.home / "lists").iterdir()] == [sub.file]
    assert blocked_by(subscribed.home, "https://threaded.example/") == "feed"


# --- enable, disable, remove ------------------------------------------------------------


def test_disable_and_enable_change_what_the_engine_uses(subscribed: Subscribed) -> None:
    home = subscribed.home
    assert blocked_by(home) == "feed"
    set_enabled("feed", False, home=home)
    assert blocked_by(home) is None
    set_enabled("FEED", True, home=home)  # names are case-insensitive
    assert blocked_by(home) == "feed"


def test_remove_deletes_the_copy_but_never_the_builtin(subscribed: Subscribed) -> None:
    home = subscribed.home
    removed = remove_list("feed", home=home)
    assert removed.id == "feed"
    assert list((home / "lists").iterdir()) == []
    assert [s.id for s in load_subscriptions(home).subscriptions] == [BUILTIN_ID]
    with pytest.raises(TrackguardError, match="disable builtin"):
        remove_list(BUILTIN_ID, home=home)
    with pytest.raises(NotSubscribed, match="no list named 'feed'"):
        set_enabled("feed", True, home=home)


def test_damaged_state_file_is_reported(home: Path) -> None:
    load_subscriptions(home)
    (home / "subscriptions.json").write_text("{ not json")
    with pytest.raises(TrackguardError, match=r"damaged.*move it away"):
        load_subscriptions(home)


def test_hosts_and_abp_lists_get_their_format_and_interval(home: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# a hosts file\n0.0.0.0 ads.hosts.example\n0.0.0.0 t.hosts.example\n")
    abp = tmp_path / "abp.txt"
    abp.write_text("[Adblock Plus 2.0]\n! Title: Hourly\n! Expires: 12 hours\n||t.abp.example^\n")
    h = add_list(str(hosts), home=home)
    a = add_list(str(abp), home=home)
    assert (h.format, h.stats.rules, h.interval) == (Format.HOSTS, 2, 7 * 86400)
    assert (a.format, a.id, a.interval) == (Format.ABP, "hourly", 12 * 3600)
    assert a.interval_source == "Expires: 12 hours"
    assert blocked_by(home, "https://t.hosts.example/x") == h.id
    assert blocked_by(home, "https://t.abp.example/x") == "hourly"


def test_forced_format_that_does_not_fit_is_refused(home: Path, tmp_path: Path) -> None:
    abp = tmp_path / "abp.txt"
    abp.write_text("||t.abp.example^\n")
    with pytest.raises(AddRefused, match="not a Tracking Protection List"):
        add_list(str(abp), format=Format.TPL, home=home)


def test_a_damaged_copy_is_downloaded_again_in_full(
    subscribed: Subscribed, fetcher: HttpFetcher
) -> None:
    home, sub = subscribed.home, subscribed.sub
    assert sub.file is not None
    (home / "lists" / sub.file).write_bytes(b"msFilterList\n-d tampered.example\n")
    assert blocked_by(home) is None  # the damaged copy is left out, not trusted
    [result] = update_lists(["feed"], home=home, fetcher=fetcher)
    assert "if-none-match" not in subscribed.feed.requests[-1]  # no 304 for a lost copy
    assert result.outcome is Outcome.UPDATED
    assert (home / "lists" / sub.file).read_bytes() == subscribed.feed.body
    assert blocked_by(home) == "feed"
