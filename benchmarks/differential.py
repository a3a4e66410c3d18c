"""Differential test: trackguard against Brave's adblock-rust on real lists and real traffic.

Both engines load EasyList + EasyPrivacy from the shared corpus and decide every
subresource request (type != document) of the real request log
(`<corpus>/requests/real-requests.jsonl.gz`), and, for information, the known tracker
requests of `matched-requests.jsonl.gz` (mostly without a page). Every disagreement is explained
automatically where possible: which filter decided on each side, whether that filter
alone behaves the same in the other engine, and which filter feature it uses.

    python benchmarks/differential.py [--output reports/differential.md]

`tests/engine/test_differential.py` calls `run_differential` and asserts the agreement.
This is a measurement script: it reads the corpus and writes one Markdown report.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import adblock

from trackguard.engine import Engine
from trackguard.lists import parse_list
from trackguard.model import Decision, Rule

REPO_ROOT = Path(__file__).resolve().parent.parent
LISTS = ("easylist.txt", "easyprivacy.txt")
REQUEST_LOG = "requests/real-requests.jsonl.gz"
MATCHED_LOG = "requests/matched-requests.jsonl.gz"
DEFAULT_OUTPUT = REPO_ROOT / "reports" / "differential.md"
EXAMPLES_PER_CATEGORY = 4


def corpus_path() -> Path:
    """`$TRACKGUARD_SHARED/corpus`, else `<repo root>/../shared/corpus` (as tests/conftest.py)."""
    override = os.environ.get("TRACKGUARD_SHARED")
    return (Path(override) if override else REPO_ROOT.parent / "shared") / "corpus"


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    url: str
    source_url: str | None
    type: str


def _read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def read_subresources(corpus: Path) -> list[LoggedRequest]:
    """Every request of the real log except top-level documents, repeats included."""
    return [
        LoggedRequest(r["url"], r["source_url"], r["type"])
        for r in _read_jsonl_gz(corpus / REQUEST_LOG)
        if r["type"] != "document"
    ]


def read_matched(corpus: Path) -> list[LoggedRequest]:
    """The positive-only set: known ad/tracker requests, most of them without a page."""
    return [
        LoggedRequest(r["url"], r["source_url"], r["type"])
        for r in _read_jsonl_gz(corpus / MATCHED_LOG)
    ]


def build_adblock(texts: list[str], *, optimize: bool = True) -> adblock.Engine:
    """adblock-rust as Brave ships it (`optimize=True`), keeping filter texts (`debug`).

    The optimizer merges similar filters into one, so an optimized engine names a group
    (`a <+> b <+> c`); the report asks an unoptimized twin which filter decided.
    """
    filter_set = adblock.FilterSet(debug=True)
    for text in texts:
        filter_set.add_filter_list(text)
    return adblock.Engine(filter_set=filter_set, optimize=optimize)


def check_adblock(
    engine: adblock.Engine, url: str, source_url: str | None, type: str
) -> adblock.BlockerResult:
    """adblock-rust's decision, with a missing page read as third-party.

    Given an empty source URL, adblock-rust skips `$third-party` / `$~third-party` checks
    altogether (both kinds match), so a page-less request goes through the hostname
    entry point with the third-party flag set, as trackguard reads `source_url=None`.
    """
    if source_url:
        return engine.check_network_urls(url, source_url, type)
    host = urlsplit(url).hostname or ""
    return engine.check_network_urls_with_hostnames(url, host, "", type, True)


# --------------------------------------------------------------------------- features


def _options_of(text: str) -> tuple[str, list[str]]:
    """Split a filter into pattern and lower-case option names (`~` kept)."""
    body = text[2:] if text.startswith("@@") else text
    if body.startswith("/") and "/$" not in body and body.endswith("/"):
        return body, []
    pattern, dollar, options = body.rpartition("$")
    names = [o.split("=", 1)[0].strip().lower() for o in options.split(",")]
    if not dollar or not all(n and n.lstrip("~").replace("-", "").isalnum() for n in names):
        return body, []  # a `$` inside the URL pattern, not an option separator
    return pattern, names


def _domain_values(text: str) -> list[str]:
    _, dollar, options = text.rpartition("$")
    values: list[str] = []
    for option in options.split(",") if dollar else []:
        name, _, value = option.partition("=")
        if name.strip().lower() in ("domain", "from", "to", "denyallow"):
            values += value.split("|")
    return values


def feature_of(text: str) -> str:
    """The most specific (rarest) filter feature, to group disagreements by cause."""
    pattern, options = _options_of(text)
    names = {o.lstrip("~") for o in options}
    if pattern.startswith("/") and pattern.endswith("/") and len(pattern) > 1:
        return "regex filter"
    if "badfilter" in names:
        return "$badfilter"
    if names & {"redirect", "redirect-rule", "rewrite"}:
        return "$redirect / $rewrite"
    if any(v.lstrip("~").endswith(".*") for v in _domain_values(text)):
        return "$domain entity wildcard (name.*)"
    if names & {"denyallow", "to", "from"}:
        return "$denyallow / $to / $from"
    if "important" in names:
        return "$important"
    if names & {"csp", "removeparam", "permissions", "header", "replace"}:
        return "$csp / $removeparam / header filters"
    if names & {"document", "popup", "elemhide", "generichide", "genericblock", "ehide"}:
        return "$document / $popup / page-level options"
    if "match-case" in names:
        return "$match-case"
    if "domain" in names:
        return "$domain"
    if names & {"third-party", "3p", "first-party", "1p"}:
        return "$third-party"
    if names:
        return "type options"
    return "plain pattern"


# --------------------------------------------------------------------------- comparison


@dataclass(slots=True)
class Disagreement:
    request: LoggedRequest
    count: int  # how often this exact request occurs in the log
    trackguard: Decision
    adblock_blocked: bool
    adblock_filter: str | None
    adblock_exception: str | None
    category: str = ""
    explanation: str = ""


@dataclass(slots=True)
class LogComparison:
    """Both engines over one request log."""

    log: str
    requests: int
    agreed: int
    trackguard_blocked: int
    adblock_blocked: int
    disagreements: list[Disagreement]

    @property
    def agreement(self) -> float:
        return self.agreed / self.requests if self.requests else 1.0


@dataclass(slots=True)
class DifferentialResult:
    real: LogComparison  # the real request log: what the test asserts on
    matched: LogComparison  # known trackers, mostly page-less: informative
    seconds: dict[str, float] = field(default_factory=dict)


def _explain(
    d: Disagreement,
    corpus_texts: dict[str, list[str]],
    loaded_rules: dict[str, Rule],
    badfilter_targets: set[str],
) -> None:
    request = d.request
    peer_filter = d.adblock_exception if d.trackguard.blocked else d.adblock_filter
    if request.source_url is None and peer_filter and _includes_domains(peer_filter):
        d.category = (
            "no page: adblock-rust applies `$domain=` filters to page-less requests "
            "(trackguard: a `$domain=` include cannot match without a page)"
        )
        return
    if not urlsplit(request.url).path:
        d.category = (
            "path-less URL: trackguard matches the normalised `scheme://host/`, "
            "adblock-rust the raw string"
        )
        return
    if d.trackguard.blocked:
        rule = d.trackguard.matched
        text = rule.source.text if rule else "?"
        if d.adblock_exception:
            exception = d.adblock_exception
            if exception not in loaded_rules:
                d.category = "trackguard does not load the exception adblock-rust applies"
                d.explanation = _diagnostics_of(exception, corpus_texts)
            else:
                feature = feature_of(exception)
                d.category = f"adblock-rust applies an exception trackguard does not: {feature}"
            return
        if text in badfilter_targets:
            d.category = "$badfilter: adblock-rust cancels the rule, trackguard does not"
            return
        peer_alone = build_adblock([text])
        if check_adblock(peer_alone, request.url, request.source_url, request.type).matched:
            d.category = "adblock-rust blocks with the rule alone but not with the full lists"
        else:
            d.category = f"rule semantics differ (trackguard blocks): {feature_of(text)}"
        return

    rule = d.trackguard.matched
    if rule is not None and rule.is_exception:
        feature = feature_of(rule.source.text)
        d.category = f"trackguard applies an exception adblock-rust does not: {feature}"
        return
    text = d.adblock_filter or ""
    if text and text not in loaded_rules:
        d.category = (
            f"trackguard does not load the filter adblock-rust blocks with: {feature_of(text)}"
        )
        d.explanation = _diagnostics_of(text, corpus_texts)
        return
    if text in badfilter_targets:
        d.category = "$badfilter: trackguard cancels the rule, adblock-rust does not"
        return
    ours_alone = Engine.from_text(text + "\n", "abp", list_id="alone")
    if ours_alone.check(request.url, request.source_url, request.type).blocked:
        d.category = "trackguard blocks with the filter alone but not with the full lists"
    else:
        d.category = f"rule semantics differ (adblock-rust blocks): {feature_of(text)}"


def compare(
    log: str, requests: list[LoggedRequest], trackguard: Engine, peer: adblock.Engine
) -> LogComparison:
    """Decide every distinct request once with each engine; weigh by occurrences."""
    agreed = tg_blocked = ab_blocked = 0
    disagreements: list[Disagreement] = []
    for request, count in Counter(requests).items():
        decision = trackguard.check(request.url, request.source_url, request.type)
        verdict = check_adblock(peer, request.url, request.source_url, request.type)
        tg_blocked += count * decision.blocked
        ab_blocked += count * verdict.matched
        if decision.blocked == verdict.matched:
            agreed += count
            continue
        disagreements.append(
            Disagreement(
                request,
                count,
                decision,
                verdict.matched,
                verdict.filter if verdict.matched else None,
                verdict.exception,
            )
        )
    return LogComparison(log, len(requests), agreed, tg_blocked, ab_blocked, disagreements)


def run_differential(
    corpus: Path, *, trackguard: Engine | None = None, explain: bool = True
) -> DifferentialResult:
    """Compare the engines; `trackguard` may be a ready EasyList + EasyPrivacy engine."""
    seconds: dict[str, float] = {}
    texts = [(corpus / "lists" / name).read_text(encoding="utf-8") for name in LISTS]

    if trackguard is None:
        start = time.perf_counter()
        trackguard = Engine.from_files([corpus / "lists" / name for name in LISTS])
        seconds["trackguard build"] = time.perf_counter() - start
    start = time.perf_counter()
    peer = build_adblock(texts)
    seconds["adblock build"] = time.perf_counter() - start

    start = time.perf_counter()
    real = compare(REQUEST_LOG, read_subresources(corpus), trackguard, peer)
    seconds["real log, both engines"] = time.perf_counter() - start
    start = time.perf_counter()
    matched = compare(MATCHED_LOG, read_matched(corpus), trackguard, peer)
    seconds["matched requests, both engines"] = time.perf_counter() - start

    disagreements = real.disagreements + matched.disagreements
    if explain and disagreements:
        start = time.perf_counter()
        _name_adblock_filters(disagreements, build_adblock(texts, optimize=False))
        corpus_texts: dict[str, list[str]] = defaultdict(list)
        loaded_rules: dict[str, Rule] = {}
        badfilter_targets: set[str] = set()
        for name, text in zip(LISTS, texts, strict=True):
            parsed = parse_list(text, name, "abp")
            loaded_rules.update({r.source.text: r for r in parsed.rules})
            lines = text.splitlines()
            for diagnostic in parsed.diagnostics:
                if 0 < diagnostic.line <= len(lines):
                    corpus_texts[lines[diagnostic.line - 1].strip()].append(diagnostic.code)
            for line in lines:
                if "badfilter" in line and "$" in line:
                    badfilter_targets.add(_without_badfilter(line.strip()))
        for d in disagreements:
            _explain(d, corpus_texts, loaded_rules, badfilter_targets)
        seconds["explaining"] = time.perf_counter() - start

    return DifferentialResult(real, matched, seconds)


def _includes_domains(text: str) -> bool:
    _, options = _options_of(text)
    return "domain" in options and any(not v.startswith("~") for v in _domain_values(text))


def _diagnostics_of(text: str, corpus_texts: dict[str, list[str]]) -> str:
    codes = corpus_texts.get(text)
    return (
        f"trackguard diagnostics for that line: {', '.join(codes)}"
        if codes
        else ("trackguard has no diagnostic for that line")
    )


def _name_adblock_filters(disagreements: list[Disagreement], unoptimized: adblock.Engine) -> None:
    for d in disagreements:
        r = d.request
        verdict = check_adblock(unoptimized, r.url, r.source_url, r.type)
        d.adblock_filter = verdict.filter if verdict.matched else None
        d.adblock_exception = verdict.exception
        if verdict.matched != d.adblock_blocked:
            d.explanation = "adblock-rust decides differently without optimize=True"


def _without_badfilter(line: str) -> str:
    pattern, _, options = line.rpartition("$")
    kept = [o for o in options.split(",") if o.strip().lower() != "badfilter"]
    return f"{pattern}${','.join(kept)}" if kept else pattern


# --------------------------------------------------------------------------- report


def _cell(text: str | None, limit: int = 110) -> str:
    if text is None:
        return "–"
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def _rule_ref(decision: Decision) -> str:
    if decision.matched is None:
        return "no rule"
    ref = f"{_cell(decision.rule)} ({decision.list}:{decision.line})"
    if decision.overridden is not None:
        ref += f", overriding {_cell(decision.overridden.source.text)}"
    return ref


#: The code a decision depends on; uncommitted changes elsewhere do not make a report stale.
ENGINE_PATHS = (
    "src/trackguard/engine",
    "src/trackguard/lists",
    "src/trackguard/domain.py",
    "src/trackguard/model.py",
)


def _commit() -> str:
    """HEAD, plus "-modified" if the engine's sources differ from it: which engine this is."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        modified = git("status", "--porcelain", "--", *ENGINE_PATHS)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-modified" if modified else head


def _render_log(comparison: LogComparison, level: str) -> list[str]:
    """Summary table and examples of one log's disagreements, under `level` headings."""
    by_category: dict[str, list[Disagreement]] = defaultdict(list)
    for d in comparison.disagreements:
        by_category[d.category or "unexplained"].append(d)
    ordered = sorted(by_category.items(), key=lambda kv: -sum(d.count for d in kv[1]))
    out = [
        f"* **Agreement: {comparison.agreement:.3%}** ({comparison.agreed:,} of "
        f"{comparison.requests:,} decisions identical; {len(comparison.disagreements):,} "
        "distinct requests differ).",
        f"* Blocked: trackguard {comparison.trackguard_blocked:,}, "
        f"adblock-rust {comparison.adblock_blocked:,}.",
        "",
        "| category | requests | distinct | deciding filters |",
        "|---|---:|---:|---:|",
    ]
    for category, items in ordered:
        filters = {d.trackguard.rule if d.trackguard.blocked else d.adblock_filter for d in items}
        total = sum(d.count for d in items)
        out.append(f"| {category} | {total} | {len(items)} | {len(filters)} |")
    if not ordered:
        out.append("| (none) | 0 | 0 | 0 |")

    for category, items in ordered:
        out += ["", f"{level} {category}", ""]
        seen: set[str | None] = set()
        examples = []
        for d in sorted(items, key=lambda d: -d.count):
            key = d.trackguard.rule if d.trackguard.blocked else d.adblock_filter
            if key in seen:
                continue
            seen.add(key)
            examples.append(d)
            if len(examples) == EXAMPLES_PER_CATEGORY:
                break
        for d in examples:
            r = d.request
            side = "trackguard blocks" if d.trackguard.blocked else "adblock-rust blocks"
            out.append(f"* {side} ×{d.count}: {_cell(r.url)} on {_cell(r.source_url)} ({r.type})")
            out.append(f"  * trackguard: {_rule_ref(d.trackguard)}")
            peer = _cell(d.adblock_filter) if d.adblock_blocked else "allows"
            if d.adblock_exception:
                peer += f", exception {_cell(d.adblock_exception)}"
            out.append(f"  * adblock-rust: {peer}")
            if d.explanation:
                out.append(f"  * {d.explanation}")
    return out


def render_report(result: DifferentialResult) -> str:
    version = getattr(adblock, "__version__", "?")
    out = [
        "# Differential test: trackguard vs adblock-rust",
        "",
        "Generated by `python benchmarks/differential.py`; do not edit by hand.",
        "",
        f"Lists: {', '.join(f'`lists/{n}`' for n in LISTS)} from the shared corpus, loaded into "
        f"trackguard (`Engine.from_files`, commit {_commit()}) and into `adblock` {version} "
        "(Brave's adblock-rust, `optimize=True`). A request without a page goes to adblock-rust "
        "as third-party through `check_network_urls_with_hostnames` (with an empty source URL "
        "it would skip `$third-party` checks altogether).",
        "",
        "Categories are assigned automatically from the filter that decided on each side: "
        "whether trackguard loaded it (and its diagnostics if not), whether it alone decides "
        "the same in the other engine, and its rarest option.",
        "",
        "## Real request log (asserted by the test: at least 99.5 %)",
        "",
        f"Every subresource request (type ≠ document) of `{REQUEST_LOG}`, repeats included. "
        "Corpus summary for adblock-rust: 15,806 blocked.",
        "",
        *_render_log(result.real, "###"),
        "",
        "## Known tracker requests (informative)",
        "",
        f"`{MATCHED_LOG}`: 6,178 ad/tracker requests from the test suites of other engines, "
        "most of them without a page URL and many with a bare host and no path, so they probe "
        "the edges the real log does not reach. Not asserted.",
        "",
        *_render_log(result.matched, "###"),
        "",
        "## Timings (seconds)",
        "",
        *(f"* {name}: {value:.2f}" for name, value in result.seconds.items()),
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--corpus", type=Path, default=corpus_path())
    args = parser.parse_args(argv)
    result = run_differential(args.corpus)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render_report(result), encoding="utf-8")
    for comparison in (result.real, result.matched):
        print(
            f"{comparison.log}: agreement {comparison.agreement:.3%} over "
            f"{comparison.requests} requests, {len(comparison.disagreements)} distinct "
            "disagreements"
        )
    print(f"report: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
