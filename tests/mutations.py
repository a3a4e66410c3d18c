"""Re-run the hand-made mutations of issue 17: each one must make its named tests fail.

Usage (from the repository root):

    .venv/bin/python tests/mutations.py            # every mutation
    .venv/bin/python tests/mutations.py --list     # ids and what they break
    .venv/bin/python tests/mutations.py ID [ID...]  # some of them

Each mutation replaces one exact snippet of a file, or a few (each must occur exactly once,
else the mutation is reported STALE: the code moved and the entry needs updating), runs the named
tests one by one, and restores the file whatever happens. A mutation is CAUGHT when every
named test fails (pytest exit code 1, or 2 for a collection error); SURVIVED means one of
them still passes: a gap, or a test listed that does not really guard the behaviour.
`env` mutations change the environment instead of a file (e.g. no shared corpus).
The same list, with the reasoning, is in `tests/MUTATIONS.md`. This script is not
collected by pytest (its name does not start with `test_`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    id: str
    what: str  # the behaviour the mutation breaks, as a user would feel it
    #: pytest node ids (relative to the repo) that must fail, each run on its own; an entry
    #: may add pytest options (`FILE -k NAME`: a node id cannot name a test whose module
    #: fails to collect, which is how some mutations are caught).
    tests: tuple[str, ...]
    file: str = ""  # relative to the repo; "" for an env-only mutation
    old: str = ""
    new: str = ""
    env: dict[str, str] = field(default_factory=dict)
    more: tuple[tuple[str, str, str], ...] = ()  # further (file, old, new) edits


MUTATIONS: list[Mutation] = [
    Mutation(
        "make-matcher-broken-engine",
        "Engine.from_sources raises: the proxy tests must not fall back to a fake engine",
        ("tests/proxy/test_server.py",),
        "src/trackguard/engine/__init__.py",
        "        sources, fmts, key = _keyed(sources, strict_ie, frozenset(disabled_rules))\n",
        '        raise RuntimeError("mutation: broken engine")\n',
    ),
    Mutation(
        "decide-drops-the-page",
        "policy.decide asks the engine without the page (source_url=None): a listed site's "
        "own scripts get blocked and $domain= rules stop applying (issue 17.1)",
        ("tests/proxy/test_real_engine.py", "tests/policy/test_decide_engine.py"),
        "src/trackguard/policy/decide.py",
        "context is not None else None\n    third_party = is_third_party(host, site)\n"
        "    blocked, layer, decision = _layers(\n        url, source_url, rtype,",
        "context is not None else None\n    third_party = is_third_party(host, site)\n"
        "    blocked, layer, decision = _layers(\n        url, None, rtype,",
    ),
    Mutation(
        "decide-for-page-drops-the-page",
        "`trackguard check --source PAGE` judges without the page: a listed site's own "
        "resources are reported blocked and `$domain=` rules ignored",
        (
            "tests/policy/test_decide_engine.py",
            "tests/cli/test_check_page.py",
        ),
        "src/trackguard/policy/decide.py",
        "        url, source_url, rtype, host, site, third_party, config, matcher\n    )\n"
        "    return Verdict(blocked, layer, rtype, host, site, decision, source_url=source_url)",
        "        url, None, rtype, host, site, third_party, config, matcher\n    )\n"
        "    return Verdict(blocked, layer, rtype, host, site, decision, source_url=source_url)",
    ),
    Mutation(
        "engine-key-without-list-digest",
        "a running proxy misses `trackguard lists update`: the key leaves out the lists' "
        "digests (issue 17.3)",
        (
            "tests/proxy/test_proxy_service.py::"
            "test_list_updates_and_rule_switches_reach_a_running_proxy",
        ),
        "src/trackguard/subscriptions/cache.py",
        '"lists": [(s.id, s.format.value, s.sha256) for s in enabled],',
        '"lists": [(s.id, s.format.value) for s in enabled],',
    ),
    Mutation(
        "engine-key-without-disabled-rules",
        "a running proxy misses `trackguard rule off/on`: the key leaves out the disabled "
        "rules (issue 17.3)",
        (
            "tests/proxy/test_proxy_service.py::"
            "test_list_updates_and_rule_switches_reach_a_running_proxy",
        ),
        "src/trackguard/subscriptions/cache.py",
        '        "disabled_rules": sorted(settings.disabled_rules),\n',
        "",
    ),
    Mutation(
        "engine-ignores-exceptions",
        "every `@@` exception ignored: sites break that the lists meant to keep working "
        "(issue 17.6)",
        (
            "tests/engine/test_differential.py::test_agrees_with_adblock_rust_on_real_requests",
            "tests/engine/test_differential.py::test_trackguard_blocked_count_is_pinned",
            "tests/engine/test_interactions.py::test_real_log_cases",
            "tests/engine/test_interactions.py::test_hand_case",
        ),
        "src/trackguard/engine/matcher.py",
        "exception = self._allow.first(ctx) if self._has_allow else None",
        "exception = None",
    ),
    Mutation(
        "engine-ignores-third-party",
        "`$third-party` / `$~third-party` ignored: a site's own resources get blocked (issue 17.6)",
        (
            "tests/engine/test_differential.py::test_agrees_with_adblock_rust_on_real_requests",
            "tests/engine/test_differential.py::test_trackguard_blocked_count_is_pinned",
        ),
        "src/trackguard/engine/filters.py",
        "    if party and (party == 2) != (ctx.third",
        "    if False and (party == 2) != (ctx.third",
    ),
    Mutation(
        "engine-ignores-type-options",
        "type options (`$script`, `$~image`, ...) ignored: every type matches (issue 17.6)",
        (
            "tests/engine/test_differential.py::test_agrees_with_adblock_rust_on_real_requests",
            "tests/engine/test_differential.py::test_trackguard_blocked_count_is_pinned",
        ),
        "src/trackguard/engine/request.py",
        "        self.type = type_bit\n",
        "        self.type = -1  # every bit set\n",
    ),
    Mutation(
        "abp-parser-import-broken",
        "the ABP parser cannot be imported (a missing module): its test must fail, not skip "
        "(issue 17.8)",
        ("tests/lists/test_detect.py -k test_peter_lowe_list",),
        "src/trackguard/lists/abp.py",
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nimport trackguard_missing_dependency  # noqa\n",
    ),
    Mutation(
        "no-shared-corpus",
        "the shared corpus is missing: the corpus tests must fail, not collect nothing "
        "(issue 17.8)",
        (
            "tests/lists/test_tpl.py -k test_corpus_file_loads",
            "tests/lists/test_detect.py -k test_corpus_tpl_files",
        ),
        env={"TRACKGUARD_SHARED": "/nonexistent/trackguard-shared"},
    ),
    Mutation(
        "label-runs-every-length",
        "TPL label runs built for every length (B5): a long host costs n² steps and memory",
        (
            "tests/engine/test_matcher.py::test_long_hosts_cost_little",
            "tests/engine/test_properties.py::test_hostile_requests_are_cheap",
        ),
        "src/trackguard/engine/request.py",
        "for j in range(i + 1, min(n, i + longest) + 1)",
        "for j in range(i + 1, n + 1)",
    ),
    Mutation(
        "no-host-length-cap",
        "hosts longer than a DNS name are judged label by label (unbounded work)",
        ("tests/engine/test_matcher.py::test_hosts_longer_than_a_dns_name_have_nothing_to_judge",),
        "src/trackguard/domain.py",
        '    host = to_ascii_host(host) if len(host) <= MAX_HOST_LENGTH else ""\n'
        "    if len(host) > MAX_HOST_LENGTH:\n",
        "    host = to_ascii_host(host)\n    if False:\n",
    ),
    Mutation(
        "no-token-dedupe",
        "a URL repeating one token thousands of times makes as many bucket lookups: the "
        "work budget runs out and a padded tracker URL passes (fail open)",
        ("tests/engine/test_matcher.py::test_long_paths_cost_little",),
        "src/trackguard/engine/category.py",
        "            if len(tokens) > DEDUPE_TOKENS_AT:\n",
        "            if False:\n",
    ),
    Mutation(
        "one-client-at-a-time",
        "a client holding a half-sent head locks every other client out",
        ("tests/proxy/test_hostile.py::test_held_connections_do_not_hold_up_others",),
        "src/trackguard/proxy/fastconn.py",
        "            or len(ctx.conns) >= ctx.limits.max_connections\n",
        "            or len(ctx.conns) >= 1\n",
        more=(
            (
                "src/trackguard/proxy/streamconn.py",
                "if len(ctx.conns) >= ctx.limits.max_connections or ctx.closing:",
                "if len(ctx.conns) >= 1 or ctx.closing:",
            ),
        ),
    ),
    Mutation(
        "important-recheck-dropped",
        "an exception for one block rule also lifts an `$important` block of the same request "
        "(`||a.test^` + `||a.test/x$important` + `@@||a.test^`, issue 17.4)",
        ("tests/engine/test_interactions.py::test_hand_case",),
        "src/trackguard/engine/matcher.py",
        "        if important is not None:\n"
        "            return Decision(True, self.rule(important), None, "
        '"blocked by an $important rule")\n        return Decision(\n            False,',
        "        return Decision(\n            False,",
    ),
    Mutation(
        "badfilter-ignored",
        "`$badfilter` cancels nothing: filters the list authors withdrew still block",
        ("tests/engine/test_interactions.py::test_hand_case",),
        "src/trackguard/engine/compiler.py",
        "            elif bad and _badfilter_key(rule.source.text) in bad:\n",
        "            elif False:\n",
        more=(
            (  # plain `||host^` filters take an inline path in the same loop
                "src/trackguard/engine/compiler.py",
                "(bad or disabled) and (rule[1].text in bad or rule[1].text in disabled)",
                "disabled and rule[1].text in disabled",
            ),
        ),
    ),
    Mutation(
        "badfilter-too-broad",
        "`$badfilter` cancels every filter with the same pattern, whatever its options",
        ("tests/engine/test_interactions.py::test_hand_case",),
        "src/trackguard/engine/compiler.py",
        '    return text[:at] + ("$" + ",".join(options) if options else "")\n',
        "    return text[:at]\n",
    ),
    Mutation(
        "domain-exclusion-ignored",
        "`$domain=~site` ignored: a rule blocks on the very site it excludes (host-bucket "
        "filters are sorted per page by `hosts.PageSort` first, so the token-bucket cases "
        "of `test_abp_semantics` are the ones that see it)",
        ("tests/engine/test_engine.py::test_abp_semantics",),
        "src/trackguard/engine/filters.py",
        "            if exclude is not None and key in exclude:\n                return False\n",
        "            if False:\n                return False\n",
    ),
    Mutation(
        "gpc-case-sensitive",
        "a client's lower-case `sec-gpc: 1` gets a second `Sec-GPC: 1` added (issue 17.5)",
        (
            "tests/policy/test_signals.py::test_a_client_gpc_field_in_any_case_is_kept_and_not_doubled",
            "tests/proxy/test_server.py::test_signal_headers_reach_the_origin_exactly",
        ),
        "src/trackguard/policy/signals.py",
        'if not any(name.lower() == "sec-gpc" for name, _ in kept):',
        'if not any(name == "Sec-GPC" for name, _ in kept):',
    ),
    Mutation(
        "dnt-case-sensitive",
        "a client's lower-case `dnt: 0` is overridden by an added `DNT: 1` (§C.1.5)",
        (
            "tests/policy/test_signals.py::test_a_client_dnt_field_in_any_case_is_never_overridden",
            "tests/proxy/test_server.py::test_signal_headers_reach_the_origin_exactly",
        ),
        "src/trackguard/policy/signals.py",
        'not any(name.lower() == "dnt" for name, _ in out)',
        'not any(name == "DNT" for name, _ in out)',
    ),
    Mutation(
        "user-tie-goes-to-block",
        "the same domain in `allow` and `block`: the block wins instead of the allow",
        ("tests/policy/test_decide.py::test_user_overrides_come_first",),
        "src/trackguard/policy/decide.py",
        "    if allow is not None and (block is None or len(allow) >= len(block)):\n"
        "        return False, Layer.USER_ALLOW, None",
        "    if allow is not None and (block is None or len(allow) > len(block)):\n"
        "        return False, Layer.USER_ALLOW, None",
    ),
    Mutation(
        "list-allow-layer-lost",
        "an allow rule that lifted a block is logged as 'no match' (the why is lost)",
        ("tests/policy/test_decide.py::test_decide",),
        "src/trackguard/policy/decide.py",
        "    if decision.matched is not None:\n"
        "        return False, Layer.LIST_ALLOW, decision  # a list allow also beats learning"
        " (§B7.3)\n    learned = config.learned\n",
        "    learned = config.learned\n",
    ),
    Mutation(
        "long-url-other-tokens-inverted",
        "on a long URL a filter is searched for only when its other tokens are a superset "
        "of the URL's (instead of a subset): trackers with long query strings pass",
        ("tests/engine/test_category.py::test_long_urls_decide_as_every_filter_does",),
        "src/trackguard/engine/category.py",
        "                    and (need is None or need <= present)\n",
        "                    and (need is None or need >= present)\n",
    ),
    Mutation(
        "long-url-bucket-skip-by-one-filter",
        "a long URL skips a small bucket when it holds none of its FIRST filter's other "
        "tokens (not all filters'): trackers named by the bucket's other filters pass",
        (
            "tests/engine/test_category.py::"
            "test_a_long_url_skips_a_bucket_only_when_no_filter_can_have_its_tokens",
        ),
        "src/trackguard/engine/category.py",
        "    needs.union = frozenset().union(*tokens) if len(tokens) == len(needs) else None\n",
        "    needs.union = frozenset().union(*tokens[:1]) if len(tokens) == len(needs) else None\n",
    ),
    Mutation(
        "token-gate-takes-prefixes",
        "the exceptions' token gate takes a token's prefix for the token: it can only say yes "
        "more often, so the gate test must see it",
        ("tests/engine/test_category.py::test_the_token_gate_sees_exactly_the_whole_tokens",),
        "src/trackguard/engine/category.py",
        '        gate.Add(f"(?:^|{outside})(?:{keys})(?:{outside}|$)".encode("ascii"))\n',
        '        gate.Add(f"(?:^|{outside})(?:{keys})".encode("ascii"))\n',
    ),
    Mutation(
        "page-sort-include-beats-exclude",
        "a `$domain=a.example|~a.example` exception is read include-first by the per-page "
        "sort: the page it names is let through where the filter itself turns it down",
        (
            "tests/engine/test_engine_hosts.py::test_a_page_keeps_exactly_the_filters_its_options_admit",
        ),
        "src/trackguard/engine/hosts.py",
        "            for key in include or ():\n"
        "                self._keys.setdefault(key, []).append((i, True))\n",
        "            for key in include or ():\n"
        "                self._keys.setdefault(key, []).insert(0, (i, True))\n",
    ),
    Mutation(
        "same-site-three-labels",
        "the PSL-free shortcut compares three labels: `www.a.com` on `a.com` is taken for "
        "a third-party request, and `$~third-party` rules stop applying there",
        ("tests/test_domain.py::test_same_site_on_the_real_request_log",),
        "src/trackguard/domain.py",
        '        host[host.rfind(".", 0, host.rfind(".")) + 1 :]\n',
        '        host[host.rfind(".", 0, host.rfind(".", 0, host.rfind("."))) + 1 :]\n',
    ),
    Mutation(
        "regex-piece-keeps-folded-s",
        "a case-insensitive /regex/ keeps its `s` in its prefilter literal: RE2 matches `s` "
        "to `ſ`, which the lower-cased URL keeps, so the literal test turns a match down",
        ("tests/engine/test_literals.py::test_every_match_holds_the_pieces",),
        "src/trackguard/engine/literals.py",
        '    pieces = runs if match_case else [p for run in runs for p in run.split("s")]\n',
        "    pieces = runs\n",
    ),
]


def run(m: Mutation, verbose: bool) -> str:
    """Apply `m`, run each named test on its own (each must fail), restore the files."""
    edits = [(m.file, m.old, m.new), *m.more] if m.file else []
    originals: dict[Path, str] = {}
    mutated: dict[Path, str] = {}
    for file, old, new in edits:
        path = REPO / file
        if path not in originals:
            originals[path] = mutated[path] = path.read_text(encoding="utf-8")
        if mutated[path].count(old) != 1:
            return f"STALE ({mutated[path].count(old)} matches of a snippet in {file})"
        mutated[path] = mutated[path].replace(old, new)
    passed: list[str] = []
    try:
        for path, text in mutated.items():
            path.write_text(text, encoding="utf-8")
        for test in m.tests:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:randomly", "-p",
                 "no:cacheprovider", *shlex.split(test)],
                cwd=REPO,
                env={**os.environ, **m.env},
                capture_output=True,
                text=True,
            )  # fmt: skip
            if verbose:
                print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
            if done.returncode == 0:
                passed.append(test)
            elif done.returncode not in (1, 2):
                return f"ERROR (pytest exit {done.returncode} on {test})"
    finally:
        for path, text in originals.items():
            path.write_text(text, encoding="utf-8")
    if passed:
        return f"SURVIVED ({', '.join(passed)} still pass)"
    return "CAUGHT"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ids", nargs="*", help="mutation ids (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.ids or m.id in args.ids]
    unknown = set(args.ids) - {m.id for m in MUTATIONS}
    if unknown:
        print(f"unknown mutation ids: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.list:
        for m in chosen:
            print(f"{m.id}: {m.what}\n    caught by: {' '.join(m.tests)}")
        return 0
    survived = 0
    for m in chosen:
        outcome = run(m, args.verbose)
        survived += outcome != "CAUGHT"
        print(f"{outcome} {m.id}: {m.what}", flush=True)
    print(f"{len(chosen) - survived}/{len(chosen)} caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
