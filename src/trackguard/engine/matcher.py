"""Matcher: answers "which rule applies to this request" from a built index.

Read-only after construction (the only mutation is filling memo caches), so one matcher
can serve many threads, and a new one can be built aside and swapped in. Pure: no I/O.

Evaluation order (TPL spec §A.8 steps 3-4, the same for every format):
  1. find a block rule (important ones included); none -> allowed, no rule;
  2. an `$important` block -> blocked, exceptions cannot lift it;
  3. an exception (ABP `@@`, TPL `+d`, or a `$document` exception for the page) -> allowed,
     unless an `$important` block also applies;
  4. otherwise blocked by the rule from step 1.

Where each category finds its candidates: `category`; one filter against one request:
`filters`; the request as filters see it: `request`. Every decision names its rule
(text, list, line) and says why; a request that runs out of its work budget is decided
with what matched so far, and the rule that cost it is remembered for `lint`.
"""

from __future__ import annotations

from trackguard.domain import MEMO_URL_MAX
from trackguard.engine.category import Category, all_filters
from trackguard.engine.compiler import Index
from trackguard.engine.pieces import OverBudget
from trackguard.engine.request import _PAGE_HOST, Context, page_host
from trackguard.engine.table import RuleTable
from trackguard.model import Decision, RequestType, Rule

_DOCUMENT = int(RequestType.DOCUMENT)
_OTHER = int(RequestType.OTHER)
_COSTLY_KEEP = 1024  # distinct costly rules remembered (a hostile list has many)
_VERDICTS_KEPT = 65536  # "blocked by rule N" verdicts kept for reuse (`_blocked_by`)
_THIRD_PARTY_BLOCK = "third-party request matched a block rule"
_FIRST_PARTY_BLOCK = "first-party request matched a block rule"


_NO_MATCH = Decision(False, None, None, "no rule matched")
_NOT_NETWORK = Decision(False, None, None, "not a network URL (no host)")


class Matcher:
    """Holds the rule table and the per-category indexes; all methods are read-only."""

    def __init__(self, rules: RuleTable, indexes: dict[str, Index]) -> None:
        self.rules = rules
        self.indexes = indexes
        self._block = Category(indexes["block"])
        self._important = Category(indexes["important"])
        self._allow = Category(indexes["allow"])
        self._docallow = Category(indexes["docallow"])
        self._removeparam = Category(indexes["removeparam"])
        self._keepparam = Category(indexes["keepparam"])
        self._important_ids = frozenset(int(f[0]) for f in all_filters(indexes["important"]))
        self._has_allow = any(indexes["allow"].values())
        self._has_docallow = any(indexes["docallow"].values())
        self._has_removeparam = any(indexes["removeparam"].values())
        self._doc_cache: dict[str, int | None] = {}
        self._blocked: dict[tuple[int, bool], Decision] = {}
        #: Rules that ran a request out of its work budget, with how often (bounded).
        self.costly: dict[int, int] = {}

    def _over(self, exc: OverBudget) -> str:
        """Record the rule that used up a request's budget; the reason text for it."""
        rule_id = exc.rule
        if rule_id is None:
            return "the work budget ran out while looking at a large bucket of rules"
        if rule_id in self.costly or len(self.costly) < _COSTLY_KEEP:
            self.costly[rule_id] = self.costly.get(rule_id, 0) + 1
        rule = self.rule(rule_id)
        return (
            f"the work budget ran out on `{rule.source.text[:80]}` "
            f"({rule.source.list_id}:{rule.source.line}), a rule too costly for this URL"
        )

    def rule(self, rule_id: int) -> Rule:
        """The Rule behind an id (a loaded engine re-parses only rules that decide)."""
        return self.rules[rule_id]

    def decide(self, url: str, source_url: str | None, type_bit: int) -> Decision:
        if source_url:
            page = _PAGE_HOST.get(source_url)  # `page_host`, its common case inlined
            if page is None:
                page = page_host(source_url)
        else:
            page = ""
        ctx = Context(url, page, type_bit, source_url is not None)
        if not ctx.host:
            # `data:`, `blob:`, `about:` never reach the network: nothing to protect from.
            return _NOT_NETWORK
        try:
            block = self._block.first(ctx)
        except OverBudget as exc:
            # Fail safe: decide with what matched so far (nothing), say why.
            return Decision(False, None, None, self._over(exc) + "; nothing blocked")
        if block is None:
            return _NO_MATCH
        if block in self._important_ids:
            return Decision(True, self.rule(block), None, "blocked by an $important rule")
        try:
            exception = self._allow.first(ctx) if self._has_allow else None
        except OverBudget as exc:
            reason = self._over(exc)
            return Decision(True, self.rule(block), None, f"matched a block rule; {reason}")
        if exception is None and source_url and self._has_docallow:
            exception = self._document_exception(source_url)
        if exception is None:
            third = ctx.is_third()
            found = self._blocked.get((block, third))
            if found is None:
                found = self._blocked_by(block, third)
            return found
        try:
            important = self._important.first(ctx) if self._important_ids else None
        except OverBudget as exc:
            self._over(exc)
            important = None
        if important is not None:
            return Decision(True, self.rule(important), None, "blocked by an $important rule")
        return Decision(
            False, self.rule(exception), self.rule(block), "an allow rule overrides the block rule"
        )

    def _blocked_by(self, block: int, third: bool) -> Decision:
        """The verdict "blocked by this rule" for a party, made once: it is the same
        immutable object for every request a rule blocks (the common verdict; building
        it per request was a tenth of a blocked request's time)."""
        reason = _THIRD_PARTY_BLOCK if third else _FIRST_PARTY_BLOCK
        decision = Decision(True, self.rule(block), None, reason)
        if len(self._blocked) >= _VERDICTS_KEPT:
            self._blocked.clear()
        self._blocked[(block, third)] = decision
        return decision

    def decide_host(self, host: str) -> Decision:
        """CONNECT tunnels: only rules that need nothing but the host (§A.7 item 6)."""
        ctx = Context(f"https://{host}/", "", _OTHER, False)
        block = self._block.first_host_only(ctx)
        if block is None:
            return Decision(False, None, None, "no host rule matched")
        if block not in self._important_ids:
            exception = self._allow.first_host_only(ctx)
            if exception is None:
                # A tunnel cannot see which URL it carries: an every-site exception for a
                # path on this very host (a loader pages need) keeps the host reachable.
                exception = self._allow.first_path_exception(ctx.host)
            if exception is not None:
                return Decision(
                    False,
                    self.rule(exception),
                    self.rule(block),
                    "an allow rule overrides the block rule",
                )
        return Decision(True, self.rule(block), None, "tunnel to a listed host")

    def removeparam_rules(self, url: str, source_url: str | None, type_bit: int) -> list[Rule]:
        if not self._has_removeparam:
            return []
        page = page_host(source_url) if source_url else ""
        ctx = Context(url, page, type_bit, source_url is not None)
        rules = [self.rule(r) for r in self._removeparam.all(ctx)]
        if rules:
            kept = {self.rule(r).removeparam for r in self._keepparam.all(ctx)}
            if ctx.over is not None:
                self._over(ctx.over)
            if "" in kept:
                return []  # `@@...$removeparam`: nothing is stripped on these requests
            rules = [r for r in rules if r.removeparam not in kept]
        return rules

    def matching_rules(self, url: str, source_url: str | None, type_bit: int) -> list[Rule]:
        page = page_host(source_url) if source_url else ""
        ctx = Context(url, page, type_bit, source_url is not None)
        if not ctx.host:
            return []
        ids: list[int] = []
        for category in (self._block, self._allow, self._removeparam):
            ids.extend(r for r in category.all(ctx) if r not in ids)
        if ctx.over is not None:
            self._over(ctx.over)
        return [self.rule(r) for r in ids]

    def _document_exception(self, page_url: str) -> int | None:
        """A `$document` exception matching the page disables blocking on it."""
        cached = self._doc_cache.get(page_url, -1)
        if cached != -1:
            return cached
        host = page_host(page_url)
        found = None
        if not self._docallow.misses_host(host):
            try:
                found = self._docallow.first(Context(page_url, host, _DOCUMENT, True))
            except OverBudget as exc:
                self._over(exc)
        if len(page_url) <= MEMO_URL_MAX:  # memory bounded: see `request.page_host`
            if len(self._doc_cache) > 4096:
                self._doc_cache.clear()
            self._doc_cache[page_url] = found
        return found
