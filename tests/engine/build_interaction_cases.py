"""Build `interaction_cases.json`: hand cases plus cases from the real request log.

    .venv/bin/python tests/engine/build_interaction_cases.py [--check]

Hand cases come from `interaction_hand_cases.py`; each ABP-only one gets adblock-rust's
verdict. Real-log cases are requests of `<corpus>/requests/real-requests.jsonl.gz` decided
by EasyList + EasyPrivacy in both engines, chosen where a rule must NOT apply or where
rules interact: an exception lifted a block; a block rule would apply without the page
but the page spares the request (first party, `$domain=`, page-scoped exceptions); a
`$domain=` rule blocked on one page and the same URL passed on another page; a request a
`$badfilter` rescued. At most `PER_RULE` cases per deciding rule, in log order, so the
file is stable and small. `--check` prints disagreements with the expectations and exits
non-zero instead of writing. Not collected by pytest (no `test_` prefix).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import adblock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # corpus_paths
sys.path.insert(0, str(HERE))

from interaction_hand_cases import HAND_CASES  # noqa: E402

from corpus_paths import corpus_path  # noqa: E402
from trackguard.engine import Engine  # noqa: E402
from trackguard.model import Decision, ListSource  # noqa: E402

OUTPUT = HERE / "interaction_cases.json"
LISTS = ("easylist.txt", "easyprivacy.txt")
PER_RULE = 2


def abp_only(lists: dict[str, list[str]]) -> bool:
    return all(lines and lines[0].startswith("[Adblock Plus") for lines in lists.values())


def peer_engine(texts: list[str]) -> adblock.Engine:
    filter_set = adblock.FilterSet(debug=True)
    for text in texts:
        filter_set.add_filter_list(text)
    return adblock.Engine(filter_set=filter_set, optimize=False)


def peer_verdict(
    engine: adblock.Engine, url: str, source_url: str | None, type: str
) -> dict[str, Any]:
    """As `benchmarks/differential.py`: a page-less request is third-party to adblock-rust."""
    if source_url:
        r = engine.check_network_urls(url, source_url, type)
    else:
        host = url.split("/")[2].split(":")[0]
        r = engine.check_network_urls_with_hostnames(url, host, "", type, True)
    return {"blocked": r.matched, "filter": r.filter, "exception": r.exception}


def ours(d: Decision) -> dict[str, Any]:
    return {
        "blocked": d.blocked,
        "rule": d.rule,
        "overridden": d.overridden.source.text if d.overridden else None,
    }


def engine_of(lists: dict[str, list[str]]) -> Engine:
    return Engine.from_sources(
        [ListSource(name, "\n".join(lines) + "\n") for name, lines in lists.items()]
    )


def hand_cases() -> tuple[list[dict[str, Any]], list[str]]:
    out, problems = [], []
    for c in HAND_CASES:
        got = ours(engine_of(c["lists"]).check(c["url"], c["source_url"], c["type"]))
        want = {k: c[k] for k in ("blocked", "rule", "overridden")}
        if got != want:
            problems.append(f"{c['id']}: trackguard {got}, expected {want}")
        peer = None
        if abp_only(c["lists"]):
            texts = ["\n".join(lines) + "\n" for lines in c["lists"].values()]
            peer = peer_verdict(peer_engine(texts), c["url"], c["source_url"], c["type"])
            if (peer["blocked"] != c["blocked"]) != bool(c["adblock_differs"]):
                problems.append(
                    f"{c['id']}: adblock-rust {peer}, expected {want}, "
                    f"known difference: {c['adblock_differs']}"
                )
        out.append({**c, "adblock": peer})
    return out, problems


def real_log_cases(corpus: Path) -> list[dict[str, Any]]:
    with gzip.open(corpus / "requests" / "real-requests.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    texts = [(corpus / "lists" / name).read_text(encoding="utf-8") for name in LISTS]
    engine = Engine.from_files([corpus / "lists" / name for name in LISTS])
    peer = peer_engine(texts)
    badfilter_targets = {
        line.strip().replace("$badfilter", "").replace(",badfilter", "")
        for text in texts
        for line in text.splitlines()
        if "badfilter" in line and "$" in line and not line.startswith("!")
    }  # none in the August 2026 lists (they drop badfiltered filters as `! [badfilter]`)
    alone = (
        Engine.from_text("\n".join(sorted(badfilter_targets)) + "\n", "abp", list_id="bad")
        if badfilter_targets
        else None
    )

    picked: dict[str, list[dict[str, Any]]] = defaultdict(list)
    per_rule: Counter[tuple[str, str]] = Counter()
    seen: set[tuple[str, str | None, str]] = set()
    blocked_by_domain: dict[str, tuple[str, dict[str, Any]]] = {}

    def add(
        kind: str, key_rule: str, row: dict[str, Any], d: Decision, why: str, **extra: Any
    ) -> None:
        if per_rule[(kind, key_rule)] >= PER_RULE:
            return
        per_rule[(kind, key_rule)] += 1
        request = (row["url"], row["source_url"], row["type"])
        picked[kind].append(
            {
                "id": f"{kind}-{len(picked[kind]) + 1}",
                "source": f"real log: {row['origin']}",
                "why": why,
                "url": row["url"],
                "source_url": row["source_url"],
                "type": row["type"],
                **ours(d),
                "adblock": peer_verdict(peer, *request),
                **extra,
            }
        )

    for row in rows:
        request = (row["url"], row["source_url"], row["type"])
        if row["type"] == "document" or request in seen:
            continue
        seen.add(request)
        d = engine.check(*request)
        if d.overridden is not None:
            add("exception", d.rule or "", row, d, "an exception lifts a block rule")
        if not d.blocked and row["source_url"]:
            pageless = engine.check(row["url"], None, row["type"])
            if pageless.blocked:
                add("page-spares", pageless.rule or "", row, d,
                    "without the page, a block rule would apply",
                    pageless_rule=pageless.rule)  # fmt: skip
        if d.blocked and d.rule and "domain=" in d.rule and "domain=~" not in d.rule:
            blocked_by_domain.setdefault(row["url"], (d.rule, row))
        if not d.blocked and alone is not None and alone.check(*request).blocked:
            add("badfilter", alone.check(*request).rule or "", row, d,
                "only a rule cancelled by `$badfilter` matches it")  # fmt: skip
    # `$domain=` pairs: blocked on one page, the same URL passes on another page.
    for row in rows:
        request = (row["url"], row["source_url"], row["type"])
        if row["url"] not in blocked_by_domain or row["type"] == "document":
            continue
        rule, blocked_row = blocked_by_domain[row["url"]]
        d = engine.check(*request)
        if not d.blocked and per_rule[("domain-pair", rule)] < PER_RULE:
            first = (blocked_row["url"], blocked_row["source_url"], blocked_row["type"])
            add("domain-pair", rule, blocked_row, engine.check(*first),
                "the `$domain=` rule applies on this page")  # fmt: skip
            per_rule[("domain-pair", rule)] -= 1  # the pair counts once
            add("domain-pair", rule, row, d, "the same URL passes on another page")
    return [c for kind in sorted(picked) for c in picked[kind]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report problems, write nothing")
    args = parser.parse_args()
    hand, problems = hand_cases()
    for problem in problems:
        print(problem)
    if args.check or problems:
        return 1 if problems else 0
    real = real_log_cases(corpus_path())
    OUTPUT.write_text(
        json.dumps({"hand": hand, "real_log": real}, indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    print(f"{len(hand)} hand cases, {len(real)} real-log cases -> {OUTPUT.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
