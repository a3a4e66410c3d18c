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
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable
from functools import partial
from itertools import chain, compress, count, repeat
from operator import add, attrgetter, itemgetter, ne, not_, sub
from typing import Any

from trackguard.engine.literals import bounded_tokens, regex_tokens
from trackguard.engine.params import MAX_REGEX_PROGRAM, compile_regex
from trackguard.engine.table import Packed, pack_rules, pack_scattered
from trackguard.lists.abp import PLAIN_HOST, PlainHosts
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
# Enum members as module constants: `Party.ANY` is a ~90 ns metaclass lookup each time,
# and the builder asks several per rule (20k rules).
_BLOCK, _ALLOW, _ABP = Action.BLOCK, Action.ALLOW, Format.ABP
_ANY_PARTY, _THIRD_PARTY, _NO_HOST = Party.ANY, Party.THIRD, HostMode.NONE

Compiled = tuple[Any, ...]
Index = dict[str, Any]


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
    return tuple(filter(None, raw)), raw[0] == "", raw[-1] == ""


def safe_tokens(pieces: tuple[str, ...], flags: int) -> list[str]:
    """Tokens that every URL matching these pieces must contain as a whole token.

    A run of token characters counts only when both of its ends are bounded inside the
    pattern (by a non-token character or `^`), or by an anchor; a run that touches a
    wildcard or an unanchored end could be part of a longer token in the URL.
    """
    left = bool(flags & (FLAG_LEFT | FLAG_HOST))
    return [t.decode() for t in bounded_tokens(pieces, left, bool(flags & FLAG_RIGHT))]


# A compiled filter with no host key, waiting for its index slot until every filter's
# tokens are counted: (category, compiled, tokens, page_keys)
_Candidate = tuple[str, Compiled, list[str], tuple[str, ...]]
_BADFILTER = attrgetter("badfilter")


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


def _insert_host(table: dict[str, Any], key: str, rule_id: int) -> None:
    """Put a plain filter in a host bucket at its place by rule id (`_add_host` appends)."""
    have = table.get(key)
    if have is None:
        table[key] = rule_id
        return
    if type(have) is int:
        have = table[key] = [plain_filter(have)]
    insort(have, plain_filter(rule_id), key=_RULE_ID)


_RULE_ID = itemgetter(0)


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
        return ("removeparam",) if rule.action is _BLOCK else ("keepparam",)
    if rule.action is _ALLOW:
        return ("allow", "docallow") if types & _DOCUMENT_BIT else ("allow",)
    # Important rules sit in the block index too, so "no block rule matched" also
    # settles "no important rule matched" on the common path.
    return ("block", "important") if rule.important else ("block",)


class Builder:
    """Collects rules, applies `$badfilter`, compiles and indexes them.

    Rule ids follow the lists' line order. A list may come with its plain `||host^`
    filters set aside (`PlainHosts`, from `scan_abp`): they are indexed as bare ids by
    C-level maps, and a `Rule`'s id leaves room for the plain ones on earlier lines, so
    the index and the rule table are the same as from the fully parsed list.
    """

    def __init__(self, *, strict_ie: bool = False, disabled: frozenset[str] = frozenset()) -> None:
        self.strict_ie = strict_ie
        self.disabled = disabled
        self.rules: list[Rule] = []  # the kept rules that came as `Rule`s, by id
        self.diagnostics: list[Diagnostic] = []
        self.lists: dict[str, dict[str, Any]] = {}
        self._candidates: list[_Candidate] = []
        self._indexes: dict[str, Index] = {
            c: {"suffix": {}, "labels": {}, "exact": {}, "token": {}, "page": {}, "fallback": []}
            for c in CATEGORIES
        }
        self._pending: list[tuple[str, tuple[Rule, ...], PlainHosts | None]] = []
        self._bad_keys: set[str] = set()
        # Rules kept per list: all it brought, less each one `_note` drops (counting the
        # 100k kept ones by their list id afterwards took 3% of the build).
        self._kept: Counter[str] = Counter()
        self._count = 0  # rule ids given so far
        self._rule_ids: list[int] = []  # the id of each of `self.rules`
        self._plain: list[tuple[list[int], list[str], list[int]]] = []  # lines, texts, ids
        self._spans: list[tuple[str, int]] = []  # (list id, rules kept), in id order

    def add_list(self, parsed: ParsedList, plain: PlainHosts | None = None) -> None:
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
        self._pending.append((parsed.list_id, parsed.rules, plain))
        self._kept[parsed.list_id] += len(parsed.rules) + (len(plain.lines) if plain else 0)

    def build(self) -> tuple[list[Rule], dict[str, Index], list[Diagnostic]]:
        """Index every list; returns the kept `Rule`s (all of them when no list came
        with `PlainHosts`; `table` has every rule either way)."""
        for list_id, rules, plain in self._pending:
            if plain is not None and plain.lines:
                plain = self._drop_plain(list_id, plain)
            plain_lines = plain.lines if plain is not None else []
            kept = self._add_rules(rules, plain_lines)
            if plain_lines:
                assert plain is not None
                self._add_plain(list_id, plain, kept)
            self._spans.append((list_id, len(kept) + len(plain_lines)))
            self._count += len(kept) + len(plain_lines)
        self._pending = []
        for list_id, number in self._kept.items():
            self.lists[list_id]["rules"] = number
        return self.rules, self._index(), self.diagnostics

    def _add_rules(self, rules: tuple[Rule, ...], plain_lines: list[int]) -> list[int]:
        """Index one list's `Rule`s; for each one kept, how many plain filters (set
        aside) come before it: the ids it leaves room for."""
        bad = self._bad_keys
        disabled = self.disabled
        tail, host_anchor, abp, block = _PLAIN_TAIL, Anchor.HOST, _ABP, _BLOCK
        plain_host = PLAIN_HOST.fullmatch
        block_suffix = self._indexes["block"]["suffix"]
        allow_suffix = self._indexes["allow"]["suffix"]
        keep_rule, keep_id = self.rules.append, self._rule_ids.append
        kept: list[int] = []
        keep_before = kept.append
        base = self._count
        plain_before = partial(bisect_left, plain_lines) if plain_lines else None
        for rule in rules:
            before = plain_before(rule[1][1]) if plain_before else 0
            rid = base + len(kept) + before
            if rule[4] is host_anchor and rule[5:] == tail and rule[2] is abp:
                # `||host^` with no option that was not set aside (`parse_abp`, or
                # `$_`-style no-op options): indexed as its bare id (PLAIN, module
                # docstring). With no `$`, its text is its own `$badfilter` key.
                pattern = rule[3].lower()
                if plain_host(pattern) and not (
                    (bad or disabled) and (rule[1].text in bad or rule[1].text in disabled)
                ):
                    table = block_suffix if rule[0] is block else allow_suffix
                    host = pattern[:-1]
                    if host in table:
                        _add_host(table, host, rid)
                    else:
                        table[host] = rid
                    keep_rule(rule)
                    keep_id(rid)
                    keep_before(before)
                    continue
            if rule.badfilter:
                self._note(rule.source.list_id, "badfilter")
            elif bad and _badfilter_key(rule.source.text) in bad:
                self._note(rule.source.list_id, "disabled-by-badfilter")
            elif disabled and rule.source.text in disabled:
                self._note(rule.source.list_id, "disabled-by-user")
            elif self._compile(rule, rid):
                keep_rule(rule)
                keep_id(rid)
                keep_before(before)
        return kept

    def _drop_plain(self, list_id: str, plain: PlainHosts) -> PlainHosts:
        """The plain filters less those `$badfilter` cancels or the user switched off."""
        bad, disabled, texts = self._bad_keys, self.disabled, plain.texts
        if (not bad or bad.isdisjoint(texts)) and (not disabled or disabled.isdisjoint(texts)):
            return plain
        wanted = [not (t in bad or t in disabled) for t in texts]
        for text in compress(texts, map(not_, wanted)):
            self._note(list_id, "disabled-by-badfilter" if text in bad else "disabled-by-user")
        lines, texts, hosts = plain
        return PlainHosts(
            list(compress(lines, wanted)),
            list(compress(texts, wanted)),
            list(compress(hosts, wanted)),
        )

    def _add_plain(self, list_id: str, plain: PlainHosts, kept: list[int]) -> None:
        """Index one list's plain filters as bare ids (PLAIN), by C-level maps.

        `kept`: for each `Rule` kept, the plain filters before it (`_add_rules`).
        """
        lines, texts, hosts = plain
        # A plain filter's id: the list's first id, plus the plain filters and the kept
        # `Rule`s before it; n plain filters before the i-th rule -> offset i from n on.
        bounds = [0, *kept, len(lines)]
        offsets = chain.from_iterable(map(repeat, count(), map(sub, bounds[1:], bounds)))
        ids = list(map(add, count(self._count), offsets))
        table = self._indexes["block"]["suffix"]
        shared = table.keys() & hosts  # also the key of another filter
        held = {host: table[host] for host in shared}
        size = len(table)
        table.update(zip(hosts, ids, strict=True))
        if len(table) - size < len(hosts) - len(shared):  # a host listed twice
            shared.update(compress(hosts, map(ne, map(table.__getitem__, hosts), ids)))
        if shared:
            # Those buckets as they were, then their plain filters one by one, in id order.
            for host in shared:
                if host in held:
                    table[host] = held[host]
                else:
                    del table[host]
            pairs = zip(hosts, ids, strict=True)
            for host, rid in compress(pairs, map(shared.__contains__, hosts)):
                _insert_host(table, host, rid)
        self._plain.append((lines, texts, ids))

    def table(self) -> Packed:
        """The packed rule table (`pack_rules`) of every rule `build` kept, by id."""
        if not self._plain:
            return pack_rules(self.rules)
        return pack_scattered(self._spans, self.rules, self._rule_ids, self._plain)

    def _note(self, list_id: str, kind: str) -> None:
        self._kept[list_id] -= 1
        skipped = self.lists[list_id]["skipped"]
        skipped[kind] = skipped.get(kind, 0) + 1

    def _compile(self, rule: Rule, rid: int) -> bool:
        """Index one rule under id `rid`; False when it cannot be (noted)."""
        types = int(rule.types)
        categories = _categories(rule, types)
        variants = self._patterns(rule)
        if variants is None:
            return False
        include = rule.include_domains
        party = rule.party
        head = (
            rid,
            types,
            0 if party is _ANY_PARTY else (2 if party is _THIRD_PARTY else 1),
            frozenset(include) if include else None,
            frozenset(rule.exclude_domains) if rule.exclude_domains else None,
            frozenset(rule.denyallow) if rule.denyallow else None,
        )
        if rule.host_mode is not _NO_HOST:
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
        return True

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
                self._note(rule.source.list_id, "bad-regex")
                return None
            return [
                ((KIND_REGEX, rule.regex, case_flag), "", regex_tokens(rule.regex, bool(case_flag)))
            ]

        text = rule.pattern if rule.match_case else rule.pattern.lower()
        flags = case_flag | (FLAG_SEPARATOR if rule.syntax is _ABP else 0)
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


def build_table(
    lists: Iterable[tuple[ParsedList, PlainHosts | None]],
    *,
    strict_ie: bool = False,
    disabled: frozenset[str] = frozenset(),
) -> tuple[Packed, dict[str, Index], list[Diagnostic], dict[str, Any]]:
    """`build_index` for an engine: the packed rule table (`pack_rules`) instead of the
    `Rule`s, from lists that may bring their plain filters set aside (`scan_abp`)."""
    builder = Builder(strict_ie=strict_ie, disabled=disabled)
    for parsed, plain in lists:
        builder.add_list(parsed, plain)
    _, index, diagnostics = builder.build()
    return builder.table(), index, diagnostics, builder.lists


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
