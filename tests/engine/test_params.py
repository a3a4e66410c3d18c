"""`$removeparam` compiled together (`engine.params`) strips exactly what the rules, applied
one after another as uBlock Origin describes them, would strip."""

from __future__ import annotations

from urllib.parse import unquote_plus

import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trackguard.engine import Engine
from trackguard.engine.params import MAX_REGEX_PROGRAM, compile_regex, strip_query


def _one_by_one(url: str, specs: tuple[str, ...]) -> tuple[str, list[int]]:
    """The reference: each rule in turn drops the fields it names (the old engine code)."""

    def hit(spec: str, field: str) -> bool:
        if not field:
            return False
        if not spec:
            return True
        negate = spec.startswith("~")
        body = spec[1:] if negate else spec
        if len(body) > 2 and body.startswith("/") and body.endswith("/"):
            found = re2.search(body[1:-1], field) is not None
        else:
            found = unquote_plus(field.partition("=")[0]) == body
        return found != negate

    q = url.find("?")
    if q < 0:
        return url, []
    frag_at = url.find("#", q)
    query = url[q + 1 : frag_at] if frag_at >= 0 else url[q + 1 :]
    fragment = url[frag_at:] if frag_at >= 0 else ""
    fields = query.split("&")
    used = []
    for i, spec in enumerate(specs):
        keep = [f for f in fields if not hit(spec, f)]
        if len(keep) != len(fields):
            used.append(i)
            fields = keep
    if not used:
        return url, []
    rest = "&".join(f for f in fields if f)
    return url[:q] + ("?" + rest if rest else "") + fragment, used


names = st.sampled_from(["a", "b", "utm_source", "utm_x", "fb%63lid", "fbclid", "x+y", "x y"])
fields = st.builds(
    lambda name, value: name + value, names, st.sampled_from(["", "=", "=1", "=a&", "=%20"])
)
queries = st.lists(fields, max_size=8).map("&".join)
specs = st.lists(
    st.sampled_from(
        ["", "a", "fbclid", "utm_source", "x y", "/^utm_/", "/=1$/", "~a", "~/^utm_/", "/^b/"]
    ),
    min_size=1,
    max_size=4,
).map(tuple)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=queries, rule_specs=specs, fragment=st.sampled_from(["", "#f", "#a=1&b"]))
def test_compiled_stripper_agrees_with_rules_one_by_one(
    query: str, rule_specs: tuple[str, ...], fragment: str
) -> None:
    url = f"https://x.example/p?{query}{fragment}"
    assert strip_query(url, rule_specs) == _one_by_one(url, rule_specs)


def test_many_regex_rules_and_a_long_query() -> None:
    """Issue 10: 100 regex rules and 1,136 parameters; every field is looked at once."""
    lines = [f"||x.example^$removeparam=/^p{i}[a-z]*=/" for i in range(100)]
    engine = Engine.from_text("\n".join(lines) + "\n", "abp")
    query = "&".join(f"p{i % 100}abc=v" for i in range(1136)) + "&keep=1"
    url, used = engine.removeparam(f"https://x.example/?{query}", "https://page.example/")
    assert url == "https://x.example/?keep=1"
    assert len(used) == 100


def test_oversized_regex_is_refused() -> None:
    assert re2.compile(r"\w{1000}").programsize > MAX_REGEX_PROGRAM  # RE2 alone takes it
    assert compile_regex(r"\w{1000}") is None
    assert compile_regex("^utm_") is not None
    engine = Engine.from_text("/\\w{1000}/\n||ok.example^\n", "abp")
    assert "engine.bad-regex" in {d.code for d in engine.diagnostics}
