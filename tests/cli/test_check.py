"""`trackguard check` and `trackguard lint` (`trackguard.cli.check`).

Every test passes explicit `--list` files written to tmp_path, so nothing depends on the
user's subscriptions. Most tests use click's CliRunner; a few run the real entry point
(`python -m trackguard`) as a subprocess to pin down exit codes and stream separation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from trackguard.cli import main

PAGE = "https://site.example/"
TPL = "msFilterList\n-d tracker.example\n+d ok.tracker.example\n-d bad/x\n- http://ad2.\n"
ABP = (
    "! Title: Test list\n"
    "||ads.example^$third-party\n"
    "@@||ads.example/ok/\n"
    "example.com##.ad\n"
    "x$foo\n"
    "||script.example^$script\n"
    "||x.example^$csp=script-src 'none'\n"
)
#: `file:line: severity: message [code]`, the lint line format
LINT_LINE = (
    r"(?P<file>.+):(?P<line>\d+): (?P<sev>error|warning|notice): .+ \[(?P<code>[a-z0-9.-]+)\]"
)


def lint_line(line: str) -> re.Match[str] | None:
    return re.fullmatch(LINT_LINE, line)


@pytest.fixture()
def lists(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a.tpl"
    b = tmp_path / "b.txt"
    a.write_text(TPL, encoding="utf-8")
    b.write_text(ABP, encoding="utf-8")
    return a, b


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def with_lists(paths: tuple[Path, ...] | list[Path]) -> list[str]:
    out: list[str] = []
    for p in paths:
        out += ["--list", str(p)]
    return out


# --- one request ----------------------------------------------------------------------------

HUMAN = [
    # URL, extra args, output line
    (
        "https://tracker.example/p.gif",
        ["--source", PAGE],
        "BLOCKED by `-d tracker.example` (a.tpl:2): third-party request matched a block rule",
    ),
    (
        "https://ok.tracker.example/p.gif",
        ["--source", PAGE],
        "allowed by `+d ok.tracker.example` (a.tpl:3), overriding `-d tracker.example` (a.tpl:2)",
    ),
    (
        "https://tracker.example/p.gif",
        ["--source", "https://www.tracker.example/"],
        "allowed: first-party request (same site as the page)\n"
        "  `-d tracker.example` (a.tpl:2) blocks it only as a third-party request",
    ),
    ("https://nothing.example/", [], "allowed: no rule matched"),
    (
        "https://ads.example/x",
        [],  # no page: third-party
        "BLOCKED by `||ads.example^$third-party` (b.txt:2): "
        "third-party request matched a block rule",
    ),
    (
        "https://ads.example/ok/x",
        [],
        "allowed by `@@||ads.example/ok/` (b.txt:3), "
        "overriding `||ads.example^$third-party` (b.txt:2)",
    ),
    (
        "https://ads.example/x",
        ["--source", "https://ads.example/"],
        "allowed: first-party request (same site as the page)\n"
        "  `||ads.example^$third-party` (b.txt:2) blocks it only as a third-party request",
    ),
    (
        "https://script.example/a.js",
        ["--type", "script"],
        "BLOCKED by `||script.example^$script` (b.txt:6): third-party request matched a block rule",
    ),
    (
        "https://script.example/a.js",
        ["--type", "SCRIPT"],
        "BLOCKED by `||script.example^$script` (b.txt:6): third-party request matched a block rule",
    ),
    ("https://script.example/a.js", ["--type", "image"], "allowed: no rule matched"),
    ("https://script.example/a.js", [], "allowed: no rule matched"),  # default type: other
    (
        "https://ad2.example/x",
        [],
        "BLOCKED by `- http://ad2.` (a.tpl:5): third-party request matched a block rule",
    ),
    ("https://ad2.example/x", ["--strict-ie"], "allowed: no rule matched"),
]


@pytest.mark.parametrize(("url", "extra", "line"), HUMAN)
def test_check_human_output(
    lists: tuple[Path, Path], url: str, extra: list[str], line: str
) -> None:
    result = run("check", url, *extra, *with_lists(lists))
    assert result.exit_code == (0 if line.startswith("BLOCKED") else 1)  # grep-like
    assert result.output == line + "\n"


def test_check_json_output(lists: tuple[Path, Path]) -> None:
    result = run(
        "check", "https://ok.tracker.example/x", "--source", PAGE, "--json", *with_lists(lists)
    )
    assert result.exit_code == 1  # allowed
    assert json.loads(result.output) == {
        "url": "https://ok.tracker.example/x",
        "source_url": PAGE,
        "type": "other",
        "blocked": False,
        "rule": "+d ok.tracker.example",
        "list": "a.tpl",
        "line": 3,
        "action": "allow",
        "overridden": {"rule": "-d tracker.example", "list": "a.tpl", "line": 2},
        "reason": "an allow rule overrides the block rule",
        "layer": "list-allow",
        "override": None,
        "would_match": None,
        "suggestion": None,
    }
    assert result.output.count("\n") == 1


def test_list_is_repeatable_and_every_list_counts(lists: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = lists
    c = tmp_path / "c.hosts"
    c.write_text("0.0.0.0 hosts-only.example\n", encoding="utf-8")
    for url, list_id in [
        ("https://tracker.example/", "a.tpl"),
        ("https://ads.example/", "b.txt"),
        ("https://hosts-only.example/", "c.hosts"),
    ]:
        data = json.loads(run("check", url, "--json", *with_lists([a, b, c])).output)
        assert (data["blocked"], data["list"]) == (True, list_id)
    # a list left out no longer decides
    data = json.loads(
        run("check", "https://hosts-only.example/", "--json", *with_lists([a, b])).output
    )
    assert data["blocked"] is False


def test_allow_in_one_list_beats_block_in_another(tmp_path: Path) -> None:
    block = tmp_path / "block.txt"
    allow = tmp_path / "allow.tpl"
    block.write_text("||ads.partner.example^\n", encoding="utf-8")
    allow.write_text("msFilterList\n+d partner.example\n", encoding="utf-8")
    data = json.loads(
        run("check", "https://ads.partner.example/", "--json", *with_lists([block, allow])).output
    )
    assert (data["blocked"], data["list"], data["overridden"]["list"]) == (
        False,
        "allow.tpl",
        "block.txt",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give either a URL or --requests FILE"),
        (["https://x.example/", "--requests", "-"], "give either a URL or --requests FILE"),
        (["https://x.example/", "--type", "bogus"], "Invalid value for '--type'"),
        (["https://x.example/", "--list", "/no/such/file.txt"], "does not exist"),
    ],
)
def test_check_usage_errors(lists: tuple[Path, Path], args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["check", *args, *with_lists(lists[:1])])
    assert result.exit_code == 2
    assert message in result.output


def test_check_with_a_rejected_list_fails_cleanly(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tpl"
    empty.write_text("msFilterList\n# nothing\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "https://x.example/", "--list", str(empty)])
    assert result.exit_code == 2  # an error, never "allowed"
    assert "tpl.no-valid-rule" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_check_with_a_non_utf8_list_fails_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"||ads.example^\n\xff\xfe\n")
    result = CliRunner().invoke(main, ["check", "https://x.example/", "--list", str(bad)])
    assert result.exit_code == 2
    assert "not UTF-8" in result.output


# --- batch ----------------------------------------------------------------------------------

BATCH = [
    {"url": "https://tracker.example/a", "source_url": PAGE, "type": "image"},
    "not json",
    {"url": "https://ok.tracker.example/a", "source_url": PAGE},
    {"url": 5},
    {"source_url": PAGE},
    {"url": "https://ads.example/x"},  # no page: third-party
    [1, 2],
    {"url": "https://ads.example/x", "source_url": "https://ads.example/"},
    {"url": "https://script.example/a.js", "source_url": PAGE, "type": "script"},
    {"url": "https://script.example/a.js", "source_url": PAGE, "type": "image"},
    {"url": "https://nothing.example/", "source_url": None, "type": None},
    {"url": "https://ads.example/x", "type": 7},
]
EXPECTED = [
    # blocked / error, for each input line in order
    True,
    "error",
    False,
    "error",
    "error",
    True,
    "error",
    False,
    True,
    False,
    False,
    "error",
]


def _write_batch(path: Path) -> None:
    lines = [item if isinstance(item, str) else json.dumps(item) for item in BATCH]
    lines.insert(3, "")  # a blank line gets its own "skipped" line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_batch_json_keeps_order_and_answers_every_line(
    lists: tuple[Path, Path], tmp_path: Path
) -> None:
    infile = tmp_path / "in.jsonl"
    _write_batch(infile)
    result = run("check", "--requests", infile, "--json", *with_lists(lists))
    assert result.exit_code == 2  # some lines failed
    out = [json.loads(line) for line in result.output.splitlines()]
    assert len(out) == len(BATCH) + 1  # one output line per input line, the blank one too
    assert [o["input_line"] for o in out] == list(range(1, len(BATCH) + 2))
    assert out[3] == {"input_line": 4, "skipped": "blank line"}
    del out[3]
    got = ["error" if "error" in o else o["blocked"] for o in out]
    assert got == EXPECTED
    assert out[0]["rule"] == "-d tracker.example"
    assert out[2]["overridden"] == {"rule": "-d tracker.example", "list": "a.tpl", "line": 2}
    assert out[8]["rule"] == "||script.example^$script"
    # errors are objects with the input line (blank line 4 counted), a reason and a code
    errors = [o for o in out if "error" in o]
    assert [e["input_line"] for e in errors] == [2, 5, 6, 8, 13]
    assert "url" in errors[1]["error"]
    assert all(set(e) == {"input_line", "error", "code"} for e in errors)
    assert all("Error" not in e["error"] for e in errors)  # no raw Python exception names


def test_batch_matches_single_checks(lists: tuple[Path, Path], tmp_path: Path) -> None:
    infile = tmp_path / "in.jsonl"
    good = [item for item in BATCH if isinstance(item, dict) and isinstance(item.get("url"), str)]
    good = [g for g in good if not isinstance(g.get("type"), int)]
    infile.write_text("".join(json.dumps(g) + "\n" for g in good), encoding="utf-8")
    batch = [
        json.loads(line)
        for line in run(
            "check", "--requests", infile, "--json", *with_lists(lists)
        ).output.splitlines()
    ]
    for item, answer in zip(good, batch, strict=True):
        del answer["input_line"]
        args = ["check", item["url"], "--json", *with_lists(lists)]
        if item.get("source_url"):
            args += ["--source", item["source_url"]]
        if item.get("type"):
            args += ["--type", item["type"]]
        single = json.loads(run(*args).output)
        assert single == answer


def _run_module(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trackguard", *map(str, args)],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def test_batch_from_stdin_as_a_subprocess(lists: tuple[Path, Path]) -> None:
    lines = "".join(json.dumps(item) + "\n" for item in BATCH[:1] + BATCH[5:6] + BATCH[7:8])
    proc = _run_module("check", "--requests", "-", *with_lists(lists), stdin=lines)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["blocked"] for line in proc.stdout.splitlines()] == [True, True, False]
    # without --json the count goes to stderr, so stdout stays pure JSON Lines
    assert proc.stderr.strip() == "3 lines, 2 blocked, 0 errors"


def test_single_check_as_a_subprocess(lists: tuple[Path, Path]) -> None:
    proc = _run_module(
        "check", "https://tracker.example/p.gif", "--source", PAGE, "--json", *with_lists(lists)
    )
    assert proc.returncode == 0, proc.stderr  # 0: blocked
    assert json.loads(proc.stdout)["rule"] == "-d tracker.example"
    assert proc.stderr == ""


# --- lint -----------------------------------------------------------------------------------


def test_lint_prints_one_line_per_diagnostic_and_a_summary(lists: tuple[Path, Path]) -> None:
    _, b = lists
    result = run("lint", b)
    assert result.exit_code == 0
    *diagnostics, summary = result.output.splitlines()
    parsed = [lint_line(line) for line in diagnostics]
    assert all(parsed), diagnostics
    assert [(m["file"], m["line"], m["sev"], m["code"]) for m in parsed if m] == [
        (str(b), "5", "error", "abp.unknown-option"),
        (str(b), "7", "notice", "abp.not-applied.csp"),
    ]
    assert summary == (
        "b.txt: abp list, 3 rules applied; not applied: comment 1, cosmetic 1, csp 1; "
        "1 errors, 0 warnings, 1 notices"
    )


def test_lint_tpl(lists: tuple[Path, Path]) -> None:
    a, _ = lists
    result = run("lint", a)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    first = lint_line(lines[0])
    assert first is not None
    assert (first["file"], first["line"], first["sev"], first["code"]) == (
        str(a),
        "4",
        "error",
        "tpl.bad-domain",
    )
    assert lines[-1].startswith("a.tpl: tpl list, 3 rules applied;")


def test_lint_quiet_hides_notices(lists: tuple[Path, Path]) -> None:
    _, b = lists
    output = run("lint", "-q", b).output
    assert "[abp.unknown-option]" in output
    assert "[abp.not-applied.csp]" not in output


def test_lint_json(lists: tuple[Path, Path]) -> None:
    _, b = lists
    result = run("lint", "--json", b)
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["list"] == "b.txt"
    assert data["format"] == "abp"
    assert data["rules_applied"] == 3
    assert data["not_applied"] == {"comment": 1, "cosmetic": 1, "csp": 1}
    assert data["metadata"] == {"title": "Test list"}
    assert data["counts"] == {"error": 1, "warning": 0, "notice": 1}
    assert [(d["line"], d["severity"], d["code"]) for d in data["diagnostics"]] == [
        (5, "error", "abp.unknown-option"),
        (7, "notice", "abp.not-applied.csp"),
    ]


def test_lint_format_option_overrides_detection(tmp_path: Path) -> None:
    domains = tmp_path / "domains.txt"
    domains.write_text("ads.example\ntracker.example\n", encoding="utf-8")
    as_hosts = json.loads(run("lint", "--json", "--format", "hosts", domains).output)
    as_abp = json.loads(run("lint", "--json", "--format", "abp", domains).output)
    assert (as_hosts["format"], as_abp["format"]) == ("hosts", "abp")
    assert as_hosts["rules_applied"] == as_abp["rules_applied"] == 2


@pytest.mark.parametrize(
    ("text", "code"),
    [("msFilterList\n# nothing\n", "tpl.no-valid-rule"), ("! only a comment\n", "no valid filter")],
)
def test_lint_rejected_list_exits_1(tmp_path: Path, text: str, code: str) -> None:
    path = tmp_path / "rejected.txt"
    path.write_text(text, encoding="utf-8")
    proc = _run_module("lint", path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("rejected.txt: rejected: ")
    assert code in proc.stderr
    as_json = CliRunner().invoke(main, ["lint", "--json", str(path)])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["list"] == "rejected.txt"
    assert code in data["rejected"]


def test_lint_non_utf8_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("||caf\xe9.example^\n".encode("latin-1"))
    result = CliRunner().invoke(main, ["lint", str(path)])
    assert result.exit_code == 1
    assert "not UTF-8" in result.output


def test_lint_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["lint", str(tmp_path / "missing.txt")])
    assert result.exit_code == 2


def test_without_list_the_users_overrides_and_site_switch_apply(tmp_path: Path) -> None:
    """`check` without --list decides as the proxy would: overrides, then switches, then lists."""
    env = {**os.environ, "TRACKGUARD_HOME": str(tmp_path / "home")}
    ga = ["https://www.google-analytics.com/collect", "--source", "https://news.example/"]

    def check(*args: str) -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, "-m", "trackguard", "check", *args, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        result: dict[str, object] = json.loads(out.stdout)
        assert out.returncode == (0 if result["blocked"] else 1), out.stderr  # grep-like
        return result

    def run(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "trackguard", *args], env=env, check=True, capture_output=True
        )

    assert check(*ga)["blocked"] is True  # the built-in list
    run("site", "off", "news.example")
    off = check(*ga)
    assert off["blocked"] is False and "protection is off on news.example" in str(off["reason"])
    assert off["override"] == {"setting": "exempt_sites", "entry": "news.example"}
    run("site", "on", "news.example")
    run("allow", "google-analytics.com")
    assert check(*ga)["blocked"] is False
    run("block", "tracker.example")
    blocked = check("https://tracker.example/x", "--source", "https://news.example/")
    assert blocked["blocked"] is True and blocked["rule"] is None
    # a first-party request is never blocked by a user block
    assert (
        check("https://tracker.example/x", "--source", "https://tracker.example/")["blocked"]
        is False
    )


def test_a_rule_switched_off_no_longer_applies(tmp_path: Path) -> None:
    env = {**os.environ, "TRACKGUARD_HOME": str(tmp_path / "home")}
    ga = ["https://www.google-analytics.com/collect", "--source", "https://news.example/"]

    def tg(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "trackguard", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr  # check: 0 blocked, 1 allowed
        return done.stdout

    assert json.loads(tg("check", *ga, "--json"))["rule"] == "-d google-analytics.com"
    tg("rule", "off", "-d google-analytics.com")
    assert tg("rule", "list").splitlines() == ["-d google-analytics.com"]
    assert json.loads(tg("check", *ga, "--json"))["blocked"] is False
    tg("rule", "on", "-d google-analytics.com")
    assert json.loads(tg("check", *ga, "--json"))["blocked"] is True


# --- issue 11: a command line people can trust ---------------------------------------------

HTML = "<!DOCTYPE html>\n<html>\n<head><title>My lists</title></head>\n<body>\n<a href=x>x</a>\n"


def test_a_web_page_is_no_list_anywhere(tmp_path: Path) -> None:
    """Point 3: one validation for every entry point (lists add, lint, check, proxy)."""
    from cli_helpers import tg

    page = tmp_path / "page.html"
    page.write_text(HTML, encoding="utf-8")
    lint_run = tg(tmp_path, "lint", page)
    assert lint_run.returncode == 1
    assert "page.html: rejected: this is a web page (HTML), not a list" in lint_run.stderr
    assert "rules applied" not in lint_run.stdout
    check_run = tg(tmp_path, "check", "https://x.example/", "--list", page)
    assert check_run.returncode == 2 and "web page (HTML), not a list" in check_run.stderr
    added = tg(tmp_path, "lists", "add", page)
    assert added.returncode == 1 and "web page (HTML), not a list" in added.stderr


def test_a_utf16_list_gets_a_hint(tmp_path: Path) -> None:
    """Point 10: a UTF-16 list says what it is and how to convert it."""
    from cli_helpers import tg

    utf16 = tmp_path / "utf16.tpl"
    utf16.write_bytes("msFilterList\r\n-d tracker.example\r\n".encode("utf-16"))
    for args in (["lint", utf16], ["check", "https://tracker.example/", "--list", utf16]):
        done = tg(tmp_path, *args)
        assert done.returncode in (1, 2)
        assert "UTF-16" in done.stderr and "iconv -f UTF-16 -t UTF-8" in done.stderr


def test_check_a_bare_domain_and_grep_like_exit_status(tmp_path: Path) -> None:
    """Point 5: a domain is checked as https://DOMAIN/ (and says so); 0 blocked, 1
    allowed, 2 error; a garbage --source is an error."""
    from cli_helpers import tg

    blocked = tg(tmp_path, "check", "www.google-analytics.com")
    assert blocked.returncode == 0
    assert blocked.stdout.startswith("BLOCKED by `-d google-analytics.com` (builtin:")
    assert "checked https://www.google-analytics.com/" in blocked.stderr
    allowed = tg(tmp_path, "check", "nothing.example", "--source", "news.example", "--json")
    assert allowed.returncode == 1
    assert json.loads(allowed.stdout)["url"] == "https://nothing.example/"
    for args, message in [
        (["www.google-analytics.com", "--source", "garbage text"], "--source 'garbage text'"),
        (["not a url"], "neither a URL nor a domain"),
        (["ftp://x.example/"], "not an http(s) address"),
        (["https://x.example/", "--type", "scrpt"], "Invalid value for '--type'"),
    ]:
        done = tg(tmp_path, "check", *args)
        assert done.returncode == 2, (args, done.stdout)
        assert message in done.stderr


def test_check_says_which_rule_matched_a_page_load_or_first_party_request(
    lists: tuple[Path, Path], tmp_path: Path
) -> None:
    """Point 5: `--type document` and first-party requests no longer say "no rule
    matched" when a rule matched the request in its third-party, subresource form."""
    from cli_helpers import tg

    doc = tg(
        tmp_path,
        "check",
        "https://tracker.example/",
        "--type",
        "document",
        "--source",
        PAGE,
        *with_lists(lists),
    )
    assert doc.returncode == 1
    assert "no rule matched" not in doc.stdout
    assert "`-d tracker.example` (a.tpl:2) would block it as a subresource" in doc.stdout
    first = tg(
        tmp_path,
        "check",
        "https://tracker.example/x",
        "--source",
        "https://www.tracker.example/",
        "--json",
        *with_lists(lists),
    )
    data = json.loads(first.stdout)
    assert (first.returncode, data["blocked"]) == (1, False)
    assert data["reason"] == "first-party request (same site as the page)"
    assert data["would_match"] == {
        "rule": "-d tracker.example",
        "list": "a.tpl",
        "line": 2,
        "when": "blocks it only as a third-party request",
    }


def test_batch_contract_as_a_subprocess(lists: tuple[Path, Path], tmp_path: Path) -> None:
    """Point 8: 7 lines in, 7 lines out; errors are JSON with the input line; a typo in
    a type is an error; the exit status is 2 when any line failed."""
    from cli_helpers import tg

    lines = [
        json.dumps({"url": "https://tracker.example/a", "source_url": PAGE}),
        "",
        json.dumps({"url": "https://ads.example/x", "type": "scrpt"}),
        "{broken",
        json.dumps({"url": "https://nothing.example/"}),
        json.dumps({"url": "www.tracker.example", "source_url": "news.example"}),
        json.dumps({"source_url": PAGE}),
    ]
    done = tg(
        tmp_path, "check", "--requests", "-", *with_lists(lists), stdin="\n".join(lines) + "\n"
    )
    assert done.returncode == 2
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == 7 and [o["input_line"] for o in out] == list(range(1, 8))
    assert out[0]["blocked"] is True and out[4]["blocked"] is False and out[5]["blocked"] is True
    assert out[1] == {"input_line": 2, "skipped": "blank line"}
    assert out[2]["code"] == "batch.bad-request" and "unknown type 'scrpt'" in out[2]["error"]
    assert out[3]["code"] == "batch.not-json"
    assert out[6]["error"] == '"url" is missing or not a string'
    assert done.stderr.strip() == "7 lines, 2 blocked, 3 errors"
    good = tg(tmp_path, "check", "--requests", "-", *with_lists(lists), stdin=lines[0] + "\n")
    assert good.returncode == 0  # every line decided
