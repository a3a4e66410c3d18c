"""The linear matcher decides exactly as a simple reference matcher does.

The reference translates one ABP pattern into a regular expression, the way the format
is specified (`*` any run, `^` a separator or the end, `|` an end, `||` the host's start
or a label start) and runs it with RE2 on the URL as the engine sees it. The engine does
something quite different (reduced-URL searches, host-suffix indexes, token buckets,
literal screens), so every disagreement on a random filter/URL pair is a bug in one of
those. Patterns and URLs are drawn from small alphabets so that matches are frequent
and separators, dots and anchors collide often.
"""

from __future__ import annotations

import re2
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from trackguard.domain import split_url_fast
from trackguard.engine import Engine
from trackguard.lists import parse_list
from trackguard.model import ListRejected

SETTINGS = settings(
    max_examples=400,
    deadline=None,  # the machine is shared and noisy; timing is the benchmark's job
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

_SEPARATOR = r"(?:[^a-z0-9_\-.%]|\z)"
_SEPARATOR_CASE = r"(?:[^A-Za-z0-9_\-.%]|\z)"


def reference_regex(pattern: str, case: bool = False) -> str:
    """The ABP pattern (with its `|`/`||` anchors) as an RE2 expression on the URL text."""
    out = []
    if pattern.startswith("||*"):
        # The engine reads `||*x` as `*x` (a wildcard right after the anchor leaves
        # nothing to anchor), as adblock-rust does; the differential test pins that.
        pattern = pattern[2:]
    if pattern.startswith("||"):
        # scheme, `://`, then the host's start or any label start inside the host
        out.append(r"\A[a-z][a-z0-9+.\-]*://(?:[^/:?]*\.)?")
        pattern = pattern[2:]
    elif pattern.startswith("|"):
        out.append(r"\A")
        pattern = pattern[1:]
    end = ""
    if pattern.endswith("|"):
        end = r"\z"
        pattern = pattern[:-1]
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "^":
            out.append(_SEPARATOR_CASE if case else _SEPARATOR)
        else:
            out.append(re2.escape(ch))
    return "(?s)" + "".join(out) + end


def reference_matches(pattern: str, url: str, case: bool = False) -> bool:
    text = split_url_fast(url)[2]
    if not case:
        text, pattern = text.lower(), pattern.lower()
    return re2.search(reference_regex(pattern, case), text) is not None


def _is_plain_network_filter(line: str) -> bool:
    """One option-free block filter that the parser keeps as a pattern rule."""
    try:
        parsed = parse_list(line + "\n", "p", "abp")
    except ListRejected:
        return False
    return len(parsed.rules) == 1 and parsed.rules[0].regex is None


labels = st.sampled_from(["a", "b", "ab", "ba", "a-b", "x1"])
hosts = st.lists(labels, min_size=1, max_size=6).map(".".join)
url_chars = st.sampled_from(list("ab/.?=&-%:^_~,X"))
paths = st.text(url_chars, max_size=40)
urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}/{path}",
    st.sampled_from(["http", "https", "ws"]),
    hosts,
    st.sampled_from(["", "", ":8080"]),
    paths,
)
pattern_chars = st.sampled_from(list("ab.^*/?=-%:_X"))
bodies = st.text(pattern_chars, min_size=1, max_size=14)
patterns = st.builds(
    lambda head, body, tail: head + body + tail,
    st.sampled_from(["", "", "|", "||", "||"]),
    bodies,
    st.sampled_from(["", "", "|"]),
)


def _check(pattern: str, url: str, case: bool = False) -> None:
    line = pattern + ("$match-case" if case else "")
    assume(not (pattern.startswith("/") and pattern.endswith("/")))
    assume(_is_plain_network_filter(line))
    engine = Engine.from_text(line + "\n", "abp")
    expected = reference_matches(pattern, url, case)
    decision = engine.check(url)
    assert decision.blocked == expected, (pattern, url, reference_regex(pattern, case))
    assert "budget" not in decision.reason


@SETTINGS
@given(pattern=patterns, url=urls)
@example(pattern="||a*" + "a^" * 20, url="http://" + ".".join(["a"] * 20) + "/a/" * 30)
@example(pattern="||b^", url="http://a.b:8080/")
@example(pattern="||a.^", url="http://a.a/")
@example(pattern="^^|", url="http://a/?")
@example(pattern="a^^", url="http://b.b/a")
@example(pattern="/^/^b", url="http://b/" + "/" * 20)
@example(pattern="||ab", url="http://b.ab.ab/")
@example(pattern="||b.a^*/", url="http://a.b.a/b/")
def test_matcher_decides_as_the_reference(pattern: str, url: str) -> None:
    _check(pattern, url)


@SETTINGS
@given(pattern=patterns, url=urls)
@example(pattern="X^", url="http://a/X/")
def test_match_case_decides_as_the_reference(pattern: str, url: str) -> None:
    _check(pattern, url, case=True)


@SETTINGS
@given(body=st.lists(bodies, min_size=2, max_size=4), url=urls)
def test_many_filters_decide_as_any_of_them(body: list[str], url: str) -> None:
    """Several filters in one list: blocked iff one of them matches (index paths mix)."""
    lines = [b for b in body if _is_plain_network_filter(b)]
    assume(lines and not any(b.startswith("/") and b.endswith("/") for b in lines))
    engine = Engine.from_text("\n".join(lines) + "\n", "abp")
    expected = any(reference_matches(b, url) for b in lines)
    assert engine.check(url).blocked == expected, (lines, url)
