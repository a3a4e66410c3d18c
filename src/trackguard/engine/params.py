"""`$removeparam`: which query fields the matching rules strip, in one pass over the fields.

Value semantics follow uBlock Origin: an empty value strips every parameter, `/re/` is a
regular expression run on the raw field (`name=value`), `~x` strips all but what `x`
names, and a plain name is compared with the field's name after percent-decoding, as a
server would read it.

The rules that apply to a request are compiled together once (`stripper`, memoised on
their values): plain names into one dict, regexes into one RE2 set. Each field is then
looked at once, whatever the number of rules, so 100 regex rules and a query of 1,000
parameters cost 1,000 set lookups, not 100,000 regex runs. RE2 only: the expressions
come from lists and must run in linear time. No I/O.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

import re2

#: An RE2 program larger than this is refused: lists are untrusted, and RE2's time per
#: character grows with the program when its DFA cache overflows.
MAX_REGEX_PROGRAM = 2000


def compile_regex(body: str, case: bool = True) -> Any:
    """RE2 for list text: None when RE2 refuses it or its program is too large."""
    options = re2.Options()
    options.case_sensitive = case
    try:
        compiled = re2.compile(body, options)
    except Exception:  # re2 raises its own error type
        return None
    if compiled.programsize > MAX_REGEX_PROGRAM:
        return None
    return compiled


def _spec_regex(spec: str) -> str | None:
    """The regex body of a `/re/` value, else None."""
    if len(spec) > 2 and spec.startswith("/") and spec.endswith("/"):
        return spec[1:-1]
    return None


class Stripper:
    """The compiled form of a set of `$removeparam` values (in rule order)."""

    __slots__ = ("names", "negated", "regex_rules", "regex_set", "strip_all")

    def __init__(self, specs: tuple[str, ...]) -> None:
        self.strip_all = next((i for i, s in enumerate(specs) if not s), None)
        self.names: dict[str, int] = {}
        self.negated: list[tuple[int, Any, str]] = []  # (rule, regex or None, name)
        self.regex_rules: list[int] = []
        regex_set = re2.Set.SearchSet(re2.Options())
        for i, spec in enumerate(specs):
            if not spec:
                continue
            negate = spec.startswith("~")
            body = spec[1:] if negate else spec
            pattern = _spec_regex(body)
            if negate:
                self.negated.append((i, compile_regex(pattern) if pattern else None, body))
            elif pattern is None:
                self.names.setdefault(body, i)
            elif compile_regex(pattern) is not None:
                regex_set.Add(pattern)
                self.regex_rules.append(i)
            # a regex RE2 refuses strips nothing (it was reported when the list loaded)
        self.regex_set: Any = None
        if self.regex_rules:
            regex_set.Compile()
            # The wrapper re-encodes and re-checks on every call; the fields are encoded
            # once and handed to the underlying set (as the matcher does).
            self.regex_set = regex_set._set

    def first_rule(self, field: str) -> int | None:
        """The first rule (by position) that strips this raw `&`-separated field."""
        if not field:
            return None
        best = self.strip_all
        name = field.partition("=")[0]
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        hit = self.names.get(name)
        if hit is not None and (best is None or hit < best):
            best = hit
        if self.regex_set is not None:
            for j in self.regex_set.Match(field.encode("utf-8", "surrogatepass")) or ():
                rule = self.regex_rules[j]
                if best is None or rule < best:
                    best = rule
        for rule, regex, body in self.negated:
            if best is not None and rule > best:
                break
            kept = regex.search(field) is not None if regex is not None else name == body
            if not kept and (regex is not None or _spec_regex(body) is None):
                best = rule
                break
        return best


@lru_cache(maxsize=256)
def stripper(specs: tuple[str, ...]) -> Stripper:
    return Stripper(specs)


def strip_query(url: str, specs: tuple[str, ...]) -> tuple[str, list[int]]:
    """`url` without the fields the `$removeparam` values strip; indexes of the specs used.

    Works on the raw `&`-separated fields so that the parameters we keep leave exactly
    as they came (no re-encoding: `%20` stays `%20`, a bare `flag` stays).
    """
    q = url.find("?")
    if q < 0:
        return url, []
    frag_at = url.find("#", q)
    query = url[q + 1 : frag_at] if frag_at >= 0 else url[q + 1 :]
    fragment = url[frag_at:] if frag_at >= 0 else ""
    compiled = stripper(specs)
    kept: list[str] = []
    used: set[int] = set()
    fields = query.split("&")
    if compiled.strip_all is None and not compiled.negated:
        _strip_fields(compiled, query, fields, kept, used)
    else:
        for field in fields:
            rule = compiled.first_rule(field)
            if rule is None:
                kept.append(field)
            else:
                used.add(rule)
    if not used:
        return url, []
    rest = "&".join(f for f in kept if f)
    return url[:q] + ("?" + rest if rest else "") + fragment, sorted(used)


def _strip_fields(
    compiled: Stripper, query: str, fields: list[str], kept: list[str], used: set[int]
) -> None:
    """`first_rule` for every field, inlined, for the usual rules (names and regexes, no
    `~` and no strip-all): the query is encoded once and split as bytes (`&` is ASCII,
    so the pieces line up with `fields`); this halves the cost of a 1,000-field query."""
    names = compiled.names
    match = compiled.regex_set.Match if compiled.regex_set is not None else None
    regex_rules = compiled.regex_rules
    data = query.encode("utf-8", "surrogatepass").split(b"&") if match is not None else fields
    for field, raw in zip(fields, data, strict=True):
        best = None
        if field:
            if names:
                name = field.partition("=")[0]
                if "%" in name or "+" in name:
                    name = unquote_plus(name)
                best = names.get(name)
            if match is not None:
                hits = match(raw)
                if hits:
                    rule = min(map(regex_rules.__getitem__, hits))
                    if best is None or rule < best:
                        best = rule
        if best is None:
            kept.append(field)
        else:
            used.add(best)
