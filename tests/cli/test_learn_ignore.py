"""`trackguard learn ignore|unignore SITE`: the "never learn here" list (learning.md §B5).

Real subprocesses on one TRACKGUARD_HOME, and the proxy's own learner hook: an ignored
site's pages add no evidence (from HAR files or through the proxy), what they added before
is forgotten, `learn status` lists the site, and a running proxy picks the change up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from cli_helpers import tg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "learn"))
from learn_hars import TRACKER, TRACKER_DOMAIN, write_visits

from trackguard.learn.service import ProxyLearning
from trackguard.model import Decision, RequestType
from trackguard.settings import load_settings

SITES = ["news.example", "shop.example", "blog.example", "maps.example"]


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return tg(home, *args, columns=200)


def ok(home: Path, *args: str) -> str:
    done = run(home, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def sites(home: Path) -> int:
    items = json.loads(ok(home, "learn", "list", "--json"))
    found = next((i for i in items if i["domain"] == TRACKER_DOMAIN), None)
    return 0 if found is None else int(found["sites"])


def test_ignore_forgets_and_stops_learning_unignore_resumes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # Today only: still undecided, so the per-site rows exist (a decision drops them).
    har = write_visits(tmp_path / "visits.har", SITES, [0])
    ok(home, "learn", "from-har", str(har), "--json")
    assert sites(home) == 4

    done = json.loads(ok(home, "learn", "ignore", "https://www.news.example/a/page", "--json"))
    assert done == {"site": "news.example", "never_learn": True, "changed": True, "forgotten": 1}
    assert sites(home) == 3
    status = json.loads(ok(home, "learn", "status", "--json"))
    assert status["never_learn"] == ["news.example"]
    assert "news.example" in ok(home, "learn", "status")
    again = json.loads(ok(home, "learn", "ignore", "news.example", "--json"))
    assert again["changed"] is False and again["forgotten"] == 0

    # The same pages again: the ignored site still adds nothing.
    ok(home, "learn", "from-har", str(har), "--json")
    assert sites(home) == 3

    done = json.loads(ok(home, "learn", "unignore", "NEWS.example", "--json"))
    assert done["changed"] is True and done["never_learn"] is False
    assert json.loads(ok(home, "learn", "status", "--json"))["never_learn"] == []
    ok(home, "learn", "from-har", str(har), "--json")
    assert sites(home) == 4
    assert "was not listed" in ok(home, "learn", "unignore", "news.example")


def test_ignore_refuses_what_is_not_a_site(tmp_path: Path) -> None:
    for bad in ("127.0.0.1", "localhost", "printer.local", ""):
        done = run(tmp_path / "home", "learn", "ignore", bad)
        assert done.returncode == 2, (bad, done.stdout, done.stderr)
        assert "site name" in done.stderr


class _NoLists:
    def check_host(self, host: str) -> Decision:
        return Decision(False)


def _visit(learning: ProxyLearning, site: str, now: float) -> None:
    """What the proxy's planner hands the learner for one page and its tracker pixel."""
    page = f"https://www.{site}/"
    html = [("Content-Type", "text/html")]
    learning.hook.observe("", True, RequestType.DOCUMENT, "GET", page, {}, 200, html)
    learning.hook.observe(
        site,
        False,
        RequestType.IMAGE,
        "GET",
        f"https://{TRACKER}/p.gif",
        {"referer": page},
        200,
        [("Content-Type", "image/gif"), ("Set-Cookie", "uid=f3a9c2d4e5b6a7980112")],
    )


def test_evidence_counted_just_before_ignore_does_not_come_back(tmp_path: Path) -> None:
    """A proxy counted a visit, then the site was ignored before the proxy saved: its
    save (on reload or shutdown) must not bring the forgotten evidence back."""
    home = tmp_path / "home"
    now = time.time()
    learning = ProxyLearning(home, load_settings(home), _NoLists(), clock=lambda: now)
    _visit(learning, "news.example", now)
    _visit(learning, "shop.example", now)
    ok(home, "learn", "ignore", "shop.example")
    learning.reload(load_settings(home))  # saves what it counted, then reads the store
    learning.close()
    assert sites(home) == 1


def test_running_proxy_honours_the_list_after_reload(tmp_path: Path) -> None:
    home = tmp_path / "home"
    now = time.time()
    learning = ProxyLearning(home, load_settings(home), _NoLists(), clock=lambda: now)
    _visit(learning, "news.example", now)
    assert learning.service.state.summary(TRACKER_DOMAIN).sites == 1
    learning.close()

    before = load_settings(home).extra.get("learn_revision", 0)
    ok(home, "learn", "ignore", "shop.example")
    settings = load_settings(home)
    assert settings.extra["learn_revision"] == before + 1  # what makes a proxy reload
    learning.reload(settings)
    for site in ("shop.example", "blog.example"):
        _visit(learning, site, now)
    learning.close()
    assert sites(home) == 2  # news and blog; shop is never learned from
