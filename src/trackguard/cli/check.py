"""CLI: `trackguard check` (one request or a JSON Lines batch) and `trackguard lint`.

Only argument parsing and output formatting live here; decisions come from the engine.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from trackguard.cli.common import EXIT_USAGE
from trackguard.model import (
    Decision,
    ListRejected,
    RequestType,
    Rule,
    Severity,
    TrackguardError,
)

_TYPES = sorted(t.name.lower() for t in RequestType)  # type: ignore[union-attr]

#: `check` answers like grep: a script can branch on the status alone.
EXIT_BLOCKED = 0
EXIT_ALLOWED = 1
EXIT_ERROR = EXIT_USAGE


class CheckError(click.ClickException):
    """Any error of `check`/`query`: exit 2, so 1 can only mean "allowed"."""

    exit_code = EXIT_ERROR


def request_url(value: str, what: str = "URL") -> tuple[str, str | None]:
    """A URL to decide, and a note when a bare domain was read as `https://DOMAIN/`.

    Pi-hole users ask about domains (`check www.google-analytics.com`); anything that is
    neither a URL nor a host name is an error, never "not a network URL".
    """
    from trackguard.cli.overrides import host_argument

    text = value.strip()
    if "://" in text:
        from trackguard.domain import split_url

        parts = split_url(text)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.host:
            raise ValueError(f"{what} {value!r} is not an http(s) address with a host")
        return text, None
    if what == "URL" and text.split(":", 1)[0].lower() in ("data", "blob", "about"):
        return text, None  # never fetched from the network: allowed, and said so
    host, slash, path = text.partition("/")
    try:
        host = host_argument(host)
    except click.BadParameter:
        raise ValueError(f"{what} {value!r} is neither a URL nor a domain name") from None
    url = f"https://{host}/{path if slash else ''}"
    return url, f"{value} is not a URL: checked {url}"


@dataclass(frozen=True, slots=True)
class Answer:
    """One decision with everything `check` says about it."""

    url: str
    source_url: str | None
    type: str
    decision: Decision
    layer: str
    #: The user's own entry that decided (`user_allow`, `example.com`), if one did.
    override: tuple[str, str] | None = None
    #: A rule that matched this request in another context (first-party, page load).
    would_match: tuple[Rule, str] | None = None
    #: An unanswered suggestion of the personalized list (`suggest` mode): (domain, action).
    suggestion: tuple[str, str] | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"url": self.url, "source_url": self.source_url}
        data["type"] = self.type
        data.update(self.decision.to_json())
        data["layer"] = self.layer
        data["override"] = (
            {"setting": self.override[0], "entry": self.override[1]} if self.override else None
        )
        data["would_match"] = None
        if self.would_match is not None:
            rule, when = self.would_match
            src = rule.source
            data["would_match"] = {
                "rule": src.text,
                "list": src.list_id,
                "line": src.line,
                "when": when,
            }
        data["suggestion"] = None
        if self.suggestion is not None:
            domain, action = self.suggestion
            data["suggestion"] = {"domain": domain, "action": action}
        return data

    def explain(self) -> str:
        d = self.decision
        if self.override is not None:
            setting, entry = self.override
            command = {
                "user_allow": f"trackguard allow {entry}",
                "user_block": f"trackguard block {entry}",
                "exempt_sites": f"trackguard site off {entry}",
                "site_allow": "allow on this site",
            }[setting]
            verdict = "BLOCKED" if d.blocked else "allowed"
            return f"{verdict} by your override `{command}`: {d.reason}"
        from trackguard.policy.decide import explain_decision

        text = explain_decision(d)
        if self.would_match is not None:
            rule, when = self.would_match
            src = rule.source
            text += f"\n  `{src.text}` ({src.list_id}:{src.line}) {when}"
        if self.suggestion is not None:
            domain, action = self.suggestion
            what = {"strip": "stripping cookies of", "path": "blocking a path of"}
            text += (
                f"\n  personalized list suggests {what.get(action, 'blocking')} this host;"
                f" `trackguard learn accept {domain}`"
            )
        return text


#: Why a user setting decided, with the entry that matched.
_REASONS: dict[str, str] = {
    "user-allow": "you always allow {entry} (`--remove` undoes it)",
    "user-block": "you always block {entry} as a third party (`--remove` undoes it)",
    "protection-off": "tracking protection is off (`trackguard settings set protection on`)",
    "site-off": "protection is off on {entry} (`trackguard site on {entry}` turns it on)",
}


class Checker:
    """Decides requests with `--list` files alone, or as the proxy would (the user's
    overrides and switches first, TPL spec §A.8 1-2, then the enabled lists)."""

    def __init__(self, lists: Sequence[str], strict_ie: bool) -> None:
        from trackguard.engine import Engine

        self.settings: Any = None
        if lists:
            self.engine: Any = Engine.from_files(lists, strict_ie=strict_ie)
            return
        from trackguard.learn import store
        from trackguard.learn.service import LearnedPolicy, lists_service
        from trackguard.policy.decide import PolicyConfig
        from trackguard.settings import load_settings, state_dir
        from trackguard.subscriptions import engine_for

        self.settings = load_settings()
        self.engine = engine_for(settings=self.settings)
        config = PolicyConfig.from_settings(self.settings)
        # The proxy's learned layer (learning.md §B7 step 5), read-only: no DNT fetch, no
        # flush; not built (no key file created) while nothing was ever learned or answered.
        home = state_dir()
        self.learned: LearnedPolicy | None = None
        if (home / store.LEARN_DB).exists() or (home / store.POLICY_DB).exists():
            self.learned = LearnedPolicy(lists_service(home, self.settings, self.engine))
            config = dataclasses.replace(config, learned=self.learned)
        self.config = config

    def check(self, url: str, source_url: str | None, type_name: str) -> Answer:
        from trackguard.domain import host_suffixes, same_site, split_url
        from trackguard.policy.decide import decide_for_page

        rtype = RequestType.parse(type_name)
        third_party = False  # a suggestion (and a user block) is for third parties only
        if self.settings is None:
            decision = self.engine.check(url, source_url, rtype)
            layer = "list-block" if decision.blocked else "list-allow"
            if decision.matched is None:
                layer = "no-match"
        else:
            verdict = decide_for_page(
                url, source_url, rtype, config=self.config, matcher=self.engine
            )
            layer = verdict.layer.value
            third_party = verdict.third_party
            if layer in _REASONS:
                setting = {
                    "user-allow": "user_allow",
                    "user-block": "user_block",
                    "site-off": "exempt_sites",
                    "protection-off": "protection",
                }[layer]
                entry = ""
                if setting == "exempt_sites":
                    entry = verdict.site
                elif setting != "protection":
                    entries = set(getattr(self.settings, setting))
                    entry = next((h for h in host_suffixes(verdict.host) if h in entries), "")
                if setting == "user_allow" and not entry:  # allowed on this site only
                    pairs = {p.strip() for p in self.settings.site_allow}
                    hosts = host_suffixes(verdict.host)
                    entry = next((h for h in hosts if f"{verdict.site} {h}" in pairs), "")
                    setting = "site_allow"
                    layer_reason = f"you allow {entry} on {verdict.site} (the dashboard)"
                reason = (
                    layer_reason if setting == "site_allow" else _REASONS[layer].format(entry=entry)
                )
                decision = Decision(verdict.blocked, None, None, reason)
                override = (setting, entry) if setting != "protection" else None
                return Answer(url, source_url, type_name, decision, layer, override)
            if verdict.decision is not None:
                decision = verdict.decision
            else:  # a layer without a list rule (the learner's, ...): name the layer
                why = "no rule matched" if layer == "no-match" else layer.replace("-", " ")
                decision = Decision(verdict.blocked, None, None, why)
        would: tuple[Rule, str] | None = None
        if decision.matched is None and not decision.blocked and split_url(url).host:
            if rtype is RequestType.DOCUMENT:
                other = self.engine.check(url, source_url, RequestType.OTHER)
                if other.blocked and other.matched is not None:
                    would = (other.matched, "would block it as a subresource")
                    reason = "a page load (type document) is never blocked by these rules"
                    decision = Decision(False, None, None, reason)
            elif source_url and same_site(split_url(url).host, split_url(source_url).host):
                other = self.engine.check(url, None, rtype)
                if other.blocked and other.matched is not None:
                    would = (other.matched, "blocks it only as a third-party request")
                    reason = "first-party request (same site as the page)"
                    decision = Decision(False, None, None, reason)
        suggestion = None
        if third_party and layer == "no-match" and self.learned is not None:
            found = self.learned.suggestion(split_url(url).host)
            suggestion = (found[0], found[1].value) if found is not None else None
        return Answer(url, source_url, type_name, decision, layer, None, would, suggestion)


def _type_of(value: object) -> str:
    if value is None:
        return "other"
    if not isinstance(value, str):
        raise ValueError("type must be a string")
    name = value.strip().lower()
    if RequestType.parse(name) is RequestType.OTHER and name != "other":
        raise ValueError(f"unknown type {value!r} (known: {', '.join(_TYPES)})")
    return name


def _batch_line(checker: Checker, lineno: int, line: str) -> dict[str, object]:
    """The output object for one input line: a decision, a skip or an error."""
    if not line.strip():
        return {"input_line": lineno, "skipped": "blank line"}
    try:
        req = json.loads(line)
    except ValueError as exc:
        return {"input_line": lineno, "error": f"not JSON: {exc}", "code": "batch.not-json"}
    if not isinstance(req, dict):
        return {"input_line": lineno, "error": "not a JSON object", "code": "batch.not-object"}
    try:
        url = req.get("url")
        if not isinstance(url, str):
            raise ValueError('"url" is missing or not a string')
        url, _ = request_url(url)
        source = req.get("source_url")
        if source is not None:
            if not isinstance(source, str):
                raise ValueError('"source_url" must be a string')
            source, _ = request_url(source, "source_url")
        type_name = _type_of(req.get("type"))
    except ValueError as exc:
        return {"input_line": lineno, "error": str(exc), "code": "batch.bad-request"}
    return {"input_line": lineno, **checker.check(url, source, type_name).to_json()}


def _run_batch(checker: Checker, infile: IO[str], out: IO[str]) -> tuple[int, int, int]:
    """One output line per input line, in order; returns (lines, blocked, errors)."""
    seen = blocked = errors = 0
    write = out.write
    for lineno, line in enumerate(infile, 1):
        seen += 1
        result = _batch_line(checker, lineno, line)
        if "error" in result:
            errors += 1
        elif result.get("blocked"):
            blocked += 1
        write(json.dumps(result, ensure_ascii=False) + "\n")
    return seen, blocked, errors


@click.command("check")
@click.argument("url", required=False, metavar="URL_OR_DOMAIN")
@click.option("--source", "source_url", help="Page (URL or domain) that made the request.")
@click.option(
    "--type",
    "request_type",
    default="other",
    show_default=True,
    type=click.Choice(_TYPES, case_sensitive=False),
    help="Request type (Adblock Plus names).",
)
@click.option(
    "--list",
    "lists",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="List file to decide with (repeatable). Default: the enabled subscriptions.",
)
@click.option(
    "--requests",
    "requests_file",
    type=click.File("r", encoding="utf-8"),
    help='JSON Lines of {"url", "source_url", "type"}: one output line per input line.',
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--strict-ie", is_flag=True, help="TPL: no http:// ↔ https:// equivalence.")
def check_command(
    url: str | None,
    source_url: str | None,
    request_type: str,
    lists: tuple[str, ...],
    requests_file: IO[str] | None,
    as_json: bool,
    strict_ie: bool,
) -> None:
    """Decide whether tracking protection blocks a request, and say why.

    Without --list: your enabled lists, behind your overrides and switches (as the
    proxy decides). With --list: those lists alone. A request without --source has
    no page and counts as third-party. A bare domain is checked as https://DOMAIN/.

    Exit status, like grep: 0 blocked, 1 allowed, 2 error. With --requests: 0 when
    every line was decided, 2 when any line was an error (it still gets its line).
    """
    if (url is None) == (requests_file is None):
        raise click.UsageError("give either a URL or --requests FILE")
    notes: list[str] = []
    try:
        if url is not None:
            url, note = request_url(url)
            notes += [note] if note else []
        if source_url is not None:
            source_url, note = request_url(source_url, "--source")
            notes += [note] if note else []
    except ValueError as exc:
        raise CheckError(str(exc)) from None
    try:
        checker = Checker(lists, strict_ie)
    except (TrackguardError, OSError) as exc:
        raise CheckError(str(exc)) from exc
    if requests_file is not None:
        out = sys.stdout
        seen, blocked, errors = _run_batch(checker, requests_file, out)
        out.flush()
        if not as_json:
            click.echo(f"{seen} lines, {blocked} blocked, {errors} errors", err=True)
        sys.exit(EXIT_ERROR if errors else 0)
    assert url is not None
    for note in notes:
        click.echo(f"note: {note}", err=True)
    answer = checker.check(url, source_url, request_type.lower())
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        click.echo(answer.explain())
    sys.exit(EXIT_BLOCKED if answer.decision.blocked else EXIT_ALLOWED)


@click.command("lint")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tpl", "abp", "hosts"]),
    help="List syntax (default: detected from the content).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Only errors and warnings, not notices.")
def lint_command(file: str, fmt: str | None, as_json: bool, quiet: bool) -> None:
    """Report every problem in a list and what the engine will and will not apply.

    Exits 1 when the list is unusable as a whole, 0 otherwise.
    """
    from trackguard.engine import Engine
    from trackguard.lists import detect_format, parse_list
    from trackguard.lists.detect import decode_list_bytes

    path = Path(file)
    try:
        text = decode_list_bytes(path.read_bytes())
        format_ = detect_format(text) if fmt is None else fmt
        parsed = parse_list(text, path.name, format_)
    except ListRejected as exc:
        if as_json:
            click.echo(json.dumps({"list": path.name, "rejected": str(exc)}))
        else:
            click.echo(f"{path.name}: rejected: {exc}", err=True)
        sys.exit(1)
    engine = Engine.from_parsed([parsed])
    diagnostics = [*engine.diagnostics, *engine.lint()]
    summary = engine.lists[path.name]
    counts = {s.value: 0 for s in Severity}
    for d in diagnostics:
        counts[d.severity.value] += 1
    if as_json:
        click.echo(
            json.dumps(
                {
                    "list": path.name,
                    "format": parsed.format.value,
                    "rules_applied": summary["rules"],
                    "not_applied": summary["skipped"],
                    "metadata": summary["metadata"],
                    "counts": counts,
                    "diagnostics": [
                        {
                            "line": d.line,
                            "severity": d.severity.value,
                            "code": d.code,
                            "message": d.message,
                        }
                        for d in diagnostics
                    ],
                }
            )
        )
        return
    for d in diagnostics:
        if quiet and d.severity is Severity.NOTICE:
            continue
        click.echo(f"{file}:{d.line}: {d.severity.value}: {d.message} [{d.code}]")
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(summary["skipped"].items())) or "none"
    click.echo(
        f"{path.name}: {parsed.format.value} list, {summary['rules']} rules applied; "
        f"not applied: {skipped}; {counts['error']} errors, {counts['warning']} warnings, "
        f"{counts['notice']} notices"
    )


def register(main: click.Group) -> None:
    """Add `check` and `lint` to the main group."""
    main.add_command(check_command)
    main.add_command(lint_command)
