"""Builder: turns `Rule`s into the plain-data index the matcher walks.

This module is the mutable half of the engine (see `matcher` for the read-only half).
Everything it produces is built from tuples, frozensets, dicts, lists, strings and ints,
so the whole index can be written with `marshal` and read back without rebuilding.

Compiled filter layout (a tuple, because attribute access on tuples unpacked into locals
is the cheapest thing CPython does)::

    (rule_id, types, party, include, exclude, denyallow, pattern)
     int      int    0/1/2  frozenset|None ×3            None | tuple

    party:    0 any, 1 first-party only, 2 third-party only
    pattern:  None                                  matches any URL (host already checked)
              (KIND_TAIL, pieces, flags, skip)      `||host^tail` / `||host/tail`: the tail
                                                    matched from host end + skip (1 for `^`)
              (KIND_GENERIC, pieces, flags)         pieces in order, see FLAG_*
              (KIND_REGEX, regex_text, flags)       RE2, compiled lazily
              (KIND_LITERAL, text, flags)           `text in url` (lower case)

Index layout, one per category (block, important, allow, document-allow, removeparam)::

    {"suffix": {host: [F] | PLAIN}, "labels": {label-run: [F]}, "exact": {host: [F]},
     "token": {token-bytes: [F]}, "page": {page-domain: [F]}, "fallback": [F]}

PLAIN: a suffix bucket holding only one `||host^` filter with no option (the bulk of
real lists) is that filter's bare rule id, standing for `plain_filter(rule_id)`. An int
instead of a list holding a 7-tuple: ~150 bytes less per filter in memory, and far less
for `marshal` to write and read. `bucket_filters` turns any bucket into a list.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections import Counter
from collections.abc import Iterable
from itertools import compress
from operator import attrgetter, eq
from typing import Any

from trackguard.engine.literals import TOKEN_RUN, regex_tokens
from trackguard.engine.params import MAX_REGEX_PROGRAM, compile_regex
from trackguard.model import (
    DEFAULT_TYPES,
    Action,
    Anchor,
    Diagnostic,
    Format,
    HostMode,
    ParsedList,
    Party,
    RequestType,
    Rule,
    Severity,
    SourceRef,
)

ENGINE_VERSION = "4"

KIND_TAIL = 0
KIND_GENERIC = 1
KIND_REGEX = 2
KIND_LITERAL = 3  # one literal piece, unanchored, `^`-free: a plain substring test

FLAG_LEFT = 1  # first piece anchored at the start position
FLAG_RIGHT = 2  # last piece anchored at the end of the URL
FLAG_HOST = 4  # start positions are the host's label starts
FLAG_SEPARATOR = 8  # `^` is the ABP separator class (literal in TPL)
FLAG_CASE = 16  # match case-sensitively (against the URL as sent)

CATEGORIES = ("block", "important", "allow", "docallow", "removeparam", "keepparam")

#: Tokens present in a large share of real URLs (measured on the corpus request log):
#: a filter whose best token is one of these would be looked at by most requests, so
#: it goes to the left-overs, which are screened by their literal text in one RE2 pass.
_COMMON_TOKENS = frozenset(
    (
        "http https www com net org ar br de uk js css html htm php asp aspx json xml "
        "png gif jpg jpeg webp svg ico woff woff2 ttf static cdn api assets img image images "
        "id v v1 v2 v3 min content common data web page media files file s3 wp uploads "
        "amazonaws cloudfront google"
    ).split()
)
#: Tokens in nearly every URL: a bucket under one of them is no better than the
#: left-overs (one screen for all of them), so they are never an index key.
_UBIQUITOUS = frozenset(("http", "https", "www", "com"))
_A_LEFT, _A_RIGHT, _A_HOST = int(Anchor.LEFT), int(Anchor.RIGHT), int(Anchor.HOST)

Compiled = tuple[Any, ...]
Index = dict[str, Any]


class RuleTable:
    """The rules behind compiled filters, kept compact for the cache file.

    A built engine holds the `Rule` objects themselves. A loaded engine holds only each
    rule's list, line number and text, and re-parses the one line on demand: only rules
    that decide something are ever looked at, and plain strings load far faster than
    100k rebuilt objects. Parsing is deterministic per version, which the cache key
    includes.
    """

    def __init__(
        self,
        rules: list[Rule] | None = None,
        packed: tuple[tuple[str, ...], bytes, str] | None = None,
    ) -> None:
        self._rules: dict[int, Rule] = dict(enumerate(rules)) if rules is not None else {}
        self._count = len(rules) if rules is not None else 0
        self._packed = packed
        self._texts: list[str] | None = None
        self._meta: array[int] | None = None
        if packed is not None:
            self._meta = array("i")
            self._meta.frombytes(packed[1])
            self._count = len(self._meta) // 4

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, rule_id: int) -> Rule:
        rule = self._rules.get(rule_id)
        if rule is None:
            rule = self._rules[rule_id] = self._unpack(rule_id)
        return rule

    def pack(self) -> tuple[tuple[str, ...], bytes, str]:
        if self._packed is None:
            self._packed = pack_rules([self._rules[i] for i in range(self._count)])
        return self._packed

    def _unpack(self, rule_id: int) -> Rule:
        assert self._packed is not None and self._meta is not None
        if self._texts is None:
            self._texts = self._packed[2].split("\n")
        list_no, line, syntax_no, sub = self._meta[rule_id * 4 : rule_id * 4 + 4]
        from trackguard.lists import parse_line

        rules = parse_line(
            self._texts[rule_id], self._packed[0][list_no], line, _SYNTAXES[syntax_no]
        )
        return rules[sub]


_SYNTAXES = (Format.ABP, Format.TPL, Format.HOSTS)


def pack_rules(rules: list[Rule]) -> tuple[tuple[str, ...], bytes, str]:
    """The compact form of a rule table: list ids, 4 ints per rule, texts joined by LF.

    Column by column with C-level `map`s: a Python loop over 100k rules was a tenth of
    the build.
    """
    count = len(rules)
    sources = list(map(_SOURCE, rules))
    list_ids = list(map(_SOURCE_LIST, sources))
    lines = list(map(_SOURCE_LINE, sources))
    numbers = {list_id: i for i, list_id in enumerate(dict.fromkeys(list_ids))}
    syntax_numbers = {id(f): i for i, f in enumerate(_SYNTAXES)}  # (an Enum hashes in Python)
    meta = array("i", bytes(16 * count))
    meta[0::4] = array("i", map(numbers.__getitem__, list_ids))
    meta[1::4] = array("i", lines)
    meta[2::4] = array("i", map(syntax_numbers.__getitem__, map(id, map(_SYNTAX, rules))))
    # Several rules from one line (a hosts line with several hosts) are told apart by
    # their position among that line's rules; everywhere else it is 0.
    for i in compress(range(1, count), map(eq, lines, lines[1:])):
        if list_ids[i] == list_ids[i - 1]:
            meta[i * 4 + 3] = meta[i * 4 - 1] + 1
    # Parsers split on line breaks: no text contains "\n".
    return tuple(numbers), meta.tobytes(), "\n".join(map(_SOURCE_TEXT, sources))


def _badfilter_key(text: str) -> str:
    """Identity of a filter for `$badfilter`: its text with options in a canonical order."""
    at = text.rfind("$")
    if at < 0:
        return text
    options = sorted(o.strip() for o in text[at + 1 :].split(",") if o.strip() != "badfilter")
    return text[:at] + ("$" + ",".join(options) if options else "")


def _pieces(pattern: str) -> tuple[tuple[str, ...], bool, bool]:
    """Split on `*`; report whether the pattern started / ended with a wildcard."""
    raw = pattern.split("*")
    return tuple(p for p in raw if p), raw[0] == "", raw[-1] == ""


def safe_tokens(pieces: tuple[str, ...], flags: int) -> list[str]:
    """Tokens that every URL matching these pieces must contain as a whole token.

    A run of token characters counts only when both of its ends are bounded inside the
    pattern (by a non-token character or `^`), or by an anchor; a run that touches a
    wildcard or an unanchored end could be part of a longer token in the URL.
    """
    out: list[str] = []
    last = len(pieces) - 1
    for i, piece in enumerate(pieces):
        n = len(piece)
        left_anchored = i == 0 and flags & (FLAG_LEFT | FLAG_HOST)
        right_anchored = i == last and flags & FLAG_RIGHT
        for m in TOKEN_RUN.finditer(piece):
            j, k = m.span()
            if (j > 0 or left_anchored) and (k < n or right_anchored):
                out.append(m.group())
    return out


# A compiled filter with no host key, waiting for its index slot until every filter's
# tokens are counted: (category, compiled, tokens, page_keys)
_Candidate = tuple[str, Compiled, list[str], tuple[str, ...]]
_BADFILTER = attrgetter("badfilter")
_SOURCE, _SYNTAX = attrgetter("source"), attrgetter("syntax")
_SOURCE_LIST, _SOURCE_LINE, _SOURCE_TEXT = (attrgetter(a) for a in ("list_id", "line", "text"))
#: A lower-cased `||` pattern that is exactly `host^` (as `Builder._pattern` reads it:
#: host characters, not starting or ending with a dot). Linear: one class per position.
_PLAIN_HOST = re.compile(r"[a-z0-9\-_](?:[a-z0-9.\-_]*[a-z0-9\-_])?\^")  # noqa: TID251


def _add_host(table: dict[str, Any], key: str, item: Compiled | int) -> None:
    """Append to a host bucket; a bucket of one plain filter is its bare rule id."""
    have = table.get(key)
    if have is None:
        table[key] = item if type(item) is int else [item]
        return
    if type(have) is int:
        have = table[key] = [plain_filter(have)]
    have.append(plain_filter(item) if type(item) is int else item)


#: `Rule` fields from `regex` on, as a rule with no option at all has them.
_PLAIN_TAIL = Rule(Action.BLOCK, SourceRef("", 0, ""), Format.ABP)[5:]


def plain_filter(rule_id: int) -> Compiled:
    """The compiled filter a bare rule id in a host bucket stands for (`||host^`)."""
    return (rule_id, _DEFAULT_BITS, 0, None, None, None, None)


def bucket_filters(bucket: list[Compiled] | int) -> list[Compiled]:
    """A host bucket's filters, whether it is a list or a bare rule id."""
    if isinstance(bucket, int):
        return [plain_filter(bucket)]
    return bucket


_HOST_SLOT = {HostMode.SUFFIX: "suffix", HostMode.LABELS: "labels", HostMode.EXACT: "exact"}
_DOCUMENT_BIT = int(RequestType.DOCUMENT)
_DEFAULT_BITS = int(DEFAULT_TYPES)
_HOSTNAME_RE = re.compile(r"[a-z0-9.\-_]*")  # noqa: TID251 - our own fixed pattern


def _categories(rule: Rule, types: int) -> tuple[str, ...]:
    if rule.removeparam is not None:
        # `@@...$removeparam[=x]` keeps parameters that matching rules would strip.
        return ("removeparam",) if rule.action is Action.BLOCK else ("keepparam",)
    if rule.action is Action.ALLOW:
        return ("allow", "docallow") if types & _DOCUMENT_BIT else ("allow",)
    # Important rules sit in the block index too, so "no block rule matched" also
    # settles "no important rule matched" on the common path.
    return ("block", "important") if rule.important else ("block",)


class Builder:
    """Collects rules, applies `$badfilter`, compiles and indexes them."""

    def __init__(self, *, strict_ie: bool = False, disabled: frozenset[str] = frozenset()) -> None:
        self.strict_ie = strict_ie
        self.disabled = disabled
        self.rules: list[Rule] = []
        self.diagnostics: list[Diagnostic] = []
        self.lists: dict[str, dict[str, Any]] = {}
        self._candidates: list[_Candidate] = []
        self._indexes: dict[str, Index] = {
            c: {"suffix": {}, "labels": {}, "exact": {}, "token": {}, "page": {}, "fallback": []}
            for c in CATEGORIES
        }
        self._pending: list[Rule] = []
        self._bad_keys: set[str] = set()
        # Rules kept per list: all it brought, less each one `_note` drops (counting the
        # 100k kept ones by their list id afterwards took 3% of the build).
        self._kept: Counter[str] = Counter()

    def add_list(self, parsed: ParsedList) -> None:
        self.diagnostics.extend(parsed.diagnostics)
        self.lists[parsed.list_id] = {
            "format": parsed.format.value,
            "rules": 0,
            "skipped": dict(parsed.skipped),
            "errors": sum(1 for d in parsed.diagnostics if d.severity is Severity.ERROR),
            "metadata": dict(parsed.metadata),
        }
        # `$badfilter` cancels its twin in any list, so rules wait until all lists are in.
        bad = compress(parsed.rules, map(_BADFILTER, parsed.rules))  # (C-level over 100k)
        self._bad_keys.update(_badfilter_key(r.source.text) for r in bad)
        self._pending.extend(parsed.rules)
        self._kept[parsed.list_id] += len(parsed.rules)

    def build(self) -> tuple[list[Rule], dict[str, Index], list[Diagnostic]]:
        bad = self._bad_keys
        disabled = self.disabled
        rules = self.rules
        tail, host_anchor, abp, block = _PLAIN_TAIL, Anchor.HOST, Format.ABP, Action.BLOCK
        plain_host = _PLAIN_HOST.fullmatch
        block_suffix = self._indexes["block"]["suffix"]
        allow_suffix = self._indexes["allow"]["suffix"]
        for rule in self._pending:
            if rule[4] is host_anchor and rule[5:] == tail and rule[2] is abp:
                # `||host^` with no option (87k of EasyList + EasyPrivacy's 108k filters),
                # inline: indexed as its bare rule id (see PLAIN in the module docstring).
                # With no `$`, its text is its own `$badfilter` key.
                pattern = rule[3].lower()
                if plain_host(pattern) and not (
                    (bad or disabled) and (rule[1].text in bad or rule[1].text in disabled)
                ):
                    table = block_suffix if rule[0] is block else allow_suffix
                    host = pattern[:-1]
                    if host in table:
                        _add_host(table, host, len(rules))
                    else:
                        table[host] = len(rules)
                    rules.append(rule)
                    continue
            if rule.badfilter:
                self._note(rule, "badfilter")
            elif bad and _badfilter_key(rule.source.text) in bad:
                self._note(rule, "disabled-by-badfilter")
            elif self.disabled and rule.source.text in self.disabled:
                self._note(rule, "disabled-by-user")
            else:
                self._compile(rule)
        self._pending = []
        for list_id, count in self._kept.items():
            self.lists[list_id]["rules"] = count
        return self.rules, self._index(), self.diagnostics

    def _note(self, rule: Rule, kind: str) -> None:
        self._kept[rule.source.list_id] -= 1
        skipped = self.lists[rule.source.list_id]["skipped"]
        skipped[kind] = skipped.get(kind, 0) + 1

    def _compile(self, rule: Rule) -> None:
        types = int(rule.types)
        categories = _categories(rule, types)
        variants = self._patterns(rule)
        if variants is None:
            return
        rid = len(self.rules)
        self.rules.append(rule)
        include = rule.include_domains
        party = rule.party
        head = (
            rid,
            types,
            0 if party is Party.ANY else (2 if party is Party.THIRD else 1),
            frozenset(include) if include else None,
            frozenset(rule.exclude_domains) if rule.exclude_domains else None,
            frozenset(rule.denyallow) if rule.denyallow else None,
        )
        if rule.host_mode is not HostMode.NONE:
            fixed_key, fixed_slot = rule.host, _HOST_SLOT[rule.host_mode]
        else:
            fixed_key, fixed_slot = "", ""
        page_keys = tuple([d for d in include if not d.endswith(".*")]) if include else ()
        add = self._candidates.append
        indexes = self._indexes
        for pattern, host_key, tokens in variants:
            compiled = (*head, pattern)
            key, slot = (fixed_key, fixed_slot) if fixed_key else (host_key, "suffix")
            for category in categories:
                if key:  # host-keyed: into its bucket now, in rule order
                    _add_host(indexes[category][slot], key, compiled)
                else:  # by token, page or left-over: once every filter's tokens are known
                    add((category, compiled, tokens, page_keys))

    def _patterns(self, rule: Rule) -> list[tuple[tuple[Any, ...] | None, str, list[str]]] | None:
        """Compiled pattern variants for a rule: (pattern, host key, index tokens)."""
        case_flag = FLAG_CASE if rule.match_case else 0
        if rule.regex is not None:
            if compile_regex(rule.regex) is None:
                self.diagnostics.append(
                    Diagnostic(
                        rule.source.list_id,
                        rule.source.line,
                        Severity.ERROR,
                        "engine.bad-regex",
                        "regular expression rejected: RE2 (the linear-time engine) refuses "
                        f"it, or its program is over {MAX_REGEX_PROGRAM} instructions",
                    )
                )
                self._note(rule, "bad-regex")
                return None
            return [
                ((KIND_REGEX, rule.regex, case_flag), "", regex_tokens(rule.regex, bool(case_flag)))
            ]

        text = rule.pattern if rule.match_case else rule.pattern.lower()
        flags = case_flag | (FLAG_SEPARATOR if rule.syntax is Format.ABP else 0)
        anchor = int(rule.anchor)
        if anchor:
            if anchor & _A_LEFT:
                flags |= FLAG_LEFT
            if anchor & _A_RIGHT:
                flags |= FLAG_RIGHT
            if anchor & _A_HOST:
                flags |= FLAG_HOST
        out = [self._pattern(text, flags)]
        if rule.scheme_equivalence and not self.strict_ie:
            for plain, secure in (("http://", "https://"), ("ws://", "wss://")):
                if text.startswith(plain):
                    out.append(self._pattern(secure + text[len(plain) :], flags))
        return out

    @staticmethod
    def _pattern(text: str, flags: int) -> tuple[tuple[Any, ...] | None, str, list[str]]:
        if flags & FLAG_HOST and flags & FLAG_SEPARATOR:
            # `||host^...` / `||host/...`: index by host, match the tail at the host end.
            m = _HOSTNAME_RE.match(text)
            end = m.end() if m else 0
            host, rest = text[:end], text[end:]
            if host and host[0] != "." and host[-1] != "." and rest[:1] in ("^", "/"):
                # `^` right after a host always meets ':', '/' or '?': it consumes one char.
                # (`||a.^` is no host: a label start, `a.`, then a separator; generic.)
                skip = 1 if rest[0] == "^" else 0
                tail = rest[skip:]
                if not tail and not flags & FLAG_RIGHT:
                    return None, host, []
                pieces, starts_wild, ends_wild = _pieces(tail)
                tflags = flags & (FLAG_SEPARATOR | FLAG_CASE | FLAG_RIGHT)
                if ends_wild and tail:
                    tflags &= ~FLAG_RIGHT
                if not starts_wild:
                    tflags |= FLAG_LEFT
                if not pieces and not tflags & FLAG_RIGHT:
                    return None, host, []
                return (KIND_TAIL, pieces, tflags, skip), host, []
        pieces, starts_wild, ends_wild = _pieces(text)
        if starts_wild:
            flags &= ~(FLAG_LEFT | FLAG_HOST)
        if ends_wild:
            flags &= ~FLAG_RIGHT
        if not pieces:
            return None, "", []
        # URL tokens come from the lower-cased URL, so index by lower-case tokens even
        # for `$match-case` filters (the case is checked when the filter is matched).
        tokens = safe_tokens(
            tuple(p.lower() for p in pieces) if flags & FLAG_CASE else pieces, flags
        )
        if (
            len(pieces) == 1
            and not flags & (FLAG_LEFT | FLAG_RIGHT | FLAG_HOST | FLAG_CASE)
            and not (flags & FLAG_SEPARATOR and "^" in pieces[0])
        ):
            return (KIND_LITERAL, pieces[0], flags), "", tokens
        return (KIND_GENERIC, pieces, flags), "", tokens

    def _index(self) -> dict[str, Index]:
        counts: Counter[str] = Counter()
        for cand in self._candidates:
            if cand[2]:
                counts.update(set(cand[2]))
        indexes = self._indexes
        common = _COMMON_TOKENS

        def rank(t: str) -> tuple[bool, bool, int, int]:
            return (len(t) < 2, t in common, counts[t], -len(t))

        for category, compiled, tokens, page_keys in self._candidates:
            index = indexes[category]
            usable = [t for t in tokens if t not in _UBIQUITOUS] if tokens else tokens
            # Keyed by bytes: the matcher tokenises the URL as bytes (C-speed).
            if usable and not all(t in common or len(t) < 2 for t in usable):
                index["token"].setdefault(min(usable, key=rank).encode("ascii"), []).append(
                    compiled
                )
            elif page_keys:
                for page_key in page_keys:
                    index["page"].setdefault(page_key, []).append(compiled)
            elif usable:
                # Only common or one-letter tokens: still far fewer requests than all of
                # them, which is what the left-overs cost (`gif` is in ~1.5% of URLs).
                # Common words before single letters: `&t=`, `&u=` fill long query strings.
                index["token"].setdefault(min(usable, key=rank).encode("ascii"), []).append(
                    compiled
                )
            else:
                index["fallback"].append(compiled)
        self._candidates = []
        return indexes


def build_index(
    lists: Iterable[ParsedList],
    *,
    strict_ie: bool = False,
    disabled: frozenset[str] = frozenset(),
) -> tuple[list[Rule], dict[str, Index], list[Diagnostic], dict[str, dict[str, Any]]]:
    builder = Builder(strict_ie=strict_ie, disabled=disabled)
    for parsed in lists:
        builder.add_list(parsed)
    rules, index, diagnostics = builder.build()
    return rules, index, diagnostics, builder.lists


def cache_key(
    items: Iterable[tuple[str, str, str]],
    *,
    strict_ie: bool,
    disabled: frozenset[str] = frozenset(),
) -> str:
    """Key for a compiled engine: engine version, options, and each list's id and text."""
    from trackguard import __version__

    h = hashlib.sha256(f"trackguard/{__version__}/{ENGINE_VERSION}/strict={strict_ie}\n".encode())
    for list_id, fmt, text in items:
        h.update(list_id.encode("utf-8", "surrogatepass") + b"\0" + fmt.encode() + b"\0")
        h.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    for rule_text in sorted(disabled):
        h.update(b"disabled\0" + rule_text.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()
