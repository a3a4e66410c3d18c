"""`trackguard lists ...` and `trackguard check`, run as real subprocesses.

Lists come from a real HTTP server on 127.0.0.1 that serves the shared corpus and
misbehaves on purpose. After every failure `trackguard lists` must show the right
status and `trackguard check` must still decide with the last good copy. A process
killed with SIGKILL in the middle of an update must leave the state intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "subscriptions"))
from list_server import Feed, ListServer

FEED_URL = "https://247ilabs.com/pixel.gif"  # blocked by `-d 247ilabs.com` in Fanboy's list
PAGE = "https://news.example/"
GA = "https://www.google-analytics.com/collect"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: its own state folder, fast network limits, no proxy."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        TRACKGUARD_HOME=str(home),
        TRACKGUARD_FETCH_TIMEOUT="10",  # patient: the machine may be busy;
        TRACKGUARD_FETCH_DEADLINE="30",  # tests of timeouts pass QUICK instead
        TRACKGUARD_FETCH_RETRIES="1",
        TRACKGUARD_FETCH_RETRY_DELAY="0.01",
        NO_PROXY="127.0.0.1,localhost",
        COLUMNS="200",
    )
    env.update(extra)
    return env


#: Limits for the tests of hanging and dripping servers.
QUICK = {"TRACKGUARD_FETCH_TIMEOUT": "1", "TRACKGUARD_FETCH_DEADLINE": "2"}


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trackguard", *args],
        env=cli_env(home, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_json(home: Path, *args: str, expect_rc: int = 0) -> Any:
    done = run(home, *args, "--json")
    assert done.returncode == expect_rc, done.stderr
    return json.loads(done.stdout)  # pure JSON on stdout


def views(home: Path) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in run_json(home, "lists")}


def check(home: Path, url: str = FEED_URL) -> dict[str, Any]:
    result: dict[str, Any] = run_json(home, "check", url, "--source", PAGE, "--type", "image")
    return result


def decide(home: Path, *urls: str) -> list[str | None]:
    """One `trackguard check --requests` run: the deciding list per URL (None: allowed)."""
    batch = home.parent / "requests.jsonl"
    batch.write_text(
        "".join(json.dumps({"url": u, "source_url": PAGE, "type": "image"}) + "\n" for u in urls)
    )
    done = run(home, "check", "--requests", str(batch), "--json")
    assert done.returncode == 0, done.stderr
    decisions = [json.loads(line) for line in done.stdout.splitlines()]
    return [d["list"] if d["blocked"] else None for d in decisions]


def assert_intact(home: Path) -> None:
    """Every record parses and names a stored copy whose content matches its hash."""
    data = json.loads((home / "subscriptions.json").read_text())
    for sub in data["subscriptions"]:
        if sub["file"]:
            body = (home / "lists" / sub["file"]).read_bytes()
            assert hashlib.sha256(body).hexdigest() == sub["sha256"], sub["id"]


@pytest.fixture(scope="module")
def server(corpus_dir: Path) -> Iterator[ListServer]:
    with ListServer(corpus_dir) as running:
        yield running


@pytest.fixture(scope="module")
def tracking_tpl(corpus_dir: Path) -> bytes:
    return (corpus_dir / "tpl" / "fanboy-tracking.tpl").read_bytes()


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, server: ListServer, tracking_tpl: bytes
) -> Path:
    """A state folder subscribed to the `cli` feed (built-in list off), built once."""
    home = tmp_path_factory.mktemp("template") / "home"
    server.feed("cli", tracking_tpl)
    done = run(home, "lists", "add", server.url("feed/cli"), "--name", "feed")
    assert done.returncode == 0, done.stderr
    assert run(home, "lists", "disable", "builtin").returncode == 0
    return home


@pytest.fixture
def feed_home(template: Path, tmp_path: Path, server: ListServer, tracking_tpl: bytes) -> Path:
    """A copy of the template, with the feed reset to its first version."""
    home = tmp_path / "home"
    shutil.copytree(template, home)
    server.feed("cli", tracking_tpl)
    return home


def feed(server: ListServer) -> Feed:
    return server.feeds["cli"]


# --- the acceptance test for offline use ------------------------------------------------


def test_fresh_state_without_network_blocks_google_analytics(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    dead_proxy = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    done = run(home, "check", GA, "--source", PAGE, "--type", "image", "--json", **dead_proxy)
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert decision["blocked"] is True and decision["list"] == "builtin"
    builtin = views(home)["builtin"]
    assert builtin["enabled"] and builtin["status"] == "ok" and builtin["rules"] > 250
    human = run(home, "check", GA, "--source", PAGE, "--type", "image")
    assert "BLOCKED" in human.stdout


def test_adding_a_catalogue_list_offline_fails_clearly(tmp_path: Path) -> None:
    home = tmp_path / "offline"
    run(home, "lists")
    before = (home / "subscriptions.json").read_bytes()
    done = run(home, "lists", "add", "easyprivacy", HTTPS_PROXY="http://127.0.0.1:9")
    assert done.returncode == 1
    assert "was not added" in done.stderr and "Nothing was changed" in done.stderr
    assert (home / "subscriptions.json").read_bytes() == before


# --- add, table, show, catalogue ------------------------------------------------------


def test_add_then_list_show_and_check(tmp_path: Path, server: ListServer) -> None:
    home = tmp_path / "home"
    url = server.url("corpus/tpl/fanboy-tracking.tpl")
    done = run(home, "lists", "add", url)
    assert done.returncode == 0, done.stderr
    assert "Added Fanboy's Tracking List as fanboys-tracking-list" in done.stdout
    assert "plain HTTP" in done.stderr  # flagged (TPL spec §A.9)

    table = run(home, "lists")
    assert table.returncode == 0
    for text in ("fanboys-tracking-list", "builtin", "tpl", "ok", "yes"):
        assert text in table.stdout

    listed = views(home)
    sub = listed["fanboys-tracking-list"]
    assert sub["rules"] > 4000 and sub["status"] == "ok" and sub["enabled"]
    assert sub["url"] == url and sub["insecure"] and sub["next_update"]
    assert sub["interval_seconds"] == 3 * 86400

    shown = run_json(home, "lists", "show", "fanboys-tracking-list")
    assert shown["diagnostics"]["rules"] == sub["rules"]
    human = run(home, "lists", "show", "Fanboy's Tracking List")
    assert "Rules applied" in human.stdout and "Expires=3" in human.stdout

    decision = check(home)
    assert decision["blocked"] and decision["list"] == "fanboys-tracking-list"
    assert decide(home, GA) == ["builtin"]  # both enabled lists decide


def test_a_list_without_valid_rules_is_refused(tmp_path: Path, server: ListServer) -> None:
    home = tmp_path / "home"
    run(home, "lists")
    server.feed("cli-empty", b"msFilterList\n# Title: Empty\n# nothing here\n")
    done = run(home, "lists", "add", server.url("feed/cli-empty"))
    assert done.returncode == 1
    assert (
        "no valid" in done.stderr
        and "cli-empty" in done.stderr
        and "Nothing was changed" in done.stderr
    )
    assert list(views(home)) == ["builtin"]


def test_catalogue(tmp_path: Path) -> None:
    rows = {r["key"]: r for r in run_json(tmp_path / "home", "lists", "catalogue")}
    assert rows["easyprivacy"]["url"] == "https://easylist.to/easylist/easyprivacy.txt"
    assert set(rows) >= {"easylist", "fanboy-enhanced", "peter-lowe", "adguard-tracking"}
    assert "EasyPrivacy" in run(tmp_path / "home", "lists", "catalogue").stdout


def test_unknown_name_is_an_error(tmp_path: Path) -> None:
    done = run(tmp_path / "home", "lists", "show", "nope")
    assert done.returncode == 1 and "no list named 'nope'" in done.stderr


# --- every misbehaviour: right status, last good list still decides ---------------------


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("404", "fetch.http-404"),
        ("500", "fetch.http-500"),
        ("hang", "fetch.timeout"),
        ("drip", "fetch.too-slow"),
        ("truncated", "fetch.truncated"),
        ("no-header", "list.rejected"),
        ("latin1", "list.not-utf8"),
        ("html", "list.html"),
        ("huge", "fetch.too-large"),
        ("loop", "fetch.redirects"),
    ],
)
def test_misbehaving_server(feed_home: Path, server: ListServer, mode: str, code: str) -> None:
    the_feed = feed(server)
    if mode == "no-header":  # the wrong header: a TPL that lost its msFilterList line
        the_feed.set(the_feed.body.split(b"\n", 1)[1])
    else:
        the_feed.set(the_feed.body + b"-d new-tracker.example\n", mode=mode)
    done = run(feed_home, "lists", "update", "feed", **(QUICK if mode in ("hang", "drip") else {}))
    assert done.returncode == 1
    assert "failed" in done.stderr
    view = views(feed_home)["feed"]
    assert view["status"] == "failing"
    assert view["last_error_code"] == code and view["last_error"]
    if mode == "404":
        assert "failing" in run(feed_home, "lists").stdout
    assert decide(feed_home, FEED_URL, "https://new-tracker.example/x") == ["feed", None]
    assert_intact(feed_home)


def test_not_modified(feed_home: Path, server: ListServer) -> None:
    results = run_json(feed_home, "lists", "update", "feed")
    assert [r["outcome"] for r in results] == ["not-modified"]
    assert feed(server).requests[-1]["if-none-match"] == feed(server).current_etag
    assert views(feed_home)["feed"]["status"] == "ok"
    assert check(feed_home)["list"] == "feed"


@pytest.mark.parametrize("mode", ["ok", "wrong-type"])
def test_changed_etag_installs_the_new_version(
    feed_home: Path, server: ListServer, mode: str
) -> None:
    the_feed = feed(server)
    the_feed.set(the_feed.body + b"-d new-tracker.example\n", mode=mode)
    [result] = run_json(feed_home, "lists", "update", "feed")
    assert result["outcome"] == "updated"
    assert result["rules_after"] == result["rules_before"] + 1
    assert views(feed_home)["feed"]["etag"] == the_feed.current_etag
    assert decide(feed_home, FEED_URL, "https://new-tracker.example/x") == ["feed", "feed"]
    assert_intact(feed_home)


def test_rule_loss_is_held_back_until_forced(feed_home: Path, server: ListServer) -> None:
    feed(server).set(b"msFilterList\n-d lonely.example\n")
    done = run(feed_home, "lists", "update", "feed")
    assert done.returncode == 1 and "--force" in done.stderr
    view = views(feed_home)["feed"]
    assert view["status"] == "failing" and view["held_back_rules"] == 1
    assert decide(feed_home, FEED_URL, "https://lonely.example/") == ["feed", None]
    forced = run(feed_home, "lists", "update", "feed", "--force")
    assert forced.returncode == 0, forced.stderr
    assert decide(feed_home, FEED_URL, "https://lonely.example/") == [None, "feed"]


def test_enable_disable_remove(feed_home: Path) -> None:
    assert run(feed_home, "lists", "disable", "feed").returncode == 0
    assert decide(feed_home, FEED_URL) == [None]
    assert not views(feed_home)["feed"]["enabled"]
    assert run(feed_home, "lists", "enable", "feed").returncode == 0
    assert decide(feed_home, FEED_URL) == ["feed"]
    refused = run(feed_home, "lists", "remove", "builtin")
    assert refused.returncode == 1 and "disable builtin" in refused.stderr
    assert run(feed_home, "lists", "remove", "feed").returncode == 0
    assert list(views(feed_home)) == ["builtin"]
    assert list((feed_home / "lists").iterdir()) == []


# --- SIGKILL in the middle of an update ------------------------------------------------


def _wait_for_line(stream: Any, marker: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if marker in line:
            return
        if not line:
            time.sleep(0.01)
    raise AssertionError(f"{marker!r} never appeared")


def _assert_survived(home: Path, before: bytes) -> None:
    assert (home / "subscriptions.json").read_bytes() == before
    assert_intact(home)
    view = views(home)["feed"]
    assert view["status"] == "ok" and view["rules"] > 4000
    assert decide(home, FEED_URL) == ["feed"]


def test_sigkill_during_the_download(feed_home: Path, server: ListServer) -> None:
    the_feed = feed(server)
    the_feed.set(the_feed.body + b"-d new-tracker.example\n", mode="drip")
    the_feed.drip_delay = 0.02
    hits = the_feed.hits
    before = (feed_home / "subscriptions.json").read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackguard", "lists", "update", "feed", "--force"],
        env=cli_env(feed_home, TRACKGUARD_FETCH_DEADLINE="60", TRACKGUARD_FETCH_TIMEOUT="10"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while the_feed.hits == hits and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # well into the body
    assert proc.poll() is None, "the update finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    the_feed.set(mode="ok")
    _assert_survived(feed_home, before)


PAUSE_AT_COMMIT = """
import os, sys, time
real_replace = os.replace
def paused_replace(src, dst, *args, **kwargs):
    if str(dst).endswith("subscriptions.json"):
        print("PAUSED", file=sys.stderr, flush=True)
        time.sleep(60)
    return real_replace(src, dst, *args, **kwargs)
os.replace = paused_replace
sys.argv = ["trackguard", "lists", "update", "feed"]
from trackguard.cli import main
main()
"""


def test_sigkill_between_writing_the_copy_and_switching_to_it(
    feed_home: Path, server: ListServer
) -> None:
    """The worst moment: new copy and new record fully written, the switch not done."""
    the_feed = feed(server)
    the_feed.set(the_feed.body + b"-d new-tracker.example\n")
    before = (feed_home / "subscriptions.json").read_bytes()
    files_before = {p.name for p in (feed_home / "lists").iterdir()}
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSE_AT_COMMIT],
        env=cli_env(feed_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    _wait_for_line(proc.stderr, "PAUSED", 60)
    leftovers = {p.name for p in (feed_home / "lists").iterdir()} - files_before
    assert len(leftovers) == 1  # the new copy was already written
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    _assert_survived(feed_home, before)
    assert decide(feed_home, "https://new-tracker.example/x") == [None]
    # The next update completes the job and sweeps the debris of the killed one.
    [result] = run_json(feed_home, "lists", "update", "feed")
    assert result["outcome"] == "updated"
    assert decide(feed_home, "https://new-tracker.example/x") == ["feed"]
    sub = views(feed_home)["feed"]
    assert [p.name for p in (feed_home / "lists").iterdir()] == [f"feed-{sub['sha256'][:16]}.txt"]
    assert not list(feed_home.glob(".*.tmp"))


def test_sigkill_at_random_moments_never_corrupts(
    feed_home: Path, server: ListServer, corpus_dir: Path
) -> None:
    """Kill updates of a real list at spread-out moments: download, parse, commit, rebuild."""
    big = (corpus_dir / "tpl" / "easyprivacy_nointernational.tpl").read_bytes()
    versions = [big, big + b"-d extra-tracker.example\n"]
    the_feed = feed(server)
    the_feed.set(versions[0])
    started = time.monotonic()
    done = run(feed_home, "lists", "update", "feed", "--force")
    assert done.returncode == 0, done.stderr
    whole = time.monotonic() - started  # start-up, download, parse, commit, rebuild
    for round_, share in enumerate((0.2, 0.45, 0.7, 0.9)):
        delay = whole * share
        the_feed.set(versions[(round_ + 1) % 2])
        proc = subprocess.Popen(
            [sys.executable, "-m", "trackguard", "lists", "update", "feed"],
            env=cli_env(feed_home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert_intact(feed_home)
        view = views(feed_home)["feed"]
        assert view["status"] == "ok" and view["rules"] > 10_000
    assert decide(feed_home, "https://www.google-analytics.com/analytics.js") == ["feed"]


# --- issue 11: tables at 80 columns, --json everywhere, wording, progress -------------------


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def test_tables_read_at_80_columns(feed_home: Path) -> None:
    """Point 9: no header or key is truncated; nothing is wider than the terminal."""
    table = run(feed_home, "lists", COLUMNS="80")
    assert table.returncode == 0 and _widest(table.stdout) <= 80
    assert "…" not in table.stdout
    lines = table.stdout.splitlines()
    assert lines[1].split() == ["ID", "On", "Rules", "Updated", "Status", "Name"]
    assert any(line.split()[:2] == ["feed", "yes"] for line in lines)
    catalogue = run(feed_home, "lists", "catalogue", COLUMNS="80")
    assert catalogue.returncode == 0 and _widest(catalogue.stdout) <= 80
    assert "…" not in catalogue.stdout
    keys = [row["key"] for row in run_json(feed_home, "lists", "catalogue")]
    starts = [line.split()[0] for line in catalogue.stdout.splitlines()[2:] if line[:1] != " "]
    assert starts == keys  # the names you must type, whole
    wide = run(feed_home, "lists", COLUMNS="200")
    assert "Not applied" in wide.stdout and "Next" in wide.stdout


def test_json_on_the_group_reaches_every_subcommand(feed_home: Path) -> None:
    """Point 9: `lists --json update` and `lists --json show` print JSON, not tables."""
    done = run(feed_home, "lists", "--json", "update", "feed")
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in json.loads(done.stdout)] == ["feed"]
    shown = run(feed_home, "lists", "--json", "show", "feed")
    assert json.loads(shown.stdout)["id"] == "feed"


def test_force_on_unchanged_content_says_so(feed_home: Path) -> None:
    """Point 10: not "updated: 4562 → 4562"."""
    done = run(feed_home, "lists", "update", "feed", "--force")
    assert done.returncode == 0, done.stderr
    assert "downloaded again, content unchanged" in done.stderr
    assert "→" not in done.stderr


def test_cosmetic_filters_are_not_called_failures(tmp_path: Path, server: ListServer) -> None:
    """Point 10: EasyList's element-hiding filters are named for what they are."""
    server.feed("cosmetic", b"[Adblock Plus 2.0]\n||ads.example^\nexample.com##.ad\n##.banner\n")
    done = run(tmp_path / "home", "lists", "add", server.url("feed/cosmetic"))
    assert done.returncode == 0, done.stderr
    assert "1 rules" in done.stdout and "skipped" not in done.stdout
    assert "2 cosmetic filters not applied (they hide page elements" in done.stdout


def test_downloads_show_a_progress_bar_that_fits_80_columns(
    tmp_path: Path, server: ListServer, tracking_tpl: bytes
) -> None:
    """Point 10: on a terminal, `lists add` draws a progress bar (rich) on stderr."""
    import pty
    import re

    server.feed("progress", tracking_tpl)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackguard", "lists", "add", server.url("feed/progress")],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=cli_env(tmp_path / "home", COLUMNS="80"),
    )
    os.close(slave)
    raw = b""
    try:
        while chunk := _read_pty(master):
            raw += chunk
    finally:
        os.close(master)
        proc.wait(60)
    assert proc.returncode == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode("utf-8", "replace"))
    bars = [line for line in re.split(r"[\r\n]", text) if "━" in line]
    assert bars, text[-2000:]
    assert max(len(line) for line in bars) <= 80
    # each frame on one line: the size and its unit never wrap onto a line of their own
    assert all(re.search(r"[\d.?]+/[\d.?]+ (bytes|kB|MB)", line) for line in bars), bars


def _read_pty(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the child closed the terminal
        return b""
