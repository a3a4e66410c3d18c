"""Tests for the Adblock Plus / EasyList parser (`trackguard.lists.abp`).

The parser only records what each line says; what a rule *does* is tested end to end in
`tests/engine/test_engine.py`. Assertions are on rule fields and diagnostic codes.
"""

from __future__ import annotations

import pytest

from trackguard.lists import abp
from trackguard.lists.abp import parse_abp
from trackguard.model import (
    ALL_TYPES,
    DEFAULT_TYPES,
    Action,
    Anchor,
    Format,
    ListRejected,
    ParsedList,
    Party,
    RequestType,
    Rule,
    Severity,
    SourceRef,
)

T = RequestType
KEEP = "||keep.example^"  # a valid filter so a list with only bad lines is not rejected


def parse(text: str, list_id: str = "l") -> ParsedList:
    return parse_abp(text, list_id)


def one_rule(line: str) -> Rule:
    parsed = parse(line)
    assert len(parsed.rules) == 1, [(d.line, d.code) for d in parsed.diagnostics]
    assert parsed.diagnostics == ()
    return parsed.rules[0]


def codes(parsed: ParsedList) -> list[tuple[int, str, Severity]]:
    return [(d.line, d.code, d.severity) for d in parsed.diagnostics]


# --- patterns and anchors -------------------------------------------------------------------

ANCHORS = [
    # line, pattern, anchor, regex
    ("||ads.example^", "ads.example^", Anchor.HOST, None),
    ("||ads.example/banner/*.gif", "ads.example/banner/*.gif", Anchor.HOST, None),
    ("|https://x.example/a", "https://x.example/a", Anchor.LEFT, None),
    (".gif|", ".gif", Anchor.RIGHT, None),
    ("|https://x.example/a|", "https://x.example/a", Anchor.LEFT | Anchor.RIGHT, None),
    ("||x.example/a.js|", "x.example/a.js", Anchor.HOST | Anchor.RIGHT, None),
    ("/banner/ad_", "/banner/ad_", Anchor.NONE, None),
    ("&ad_type=*&size=", "&ad_type=*&size=", Anchor.NONE, None),
    # pattern case is kept as written; the engine folds it unless $match-case
    ("/BannerAd.", "/BannerAd.", Anchor.NONE, None),
    # regex filters: the body between the slashes, no pattern
    ("/banner\\d+\\.gif/", "", Anchor.NONE, "banner\\d+\\.gif"),
    # `$` inside the regex is an end anchor, not the options separator (EasyPrivacy)
    ("/^https?:\\/\\/[a-z]+\\/ads\\.js$/", "", Anchor.NONE, "^https?:\\/\\/[a-z]+\\/ads\\.js$"),
    ("/a$b/", "", Anchor.NONE, "a$b"),
    # IDN host after `||` is compared in A-label form
    ("||bücher.example^", "xn--bcher-kva.example^", Anchor.HOST, None),
]


@pytest.mark.parametrize(("line", "pattern", "anchor", "regex"), ANCHORS)
def test_pattern_and_anchor(line: str, pattern: str, anchor: Anchor, regex: str | None) -> None:
    rule = one_rule(line)
    assert (rule.pattern, rule.anchor, rule.regex) == (pattern, anchor, regex)
    assert rule.action is Action.BLOCK
    assert rule.syntax is Format.ABP
    assert rule.types == DEFAULT_TYPES
    assert rule.party is Party.ANY


def test_regex_with_dollar_and_options() -> None:
    """A `$` before the closing slash stays in the regex; the last `$` starts options."""
    rule = one_rule("/ads\\.js$/$script,domain=site.example")
    assert rule.regex == "ads\\.js$"
    assert rule.types == T.SCRIPT
    assert rule.include_domains == ("site.example",)


def test_exception_prefix() -> None:
    rule = one_rule("@@||cdn.example/widget/$script")
    assert rule.action is Action.ALLOW
    assert rule.is_exception
    assert (rule.pattern, rule.anchor, rule.types) == ("cdn.example/widget/", Anchor.HOST, T.SCRIPT)


# --- options --------------------------------------------------------------------------------

PARTY = [
    ("x$third-party", Party.THIRD),
    ("x$3p", Party.THIRD),
    ("x$~third-party", Party.FIRST),
    ("x$~3p", Party.FIRST),
    ("x$first-party", Party.FIRST),
    ("x$1p", Party.FIRST),
    ("x$~first-party", Party.THIRD),
    ("x$~1p", Party.THIRD),
    ("x$THIRD-PARTY", Party.THIRD),  # option names are case-insensitive
    ("x", Party.ANY),
]


@pytest.mark.parametrize(("line", "party"), PARTY)
def test_party_options(line: str, party: Party) -> None:
    assert one_rule(line).party is party


TYPES = [
    ("x$script", T.SCRIPT),
    ("x$image", T.IMAGE),
    ("x$stylesheet", T.STYLESHEET),
    ("x$css", T.STYLESHEET),
    ("x$object", T.OBJECT),
    ("x$object-subrequest", T.OBJECT),
    ("x$xmlhttprequest", T.XMLHTTPREQUEST),
    ("x$xhr", T.XMLHTTPREQUEST),
    ("x$subdocument", T.SUBDOCUMENT),
    ("x$frame", T.SUBDOCUMENT),
    ("x$ping", T.PING),
    ("x$beacon", T.PING),
    ("x$media", T.MEDIA),
    ("x$font", T.FONT),
    ("x$websocket", T.WEBSOCKET),
    ("x$other", T.OTHER),
    ("x$document", T.DOCUMENT),
    ("x$doc", T.DOCUMENT),
    ("x$popup", T.POPUP),
    ("x$script,image", T.SCRIPT | T.IMAGE),
    # negations start from the default set (which has no document/popup)
    ("x$~script", DEFAULT_TYPES & ~T.SCRIPT),
    ("x$~script,~image", DEFAULT_TYPES & ~(T.SCRIPT | T.IMAGE)),
    # positive and negative together: the positives minus the negatives
    ("x$script,image,~image", T.SCRIPT),
    ("x$all", ALL_TYPES),
    ("x$all,~document", ALL_TYPES & ~T.DOCUMENT),
    ("x", DEFAULT_TYPES),
]


@pytest.mark.parametrize(("line", "types"), TYPES)
def test_type_options(line: str, types: RequestType) -> None:
    assert one_rule(line).types == types


def test_default_types_exclude_page_level_types() -> None:
    assert not DEFAULT_TYPES & T.DOCUMENT
    assert not DEFAULT_TYPES & T.POPUP
    assert DEFAULT_TYPES | T.DOCUMENT | T.POPUP == ALL_TYPES


DOMAINS = [
    # line, include, exclude
    ("x$domain=site.example", ("site.example",), ()),
    ("x$domain=a.example|b.example", ("a.example", "b.example"), ()),
    ("x$domain=~a.example", (), ("a.example",)),
    ("x$domain=example.com|~foo.example.com", ("example.com",), ("foo.example.com",)),
    ("x$domain=google.*", ("google.*",), ()),
    ("x$domain=google.*|~mail.google.com", ("google.*",), ("mail.google.com",)),
    ("x$domain=Site.EXAMPLE", ("site.example",), ()),
    ("x$domain=bücher.example", ("xn--bcher-kva.example",), ()),
    ("x$from=site.example", ("site.example",), ()),  # uBO alias
]


@pytest.mark.parametrize(("line", "include", "exclude"), DOMAINS)
def test_domain_option(line: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> None:
    rule = one_rule(line)
    assert (rule.include_domains, rule.exclude_domains) == (include, exclude)


FLAGS = [
    # line, match_case, important, badfilter
    ("x$match-case", True, False, False),
    ("x$~match-case", False, False, False),
    ("x$important", False, True, False),
    ("x$badfilter", False, False, True),
    ("x$important,match-case", True, True, False),
    ("x", False, False, False),
]


@pytest.mark.parametrize(("line", "match_case", "important", "badfilter"), FLAGS)
def test_flag_options(line: str, match_case: bool, important: bool, badfilter: bool) -> None:
    rule = one_rule(line)
    assert (rule.match_case, rule.important, rule.badfilter) == (match_case, important, badfilter)


def test_denyallow() -> None:
    rule = one_rule("*$script,denyallow=cdn.example|Static.Example,domain=site.example")
    assert rule.denyallow == ("cdn.example", "static.example")
    assert rule.include_domains == ("site.example",)
    assert rule.types == T.SCRIPT


REMOVEPARAM = [
    ("$removeparam=utm_source", "utm_source"),
    ("||x.example^$removeparam=/^fbclid=/", "/^fbclid=/"),
    ("||x.example^$removeparam", ""),
    ("||x.example^$removeparam=~keep", "~keep"),
    ("||x.example^$queryprune=utm_medium", "utm_medium"),  # the older uBO name
]


@pytest.mark.parametrize(("line", "value"), REMOVEPARAM)
def test_removeparam(line: str, value: str) -> None:
    rule = one_rule(line)
    assert rule.removeparam == value
    assert rule.action is Action.BLOCK


def test_removeparam_regex_with_dollar() -> None:
    rule = one_rule("||x.example^$removeparam=/^utm_[a-z]+$/")
    assert rule.removeparam == "/^utm_[a-z]+$/"
    assert rule.pattern == "x.example^"


REDIRECT = [
    ("||x.example/ads.js$script,redirect=noop.js", "noop.js"),
    ("||x.example/a.mp4$media,redirect=noopmp4-1s", "noopmp4-1s"),
    ("||x.example/a.gif$image,empty", "empty"),
    ("||x.example/a.mp4$media,mp4", "noopmp4-1s"),
]


@pytest.mark.parametrize(("line", "resource"), REDIRECT)
def test_redirect_is_a_block_with_a_resource(line: str, resource: str) -> None:
    rule = one_rule(line)
    assert rule.redirect == resource
    assert rule.action is Action.BLOCK


@pytest.mark.parametrize("line", ["x$_", "x$reason=tracking", "x$cname"])
def test_noop_options_keep_the_filter(line: str) -> None:
    rule = one_rule(line)
    assert rule.pattern == "x"
    assert rule.types == DEFAULT_TYPES


# --- lines that are valid but not applied ---------------------------------------------------

SKIPPED = [
    # line, skipped kind, diagnostic code (None: counted silently)
    ("example.com##.ad-banner", "cosmetic", None),
    ("##.ad-banner", "cosmetic", None),
    ("example.com#@#.ad-banner", "cosmetic-exception", None),
    ("example.com#?#div:has(> .ad)", "procedural", None),
    ("example.com#$#body { overflow: auto }", "css-injection", None),
    ("example.com##+js(set-constant, ads, false)", "scriptlet", None),
    ("example.com#%#//scriptlet('abort-on-property-read', 'ads')", "scriptlet", None),
    ("! a comment", "comment", None),
    ("[Adblock Plus 2.0]", "header", None),
    ("# hosts-style comment", "comment", None),
    ("||x.example^$csp=script-src 'none'", "csp", "abp.not-applied.csp"),
    ("||x.example^$redirect-rule=noop.js", "redirect-rule", "abp.not-applied.redirect-rule"),
    (
        "||x.example/a.js$rewrite=abp-resource:blank-js",
        "rewrite",
        "abp.not-applied.rewrite",
    ),
    ("@@||site.example^$generichide", "cosmetic-exception", "abp.not-applied.cosmetic-exception"),
    ("@@||site.example^$elemhide", "cosmetic-exception", "abp.not-applied.cosmetic-exception"),
]


@pytest.mark.parametrize(("line", "kind", "code"), SKIPPED)
def test_non_network_lines_are_counted(line: str, kind: str, code: str | None) -> None:
    parsed = parse(f"{KEEP}\n{line}")
    assert [r.source.line for r in parsed.rules] == [1]
    assert parsed.skipped == {kind: 1}
    if code is None:
        assert parsed.diagnostics == ()
    else:
        assert codes(parsed) == [(2, code, Severity.NOTICE)]


def test_a_list_of_only_cosmetic_filters_is_accepted() -> None:
    parsed = parse("! Title: Cosmetic only\n##.ad\nexample.com##.banner\n")
    assert parsed.rules == ()
    assert parsed.skipped == {"comment": 1, "cosmetic": 2}


def test_blank_lines_are_counted() -> None:
    parsed = parse(f"\n{KEEP}\n   \n")
    assert parsed.skipped == {"blank": 2}


# --- errors: the bad line is skipped, the rest loads ----------------------------------------

ERRORS = [
    ("x$foo", "abp.unknown-option"),
    ("x$script,foo=bar", "abp.unknown-option"),
    ("x$~important", "abp.unknown-option"),
    ("x$~badfilter", "abp.unknown-option"),
    ("x$", "abp.empty-options"),
    ("x$domain=", "abp.bad-domain"),
    ("x$domain=a/b", "abp.bad-domain"),
    ("x$denyallow=~cdn.example", "abp.bad-denyallow"),
    ("x$denyallow=", "abp.bad-denyallow"),
    ("x$denyallow=cdn.*", "abp.bad-denyallow"),
    ("x$script,~script", "abp.no-types"),
    ("*", "abp.match-all"),
    ("**", "abp.match-all"),
]


@pytest.mark.parametrize(("line", "code"), ERRORS)
def test_bad_line_is_reported_and_skipped(line: str, code: str) -> None:
    parsed = parse(f"{KEEP}\n{line}\n{KEEP}")
    assert [r.source.line for r in parsed.rules] == [1, 3]
    # `$domain=a/b` also gets a warning for the entry it ignored before the error.
    assert {(d.line, d.code) for d in parsed.diagnostics} == {(2, code)}
    assert parsed.diagnostics[-1].severity is Severity.ERROR


def test_partly_bad_domain_list_keeps_the_filter_with_a_warning() -> None:
    parsed = parse("x$domain=good.example|a/b")
    assert [r.include_domains for r in parsed.rules] == [("good.example",)]
    assert codes(parsed) == [(1, "abp.bad-domain", Severity.WARNING)]


def test_unknown_option_diagnostic_names_the_option() -> None:
    parsed = parse(f"{KEEP}\nx$script,frobnicate")
    (diag,) = parsed.diagnostics
    assert "frobnicate" in diag.message
    assert diag.list_id == "l"


def test_overlong_line_is_an_error() -> None:
    long_line = "/" + "a" * abp.MAX_LINE
    parsed = parse(f"{KEEP}\n{long_line}")
    assert codes(parsed) == [(2, "abp.line-too-long", Severity.ERROR)]
    assert len(parsed.rules) == 1


# --- line numbers and source refs -----------------------------------------------------------


def test_source_refs_carry_list_line_and_stripped_text() -> None:
    text = "\ufeff[Adblock Plus 2.0]\r\n! Title: T\r\n\r\n  ||a.example^  \r\n##.x\r\n"
    text += "@@||b.example^\r\n"
    parsed = parse(text, "my-list")
    assert [r.source for r in parsed.rules] == [
        SourceRef("my-list", 4, "||a.example^"),
        SourceRef("my-list", 6, "@@||b.example^"),
    ]


def test_diagnostic_line_numbers_count_every_line() -> None:
    parsed = parse("! c\n\n||ok.example^\n##.x\nbad$nope\n")
    assert codes(parsed) == [(5, "abp.unknown-option", Severity.ERROR)]


# --- metadata -------------------------------------------------------------------------------

METADATA = [
    ("! Title: EasyPrivacy", {"title": "EasyPrivacy"}),
    ("! Expires: 4 days (update frequency)", {"expires": "4 days"}),
    ("! Expires: 12 hours", {"expires": "12 hours"}),
    ("! Homepage: https://easylist.to/", {"homepage": "https://easylist.to/"}),
    ("! Version: 202401010000", {"version": "202401010000"}),
    ("! This is: not metadata", {}),  # a key with a space is prose
    ("! just a remark", {}),
]


@pytest.mark.parametrize(("line", "metadata"), METADATA)
def test_header_metadata(line: str, metadata: dict[str, str]) -> None:
    assert parse(f"[Adblock Plus 2.0]\n{line}\n{KEEP}").metadata == metadata


def test_first_metadata_value_wins() -> None:
    parsed = parse(f"! Title: First\n! Title: Second\n{KEEP}")
    assert parsed.metadata == {"title": "First"}


def test_metadata_only_read_near_the_top() -> None:
    filler = "\n".join(f"||f{i}.example^" for i in range(120))
    parsed = parse(f"{filler}\n! Title: Late")
    assert "title" not in parsed.metadata


# --- the list as a whole --------------------------------------------------------------------

REJECTED = [
    "",
    "\n\n",
    "! only comments\n! here\n",
    "[Adblock Plus 2.0]\n! Title: nothing\n",
    "x$foo\n*\n",  # only bad lines
]


@pytest.mark.parametrize("text", REJECTED)
def test_list_without_any_filter_is_rejected(text: str) -> None:
    with pytest.raises(ListRejected, match="no valid filter"):
        parse(text)


def test_list_over_the_size_limit_is_rejected() -> None:
    text = KEEP + "\n" + "!" * abp.MAX_LIST_BYTES
    with pytest.raises(ListRejected, match="larger than 16 MiB"):
        parse(text)


def test_list_at_the_size_limit_is_accepted() -> None:
    text = KEEP + "\n!" + "x" * (abp.MAX_LIST_BYTES - len(KEEP) - 2)
    assert len(text) == abp.MAX_LIST_BYTES
    assert len(parse(text).rules) == 1


def test_too_many_rules_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(abp, "MAX_RULES", 3)
    assert len(parse("\n".join(f"||r{i}.example^" for i in range(3))).rules) == 3
    with pytest.raises(ListRejected, match="more than 3 rules"):
        parse("\n".join(f"||r{i}.example^" for i in range(4)))


@pytest.mark.parametrize("other", ["", "||path.example^/x\n", "/ads/\n"])
def test_too_many_rules_is_rejected_when_plain_filters_are_set_aside(
    monkeypatch: pytest.MonkeyPatch, other: str
) -> None:
    """`scan_abp` counts the `||host^` filters it sets aside as rules, with the others."""
    monkeypatch.setattr(abp, "MAX_RULES", 3)
    fits = other + "\n".join(f"||r{i}.example^" for i in range(3 - bool(other)))
    parsed, plain = abp.scan_abp(fits, "l")
    assert len(parsed.rules) + len(plain.lines) == 3
    with pytest.raises(ListRejected, match="more than 3 rules"):
        abp.scan_abp(fits + "\n||one-more.example^", "l")
    with pytest.raises(ListRejected, match="more than 3 rules"):
        abp.scan_abp(fits + "\n/one-more/", "l")


def test_parsed_list_fields() -> None:
    parsed = parse(f"{KEEP}\n##.x", "easylist.txt")
    assert parsed.list_id == "easylist.txt"
    assert parsed.format is Format.ABP
    assert isinstance(parsed.rules, tuple)
    assert isinstance(parsed.diagnostics, tuple)


@pytest.mark.parametrize("name", ["easylist.txt", "easyprivacy.txt", "easylist-cookie.txt"])
def test_one_line_parses_as_inside_its_list(name: str) -> None:
    """A loaded engine re-makes a deciding rule from its list, line and text alone
    (`parse_abp_line`): every rule of the real lists comes out as the whole list's parse
    made it, the fast lanes for `||host^` lines included."""
    from corpus_paths import corpus_path

    text = (corpus_path() / "lists" / name).read_text(encoding="utf-8")
    parsed = parse_abp(text, name)
    assert len(parsed.rules) > 1000
    for rule in parsed.rules:
        assert abp.parse_abp_line(rule.source.text, name, rule.source.line) == [rule]
