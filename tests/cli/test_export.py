"""`trackguard export`, run as a real subprocess with its own state folder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from cli_helpers import tg

LIST = "[Adblock Plus 2.0]\n||a.example^\n||b.example^$third-party\n||c.example^$popup\n"


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return tg(home, *args, columns=200)


def summary(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_export_list_file_writes_output_and_report(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text(LIST)
    out = tmp_path / "out.conf"
    data = summary(
        run(
            tmp_path / "home",
            "export",
            "--format",
            "dnsmasq",
            "--list",
            str(tmp_path / "l.txt"),
            "--out",
            str(out),
            "--json",
        )
    )
    assert (data["rules_in"], data["exact"], data["dropped"]) == (3, 1, 2)
    assert "address=/a.example/#" in out.read_text().splitlines()
    report = json.loads((tmp_path / "out.conf.report.json").read_text())
    assert {r["rule"] for r in report["not_exact"]} == {
        "||b.example^$third-party",
        "||c.example^$popup",
    }
    text = run(
        tmp_path / "home",
        "export",
        "--format",
        "hosts",
        "--list",
        str(tmp_path / "l.txt"),
        "--out",
        str(tmp_path / "hosts"),
    )
    assert text.returncode == 0
    assert "narrowed" in text.stdout and "hosts-no-subdomains" in text.stdout


def test_default_is_the_enabled_subscriptions_and_switched_off_rules(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "mine.txt").write_text(LIST)
    assert run(home, "lists", "add", str(tmp_path / "mine.txt")).returncode == 0
    assert run(home, "rule", "off", "||a.example^").returncode == 0
    data = summary(run(home, "export", "--format", "dnr", "--out", str(tmp_path / "dnr"), "--json"))
    assert data["lists"] == ["builtin", "mine"]
    reasons = {r["reason"]: r["count"] for r in data["reasons"]}
    assert reasons["disabled-by-user"] == 1
    index = json.loads((tmp_path / "dnr" / "rulesets.json").read_text())
    assert [r["list"] for r in index] == ["builtin", "mine"]
    assert run(home, "lists", "disable", "mine").returncode == 0
    data = summary(
        run(home, "export", "--format", "tpl", "--out", str(tmp_path / "o.tpl"), "--json")
    )
    assert data["lists"] == ["builtin"]
    assert data["exact"] == data["rules_in"]


def test_errors_are_reported_with_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text(LIST)
    (tmp_path / "bad.tpl").write_text("msFilterList\n-dbad\n")
    home = tmp_path / "home"
    usage = run(home, "export", "--format", "hosts", "--list", str(tmp_path / "l.txt"))
    assert usage.returncode == 2 and "--out" in usage.stderr
    wrong = run(
        home,
        "export",
        "--format",
        "hosts",
        "--list",
        str(tmp_path / "l.txt"),
        "--extension",
        str(tmp_path / "x"),
    )
    assert wrong.returncode == 2 and "--format dnr" in wrong.stderr
    rejected = run(
        home,
        "export",
        "--format",
        "abp",
        "--list",
        str(tmp_path / "bad.tpl"),
        "--out",
        str(tmp_path / "o.txt"),
    )
    assert rejected.returncode == 1 and "bad.tpl: rejected" in rejected.stderr
