"""The learner's core (learning.md §B5, §B6, §B9): observations in, evidence and decisions out.

Rule 1: pure. The clock is the `day` inside each observation (or passed in); SQLite, the
key file and the network live in adapters (`store`, `service`); nothing here imports them.
Rule 2: the state holds only what §B10 allows: tracker keys, keyed 16-bit site tags, kind
bits and UTC day numbers. A site name, URL or cookie value never reaches `LearnState`.
Rule 3: enforcement is derived, never stored: `enforced` recomputes it from the state, the
mode and the gates (2-day span, daily recompute, novelty cap), so `suggest` can never
change traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from trackguard.domain import to_ascii_host
from trackguard.learn.detect import detect, fingerprint_path
from trackguard.learn.keys import (
    EntityMap,
    ignored_reason,
    is_private_host,
    is_shared_cdn,
    site_key,
    strip_only_reason,
    tracker_key,
)
from trackguard.learn.model import (
    NO_KIND,
    NON_COOKIE,
    Decision,
    Evidence,
    Kind,
    LearnConfig,
    Mode,
    Observation,
    PresenceItem,
    Remedy,
    Source,
)
from trackguard.model import RequestType

#: Request types that count as third-party *items* in presence mode (TPL spec §B.2).
_PRESENCE_TYPES = ~(RequestType.DOCUMENT | RequestType.POPUP)
FINAL = (Remedy.BLOCK, Remedy.PATH)


def _never(_domain: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class LearnContext:
    """What the core reads besides the observation: config, lists, overrides, entity map."""

    config: LearnConfig
    site_tag: Callable[[str], int]
    entities: EntityMap = field(default_factory=EntityMap)
    #: An enabled list or the seed knows the domain (not novel, §B9.3).
    is_listed: Callable[[str], bool] = _never
    #: An enabled list allows the domain: auto-enforcement is suppressed (§B7.3).
    list_allows: Callable[[str], bool] = _never
    #: Site keys on the user's "never learn here" list (§B5).
    never_learn: frozenset[str] = frozenset()
    #: Suggestion verdicts from the policy store: tracker -> "accepted" / "rejected".
    verdicts: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class TrackerRow:
    """One tracker's counts (§B10 `tracker` table). `site_count` is kept after site tags
    are dropped for a final remedy."""

    kinds: int
    site_count: int
    first_day: int
    last_day: int
    asset_ratio: float | None = None
    responses: int = 0
    decision: Remedy = Remedy.NONE
    decided_day: int | None = None
    source: Source = Source.LEARNED


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything `decide` and the explanations read about one tracker."""

    tracker: str
    kinds: Kind
    sites: int  # distinct site tags with live evidence (or the count kept at decision)
    non_cookie_sites: int
    first_day: int
    last_day: int
    asset_ratio: float | None
    decision: Remedy
    decided_day: int | None
    source: Source


class Learner:
    """Turns one observation into evidence, or None when it must not count (§B4, §B5)."""

    def __init__(self, ctx: LearnContext) -> None:
        self.ctx = ctx

    def keys(self, obs: Observation) -> tuple[str, str] | None:
        """(tracker key, site key) for a countable third-party observation, else None."""
        host = to_ascii_host(obs.request_host)
        tracker = tracker_key(host)
        site = site_key(obs.site_host, self.ctx.entities)
        if tracker is None or site is None:
            return None
        if self.ctx.entities.owner(tracker) == site:
            return None  # first party, or one owner's related domains (§B5)
        if ignored_reason(host) is not None or self.never_here(obs.site_host, site):
            return None
        if self.ctx.verdicts.get(tracker) == "rejected":
            return None  # a rejected suggestion is never suggested again (§B7.1)
        return tracker, site

    def never_here(self, site_host: str, site: str) -> bool:
        """The page's site is on the "never learn here" list (by registrable domain, or
        by its owner key when the user listed that)."""
        never = self.ctx.never_learn
        return bool(never) and (site in never or tracker_key(to_ascii_host(site_host)) in never)

    def observe(self, obs: Observation) -> Evidence | None:
        if self.ctx.config.mode is Mode.OFF:
            return None
        keys = self.keys(obs)
        if keys is None:
            return None
        tracker, site = keys
        kinds = detect(obs, self.ctx.config)
        shape = obs.response
        asset = shape.is_asset if shape is not None else None
        if not kinds:
            # No evidence: only the response shape is worth noting, for known trackers.
            return Evidence(tracker, self.ctx.site_tag(site), NO_KIND, obs.day, False, asset)
        path = ""
        host = to_ascii_host(obs.request_host)
        if kinds & Kind.FINGERPRINT and (is_shared_cdn(host) or strip_only_reason(host)):
            path = fingerprint_path(obs) or obs.path.split("?", 1)[0]
            tracker = f"{host}{path}"
        novel = not self.ctx.is_listed(tracker)
        return Evidence(tracker, self.ctx.site_tag(site), kinds, obs.day, novel, asset, path)

    def presence(self, obs: Observation) -> PresenceItem | None:
        """IE-compatible presence mode: the item and site tag, or None (TPL spec §B.2)."""
        cfg = self.ctx.config
        if not cfg.presence or cfg.mode is Mode.OFF or not obs.request_type & _PRESENCE_TYPES:
            return None
        keys = self.keys(obs)
        if keys is None:
            return None
        path = obs.path.split("?", 1)[0].split("#", 1)[0][:512] or "/"
        item = to_ascii_host(obs.request_host) + path
        return PresenceItem(item, self.ctx.site_tag(keys[1]), obs.day)


@dataclass(slots=True)
class LearnState:
    """The learner's tables in memory (§B10), mutated only through these methods."""

    #: tracker -> site tag -> [kinds, last day]
    evidence: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    trackers: dict[str, TrackerRow] = field(default_factory=dict)
    path_rules: set[tuple[str, str]] = field(default_factory=set)
    novelty: dict[tuple[int, int], int] = field(default_factory=dict)  # (tag, day) -> used
    presence: dict[tuple[str, int], int] = field(default_factory=dict)  # (item, tag) -> day
    #: DNT-policy checks (§B7.4): tracker FQDN -> (posts a known policy, day to check again)
    dnt: dict[str, tuple[bool, int]] = field(default_factory=dict)
    recomputed_day: int = -1
    noisy: int = 0  # novel observations dropped by the cap (stats only)

    # -- counting ---------------------------------------------------------------------

    def add(self, ev: Evidence, ctx: LearnContext) -> bool:
        """Count one piece of evidence; False when a gate dropped it (§B6, §B9.3)."""
        self.roll(ev.day, ctx)
        row = self.trackers.get(ev.tracker)
        if not ev.kinds:
            if row is not None and ev.asset is not None:
                _note_shape(row, ev.asset)
            return False
        rows = self.evidence.get(ev.tracker)
        live = rows.get(ev.site_tag) if rows is not None else None
        if ev.novel and (live is None or live[1] != ev.day):
            budget = (ev.site_tag, ev.day)
            used = self.novelty.get(budget, 0)
            if used >= ctx.config.novelty_cap:
                self.noisy += 1
                return False
            self.novelty[budget] = used + 1
        if row is None:
            row = self.trackers[ev.tracker] = TrackerRow(int(ev.kinds), 0, ev.day, ev.day)
        row.kinds |= int(ev.kinds)
        row.first_day = min(row.first_day, ev.day)
        row.last_day = max(row.last_day, ev.day)
        if ev.asset is not None:
            _note_shape(row, ev.asset)
        if row.decision in FINAL:
            return True  # counts and dates only: no site tags after a final remedy (§B10)
        if row.decision is Remedy.STRIP and not ev.kinds & NON_COOKIE:
            return True  # a strip decision keeps only rows that can escalate (§B10)
        if live is None:
            self.evidence.setdefault(ev.tracker, {})[ev.site_tag] = [int(ev.kinds), ev.day]
            row.site_count += 1
        else:
            live[0] |= int(ev.kinds)
            live[1] = max(live[1], ev.day)
        return True

    def add_presence(self, item: PresenceItem, ctx: LearnContext) -> None:
        self.roll(item.day, ctx)
        key = (item.item, item.site_tag)
        self.presence[key] = max(self.presence.get(key, item.day), item.day)

    def forget_site(self, tag: int) -> int:
        """Drop every row counted for one site tag ("never learn here" added later).

        Tags are 16 bits, so a row of another site with the same tag may go too: that can
        only undercount, like any tag collision (§B10). Returns the rows dropped.
        """
        dropped = 0
        for tracker, rows in list(self.evidence.items()):
            if rows.pop(tag, None) is not None:
                dropped += 1
                row = self.trackers.get(tracker)
                if row is not None and row.decision is Remedy.NONE:
                    row.site_count = len(rows)
            if not rows:
                del self.evidence[tracker]
                row = self.trackers.get(tracker)
                if row is not None and row.decision is Remedy.NONE:
                    del self.trackers[tracker]
        for key in [k for k in self.presence if k[1] == tag]:
            del self.presence[key]
            dropped += 1
        for budget in [k for k in self.novelty if k[0] == tag]:
            del self.novelty[budget]
        return dropped

    def record_dnt(self, fqdn: str, compliant: bool, next_day: int) -> None:
        """The result of one DNT-policy check of a decided tracker's host (§B7.4)."""
        self.dnt[fqdn] = (compliant, next_day)

    def sighting(self, tracker: str, day: int) -> None:
        """A request to a decided tracker (blocked ones too) keeps its rule alive (§B10)."""
        row = self.trackers.get(tracker)
        if row is not None and row.decision is not Remedy.NONE:
            row.last_day = max(row.last_day, day)

    # -- the daily step ---------------------------------------------------------------

    def roll(self, day: int, ctx: LearnContext) -> None:
        """On the first event of a new day: purge, then recompute decisions (§B9.4)."""
        if day > self.recomputed_day:
            self.purge(day, ctx.config)
            self.recompute(day, ctx)

    def purge(self, today: int, config: LearnConfig) -> None:
        """Retention (§B10). Idempotent: running it twice changes nothing more."""
        oldest = today - config.evidence_days
        for tracker, rows in list(self.evidence.items()):
            for tag in [t for t, v in rows.items() if v[1] <= oldest]:
                del rows[tag]
            if not rows:
                del self.evidence[tracker]
        for item in [k for k, d in self.presence.items() if d <= oldest]:
            del self.presence[item]
        for budget in [k for k in self.novelty if k[1] < today]:
            del self.novelty[budget]
        for tracker, row in list(self.trackers.items()):
            if row.decision is Remedy.NONE:
                row.site_count = len(self.evidence.get(tracker, ()))
            if row.decision is Remedy.NONE and tracker not in self.evidence:
                del self.trackers[tracker]
            elif row.decision is not Remedy.NONE and row.last_day <= today - config.rule_days:
                del self.trackers[tracker]
                self.path_rules = {(h, p) for h, p in self.path_rules if h + p != tracker}
                self.evidence.pop(tracker, None)
        # A DNT check is kept only while a decision it exempts from can exist.
        decided = {
            t.split("/", 1)[0] for t, r in self.trackers.items() if r.decision is not Remedy.NONE
        }
        for fqdn in [f for f in self.dnt if tracker_key(f) not in decided and f not in decided]:
            del self.dnt[fqdn]

    def recompute(self, today: int, ctx: LearnContext) -> None:
        """Decide every tracker from its evidence, once per day (§B6.5, §B9.4)."""
        self.recomputed_day = today
        for tracker in list(self.trackers):
            row = self.trackers[tracker]
            if row.source is not Source.LEARNED:
                continue
            decision = decide(self.summary(tracker), ctx)
            if decision.action is Remedy.NONE or decision.action is row.decision:
                continue
            row.decision = decision.action
            row.decided_day = today
            if decision.action is Remedy.PATH and "/" in tracker:
                host, _, path = tracker.partition("/")
                self.path_rules.add((host, "/" + path))
            if decision.action in FINAL:
                self.evidence.pop(tracker, None)
            elif decision.action is Remedy.STRIP:
                # Only rows that can still escalate are kept (§B10).
                rows = self.evidence.get(tracker, {})
                for tag in [t for t, v in rows.items() if not v[0] & NON_COOKIE]:
                    del rows[tag]
                if not rows:
                    self.evidence.pop(tracker, None)

    # -- reading ----------------------------------------------------------------------

    def summary(self, tracker: str) -> Summary:
        row = self.trackers[tracker]
        kinds = Kind(row.kinds)
        sites = non_cookie = 0
        for k, _day in self.evidence.get(tracker, {}).values():
            sites += 1
            non_cookie += bool(k & NON_COOKIE)
        if row.decision is not Remedy.NONE:
            sites = max(sites, row.site_count)
        return Summary(
            tracker,
            kinds,
            sites,
            non_cookie,
            row.first_day,
            row.last_day,
            row.asset_ratio,
            row.decision,
            row.decided_day,
            row.source,
        )

    def presence_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item, _tag in self.presence:
            counts[item] = counts.get(item, 0) + 1
        return counts


def _note_shape(row: TrackerRow, asset: bool) -> None:
    ratio = row.asset_ratio or 0.0
    row.responses += 1
    row.asset_ratio = ratio + ((1.0 if asset else 0.0) - ratio) / row.responses


def decide(summary: Summary, ctx: LearnContext) -> Decision:
    """The remedy rule of §B6 for one tracker summary (pure; gates are in `enforced`)."""
    cfg = ctx.config
    t = cfg.threshold
    if summary.sites < t:
        return Decision(Remedy.NONE, f"seen on {summary.sites} of {t} sites needed")
    if summary.kinds & Kind.FINGERPRINT and "/" in summary.tracker:
        return Decision(Remedy.PATH, "fingerprinting script on a shared host: path rule")
    if summary.decision is Remedy.STRIP:
        if summary.non_cookie_sites >= t:
            return Decision(
                Remedy.BLOCK, f"escalated: non-cookie evidence on {summary.non_cookie_sites} sites"
            )
        return Decision(Remedy.STRIP, "identifier cookies on an asset host: strip cookies")
    domain = summary.tracker
    reason = strip_only_reason(domain)
    if reason is not None:
        return Decision(Remedy.STRIP, f"on the strip-only list ({reason})")
    ratio = summary.asset_ratio
    if summary.kinds == Kind.COOKIE and ratio is not None and ratio >= cfg.asset_share:
        return Decision(
            Remedy.STRIP, f"only cookie evidence and {ratio:.0%} asset responses: strip cookies"
        )
    shown = "+".join(summary.kinds.names)
    return Decision(Remedy.BLOCK, f"{shown} evidence on {summary.sites} sites: block")


@dataclass(frozen=True, slots=True)
class Gate:
    """Why a decided tracker is or is not enforced (the explanation's last line)."""

    enforced: bool
    reason: str


def gate(summary: Summary, ctx: LearnContext, today: int) -> Gate:
    """The anti-fingerprinting gates of §B9 and the list-allow rule of §B7.3."""
    cfg = ctx.config
    if summary.decision is Remedy.NONE:
        return Gate(False, "no decision yet")
    if cfg.mode is not Mode.AUTO:
        return Gate(False, f"mode {cfg.mode.value}: suggestion only")
    if ctx.list_allows(summary.tracker.split("/", 1)[0]):
        return Gate(False, "a subscribed list allows this domain")
    if ctx.verdicts.get(summary.tracker) == "rejected":
        return Gate(False, "you rejected this suggestion")
    if summary.source is Source.LEARNED:
        if summary.last_day - summary.first_day + 1 < cfg.min_days:
            return Gate(False, f"evidence on fewer than {cfg.min_days} days")
        if summary.decided_day is None or summary.decided_day > today:
            return Gate(False, "waiting for the daily recompute")
    return Gate(True, "enforced (auto mode)")


@dataclass(frozen=True, slots=True)
class LearnedRules:
    """The learned layer the policy applies (§B7 step 5): hosts and paths by remedy.

    `user` names the keys that come from accepted suggestions (user rules, §B7 step 1);
    `exempt` the exact hosts that post a known DNT policy (§B7 step 4), which learned
    decisions, and only those, leave alone.
    """

    block: frozenset[str] = frozenset()
    strip: frozenset[str] = frozenset()
    paths: frozenset[tuple[str, str]] = frozenset()
    user: frozenset[str] = frozenset()
    exempt: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.block or self.strip or self.paths)


def enforced(state: LearnState, ctx: LearnContext, today: int) -> LearnedRules:
    """What the learned layer enforces today (§B7 step 5).

    In `off` and `suggest` only suggestions the user accepted (user rules, §B7 step 1);
    learned state alone changes nothing there (§B9.1).
    """
    block: set[str] = set()
    strip: set[str] = set()
    paths: set[tuple[str, str]] = set()
    user: set[str] = set()
    for tracker, verdict in ctx.verdicts.items():
        if verdict != "accepted":
            continue
        user.add(tracker)
        row = state.trackers.get(tracker)
        action = row.decision if row is not None else Remedy.NONE
        if "/" in tracker:
            host, _, path = tracker.partition("/")
            paths.add((host, "/" + path))
        elif action is Remedy.STRIP:
            strip.add(tracker)
        else:
            block.add(tracker)
    if ctx.config.mode is not Mode.AUTO:
        return LearnedRules(frozenset(block), frozenset(strip), frozenset(paths), frozenset(user))
    for tracker in state.trackers:
        summary = state.summary(tracker)
        if not gate(summary, ctx, today).enforced:
            continue
        if summary.decision is Remedy.BLOCK:
            block.add(tracker)
        elif summary.decision is Remedy.STRIP:
            strip.add(tracker)
        elif summary.decision is Remedy.PATH:
            host, _, path = tracker.partition("/")
            paths.add((host, "/" + path))
    if ctx.config.presence:
        for item, count in state.presence_counts().items():
            if count >= ctx.config.presence_threshold and not ctx.list_allows(item):
                host, _, path = item.partition("/")
                paths.add((host, "/" + path))
    exempt = frozenset(fqdn for fqdn, (compliant, _next) in state.dnt.items() if compliant)
    return LearnedRules(
        frozenset(block), frozenset(strip), frozenset(paths), frozenset(user), exempt
    )


def match_learned(rules: LearnedRules, host: str, path: str) -> tuple[Remedy, str] | None:
    """The learned remedy for a request host and path, with the key that matched."""
    if not rules:
        return None
    path = path.split("?", 1)[0]
    if (host, path) in rules.paths:
        return Remedy.PATH, host + path
    suffix = host
    while True:
        if suffix in rules.block:
            return Remedy.BLOCK, suffix
        if suffix in rules.strip:
            return Remedy.STRIP, suffix
        dot = suffix.find(".")
        if dot < 0:
            return None
        suffix = suffix[dot + 1 :]


def is_learned(rules: LearnedRules, key: str) -> bool:
    """A match of `key` comes from a learned decision, not from an accepted suggestion."""
    return key not in rules.user


def dnt_exempt(rules: LearnedRules, host: str, key: str) -> bool:
    """The exact host posts a known DNT policy and the match is a learned decision (§B7.4)."""
    return host in rules.exempt and is_learned(rules, key)


def dnt_due(state: LearnState, fqdn: str, today: int) -> bool:
    """The host of a decided tracker has never been checked, or its re-check day came."""
    checked = state.dnt.get(fqdn)
    return checked is None or checked[1] <= today


def is_private(host: str) -> bool:
    """Re-exported for adapters: hosts the learner never keys (§B5)."""
    return is_private_host(host)
