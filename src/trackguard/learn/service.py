"""The learner service: the one door adapters (proxy, HAR import, CLI) use (§B11).

It reads the learner's settings (kept in `settings.json` under `extra["learn"]`, so the
mode survives a wipe and the proxy picks changes up like any setting), the key file, the
policy store and the entity map, builds the pure core's context, and persists state
through `store`. Adapters hand it exchanges they have attributed; it never attributes.
Must not: parse HTTP beyond what `feed` does, or decide anything itself.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from trackguard.domain import host_suffixes, site_of, split_url
from trackguard.learn import store
from trackguard.learn.core import (
    LearnContext,
    LearnedRules,
    Learner,
    LearnState,
    dnt_due,
    dnt_exempt,
    enforced,
    is_learned,
    match_learned,
)
from trackguard.learn.dnt import DntChecker
from trackguard.learn.feed import DAY, Exchange, Feed
from trackguard.learn.keys import (
    ENTITY_SUPPLEMENT,
    EntityMap,
    entity_map_from_disconnect,
    site_key,
    site_tagger,
    strip_only_reason,
    tracker_key,
)
from trackguard.learn.listing import iso_day, suggested_action
from trackguard.learn.model import Evidence, LearnConfig, Mode, PresenceItem, Remedy
from trackguard.model import Action, Decision, Format, HostMode, RequestType, Rule, SourceRef
from trackguard.policy.decide import LearnedMatch, PolicyConfig
from trackguard.settings import Settings, load_settings, save_settings

#: Save the state at most this often from a long-running adapter (seconds).
FLUSH_EVERY = 30.0
#: Save at once when this many observations wait (bounds the memory they use).
MAX_PENDING = 20_000


@dataclass(frozen=True, slots=True)
class LearnSettings:
    """The user's learner choices (documented in docs/learning.md)."""

    mode: Mode = Mode.SUGGEST
    threshold: int = 3
    presence: bool = False
    presence_threshold: int = 10
    paused_until: float = 0.0  # epoch seconds; a setting, not browsing history
    entities_file: str = ""  # Disconnect-format entities.json extending the entity map

    def config(self) -> LearnConfig:
        return LearnConfig(
            mode=self.mode,
            threshold=self.threshold,
            presence=self.presence,
            presence_threshold=self.presence_threshold,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "threshold": self.threshold,
            "presence": self.presence,
            "presence_threshold": self.presence_threshold,
            "paused_until": self.paused_until,
            "entities_file": self.entities_file,
        }


def learn_settings(settings: Settings) -> LearnSettings:
    """Parse `extra["learn"]`; bad or missing values fall back to the defaults."""
    raw = settings.extra.get("learn")
    if not isinstance(raw, dict):
        return LearnSettings()
    base = LearnSettings()
    mode = base.mode
    with suppress(ValueError):
        mode = Mode(raw.get("mode", base.mode.value))

    def number(name: str, default: int) -> int:
        value = raw.get(name, default)
        ok = isinstance(value, int) and not isinstance(value, bool) and 3 <= value <= 30
        return value if ok else default

    paused = raw.get("paused_until", 0.0)
    entities = raw.get("entities_file", "")
    return LearnSettings(
        mode=mode,
        threshold=number("threshold", base.threshold),
        presence=raw.get("presence") is True,
        presence_threshold=number("presence_threshold", base.presence_threshold),
        paused_until=float(paused) if isinstance(paused, int | float) else 0.0,
        entities_file=entities if isinstance(entities, str) else "",
    )


def save_learn_settings(home: Path, learn: LearnSettings) -> None:
    settings = load_settings(home)
    extra = dict(settings.extra)
    extra["learn"] = learn.to_dict()
    save_settings(settings.replace(extra=extra), home)


def load_entity_map(path: str) -> EntityMap:
    """The entity map from a Disconnect `entities.json` plus the shipped supplement
    (`keys.ENTITY_SUPPLEMENT`); the supplement alone when the file is unusable."""
    data: object = None
    if path:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
    return entity_map_from_disconnect(data, supplement=ENTITY_SUPPLEMENT)


def record_verdict(home: Path, item: Mapping[str, Any], verdict: str) -> str:
    """Accept or reject one listed suggestion (`learn accept|reject`, the dashboard).

    The verdict goes into the policy store; an accepted block becomes a user block like
    `trackguard block` (§B6 `suggest`), a rejection removes it; bumping `learn_revision`
    in the settings tells a running proxy to reload the learned layer. Returns the action.
    """
    name = str(item["domain"])
    action = str(item["action"] or "block")
    store.save_verdict(home, name, verdict, action, today())
    settings = load_settings(home)
    if verdict == "accepted" and action == "block" and name not in settings.user_block:
        settings = settings.replace(user_block=(*settings.user_block, name))
    elif verdict == "rejected":
        settings = settings.replace(user_block=tuple(d for d in settings.user_block if d != name))
    _bump_revision(home, settings)
    return action


def _bump_revision(home: Path, settings: Settings) -> None:
    """Save `settings` with `learn_revision` + 1: running proxies reload the learner."""
    extra = dict(settings.extra)
    extra["learn_revision"] = int(extra.get("learn_revision", 0) or 0) + 1
    save_settings(settings.replace(extra=extra), home)


def never_learn_key(text: str) -> str | None:
    """The registrable domain "never learn here" keeps for a site, host or URL typed by
    the user; None when it names no site that could ever be learned from (IP, local)."""
    text = text.strip()
    host = split_url(text if "://" in text else f"http://{text}").host
    return tracker_key(host) if host and " " not in host else None


def set_never_learn(home: Path, site: str, listed: bool) -> tuple[bool, int]:
    """Add a site to "never learn here" (forgetting what was counted there) or remove it.

    `site` is a registrable domain (`never_learn_key`). Returns (the list changed, rows
    forgotten). Rows are found by the site's keyed tag, so those of a site sharing its tag
    (or its owner, through the entity map) go too: an undercount, never an overcount.
    """
    changed = store.save_never_learn(home, site, listed)
    forgotten = 0
    settings = load_settings(home)
    if listed and (home / store.LEARN_DB).exists():
        learn = learn_settings(settings)
        key = site_key(site, load_entity_map(learn.entities_file))
        if key is not None:
            tag = site_tagger(store.load_key(home))(key)

            def forget(state: LearnState) -> None:
                nonlocal forgotten
                forgotten = state.forget_site(tag)

            store.update_state(home, forget)
    _bump_revision(home, settings)
    return changed, forgotten


@dataclass(frozen=True, slots=True)
class NeverLearnChange:
    """What `learn ignore|unignore` (and the dashboard's "never learn here") did."""

    site: str
    never_learn: bool
    changed: bool
    forgotten: int

    def message(self) -> str:
        if self.never_learn:
            forgot = f"; forgot {self.forgotten} evidence rows counted there"
            return (
                f"{self.site}: never learned from"
                + (" (already listed)" if not self.changed else "")
                + (forgot if self.forgotten else "")
            )
        return f"{self.site}: learned from again" + ("" if self.changed else " (was not listed)")


def never_learn(home: Path, text: str, listed: bool) -> NeverLearnChange:
    """Put a site typed by the user (name, host or URL) on "never learn here", or take it
    off: the one implementation behind the CLI and the dashboard. Raises ValueError with a
    message for the user when the text names no site that could be learned from."""
    key = never_learn_key(text)
    if key is None:
        raise ValueError(
            "give a site name such as example.com (IP addresses and local names are never"
            " learned from anyway)"
        )
    changed, forgotten = set_never_learn(home, key, listed)
    return NeverLearnChange(key, listed, changed, forgotten)


def today(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // DAY)


def build_context(
    home: Path,
    learn: LearnSettings,
    *,
    is_listed: Callable[[str], bool] | None = None,
    list_allows: Callable[[str], bool] | None = None,
    entities: EntityMap | None = None,
    site_tag: Callable[[str], int] | None = None,
) -> LearnContext:
    """`site_tag`: None, the keyed truncated tag of §B10 (the key from `home`)."""
    verdicts = {t: v for t, (v, _a) in store.load_verdicts(home).items()}
    kwargs: dict[str, Any] = {}
    if is_listed is not None:
        kwargs["is_listed"] = is_listed
    if list_allows is not None:
        kwargs["list_allows"] = list_allows
    return LearnContext(
        config=learn.config(),
        site_tag=site_tagger(store.load_key(home)) if site_tag is None else site_tag,
        entities=entities if entities is not None else load_entity_map(learn.entities_file),
        never_learn=store.load_never_learn(home),
        verdicts=verdicts,
        **kwargs,
    )


class LearnerService:
    """Counts attributed exchanges and answers what the learned layer enforces."""

    def __init__(
        self,
        home: Path,
        learn: LearnSettings,
        *,
        is_listed: Callable[[str], bool] | None = None,
        list_allows: Callable[[str], bool] | None = None,
        entities: EntityMap | None = None,
        clock: Callable[[], float] = time.time,
        dnt: DntChecker | None = None,
        site_tag: Callable[[str], int] | None = None,
    ) -> None:
        """`dnt`: the DNT-policy checker (§B7.4) learned decisions consult; None: none.
        `site_tag`: how sites are tagged; None: the keyed, truncated tag of §B10, which
        every learner whose state is kept must use (`keys.ExactTagger` is for throwaway
        states only)."""
        self.home = home
        self.learn = learn
        self.clock = clock
        self.dnt = dnt
        self.ctx = build_context(
            home,
            learn,
            is_listed=is_listed,
            list_allows=list_allows,
            entities=entities,
            site_tag=site_tag,
        )
        self.learner = Learner(self.ctx)
        self.feed = Feed()
        self.state = store.load_state(home) if learn.mode is not Mode.OFF else LearnState()
        # What this process counted since its last flush, replayed onto the stored state
        # then (`store.update_state`), so writers beside it lose nothing.
        self._pending: list[Evidence | PresenceItem] = []
        self._sightings: dict[str, int] = {}
        self._dnt_results: dict[str, tuple[bool, int]] = {}
        self._last_flush = clock()
        self._rules_day = -1
        self._rules = LearnedRules()

    @property
    def active(self) -> bool:
        return self.learn.mode is not Mode.OFF and self.clock() >= self.learn.paused_until

    @property
    def dirty(self) -> bool:
        return bool(self._pending or self._sightings or self._dnt_results)

    def exchange(self, ex: Exchange, site_host: str) -> bool:
        """Count one exchange attributed to `site_host` ("" when unattributed)."""
        if not self.active:
            return False
        if not site_host:
            self.feed.note_unattributed(ex)
            return False
        obs = self.feed.observation(ex, site_host)
        if obs is None:
            return False
        counted = False
        ev = self.learner.observe(obs)
        # Evidence-free observations only refine the response shape of known trackers.
        if ev is not None and (ev.kinds or ev.tracker in self.state.trackers):
            counted = self.state.add(ev, self.ctx)
            self._pending.append(ev)
        item = self.learner.presence(obs)
        if item is not None:
            self.state.add_presence(item, self.ctx)
            self._pending.append(item)
        if len(self._pending) >= MAX_PENDING:
            self.flush()
        return counted

    def sighting(self, tracker: str, day: int) -> None:
        self.state.sighting(tracker, day)
        if self._sightings.get(tracker, -1) < day:
            self._sightings[tracker] = day

    def dnt_check(self, fqdn: str) -> None:
        """A learned decision matched a request to `fqdn`: check its DNT policy if due.

        Only learned decisions reach here, and only in `auto` mode (in other modes the
        layer holds accepted suggestions alone), as §B7.4 requires: the fetch itself tells
        the server the user is considering blocking it.
        """
        if self.dnt is not None and dnt_due(self.state, fqdn, today(self.clock())):
            self.dnt.request(fqdn)

    def collect_dnt(self) -> bool:
        """Take finished checks into the state; each is re-checked in 1-7 days (random)."""
        if self.dnt is None:
            return False
        done = self.dnt.results()
        if not done:
            return False
        day = today(self.clock())
        for fqdn, compliant in done:
            result = (compliant, day + 1 + secrets.randbelow(7))
            self.state.record_dnt(fqdn, *result)
            self._dnt_results[fqdn] = result
        return True

    def rules(self) -> LearnedRules:
        """What `auto` enforces today (recomputed at most once a day, §B9.4; a finished
        DNT-policy check only changes which exact hosts are exempt)."""
        day = today(self.clock())
        if self.collect_dnt():
            self._rules_day = -1
        if day != self._rules_day:
            if self.learn.mode is not Mode.OFF:
                self.state.roll(day, self.ctx)
            self._rules = enforced(self.state, self.ctx, day)
            self._rules_day = day
        return self._rules

    def maybe_flush(self) -> None:
        if self.dirty and self.clock() - self._last_flush >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Add what this process counted to the store; take everyone's state back.

        The pending evidence is replayed through the same counting rules (novelty cap,
        remedy, retention) onto the stored state, so the result is what one process seeing
        all the traffic would have counted. If the store cannot be written the pending
        evidence is kept for the next try, up to `MAX_PENDING` items.
        """
        self._last_flush = self.clock()
        if not self.dirty:
            return
        pending, sightings, ctx = self._pending, self._sightings, self.ctx
        checks = self._dnt_results
        # Sites put on "never learn here" since this process counted them: their
        # evidence was just forgotten in the store and must not come back from here.
        never = {
            ctx.site_tag(key)
            for site in store.load_never_learn(self.home)
            if (key := site_key(site, ctx.entities)) is not None
        }

        def replay(state: LearnState) -> None:
            for item in pending:
                if item.site_tag in never:
                    continue
                if isinstance(item, Evidence):
                    state.add(item, ctx)
                else:
                    state.add_presence(item, ctx)
            for tracker, day in sightings.items():
                state.sighting(tracker, day)
            for fqdn, (compliant, next_day) in checks.items():
                state.record_dnt(fqdn, compliant, next_day)

        try:
            self.state = store.update_state(self.home, replay)
        except Exception:
            del self._pending[: max(0, len(self._pending) - MAX_PENDING // 2)]
            raise
        self._pending = []
        self._sightings = {}
        self._dnt_results = {}
        # Other writers' evidence may have brought decisions: the layer is derived again
        # (from decisions made by the daily recompute, so no same-day loop closes, §B9.4).
        self._rules_day = -1


# -- the proxy's view: the learned layer and the observation hook ---------------------------

PERSONALIZED = "personalized"


class LearnedPolicy:
    """`policy.decide.LearnedLayer` over a live service: explains like a list rule.

    The rules are recomputed at most once a day (§B9.4); a blocked request counts as a
    sighting so a rule in use does not expire (§B10).
    """

    def __init__(self, service: LearnerService) -> None:
        self.service = service
        self._rules: dict[tuple[str, bool], Rule] = {}

    def match(self, host: str, path: str) -> LearnedMatch | None:
        service = self.service
        rules = service.rules()
        found = match_learned(rules, host, path)
        if found is None:
            return None
        remedy, key = found
        if is_learned(rules, key):  # DNT-policy exemption, learned decisions only (§B7.4)
            service.dnt_check(host)
        if dnt_exempt(rules, host, key):
            why = f"learned rule not applied: {host} posts the EFF Do Not Track policy"
            skipped = Decision(False, None, self._rule(key, remedy is not Remedy.STRIP), why)
            return LearnedMatch(False, skipped, exempt=True)
        block = remedy is not Remedy.STRIP
        if block:
            service.sighting(key, today(service.clock()))
        rule = self._rule(key, block)
        state = service.state
        reason = "learned"
        if key in state.trackers:
            s = state.summary(key)
            reason = (
                f"personalized list: {'+'.join(s.kinds.names) or 'no'} evidence on {s.sites}"
                f" sites, {iso_day(s.first_day)}..{iso_day(s.last_day)} ({s.source.value})"
            )
        if service.ctx.verdicts.get(key) == "accepted":
            reason += "; you accepted this suggestion"
        strip_only = strip_only_reason(host) if not block else None
        if strip_only is not None:
            reason += f"; cookies stripped, never blocked: strip-only host ({strip_only})"
        return LearnedMatch(block, Decision(block, rule, None, reason))

    def suggestion(self, host: str) -> tuple[str, Remedy] | None:
        """The unanswered suggestion covering `host`, with its remedy: in `suggest` mode the
        layer enforces nothing of it (§B9.1), so `trackguard check` names it instead."""
        state, ctx = self.service.state, self.service.ctx
        if ctx.config.mode is Mode.AUTO:
            return None  # enforced already, or held back by a gate `learn show` explains
        for key in host_suffixes(host):
            if key in state.trackers and key not in ctx.verdicts:
                action = suggested_action(state.summary(key), ctx)
                if action is not Remedy.NONE:
                    return key, action
        return None

    def _rule(self, key: str, block: bool) -> Rule:
        rule = self._rules.get((key, block))
        if rule is None:
            host, slash, path = key.partition("/")
            text = f"-d {host}" + (f" /{path}" if slash else "")
            if not block:
                text = f"# strip cookies: {host}"
            rule = Rule(
                action=Action.BLOCK,
                source=SourceRef(PERSONALIZED, 0, text),
                syntax=Format.TPL,
                pattern=("/" + path) if slash else "",
                host=host,
                host_mode=HostMode.SUFFIX,
            )
            self._rules[(key, block)] = rule
        return rule


class ProxyLearner:
    """What the proxy's planner calls with each answered exchange (§B2: it attributed it).

    Every proxy process records (each `--workers` process sees part of the traffic; the
    store merges what they save). `record=False` enforces without recording, for a
    listener whose traffic must not be learned from.
    """

    def __init__(self, service: LearnerService, *, record: bool = True) -> None:
        self.service = service
        self.record = record

    def wants(self, site: str, engage: bool, host: str) -> bool:
        """Navigations (their cookies feed `url_id`) and attributed third-party requests;
        first-party subresources keep the proxy's fast path."""
        if not (self.record and self.service.active):
            return False
        return engage or (bool(site) and site_of(host) != site)

    def observe(
        self,
        site: str,
        engage: bool,
        rtype: RequestType,
        method: str,
        url: str,
        request_headers: Mapping[str, str],
        status: int,
        response_headers: Iterable[tuple[str, str]],
    ) -> None:
        if not (self.record and self.service.active):
            return
        response = tuple((n.lower(), v) for n, v in response_headers)
        size = -1
        for name, value in response:
            if name == "content-length" and value.strip().isdigit():
                size = int(value.strip()[:18])
        ex = Exchange(
            time=self.service.clock(),
            method=method,
            url=url,
            request_headers=tuple(request_headers.items()),
            status=status,
            response_headers=response,
            size=size,
            resource_type=None if engage else rtype,
        )
        host = split_url(url).host
        self.service.exchange(ex, host if engage else site)
        self.service.maybe_flush()


class HostMatcher(Protocol):
    def check_host(self, host: str) -> Decision: ...


def lists_service(
    home: Path,
    settings: Settings,
    matcher: HostMatcher,
    *,
    clock: Callable[[], float] = time.time,
    dnt: DntChecker | None = None,
) -> LearnerService:
    """A service that knows the enabled lists (`matcher`): which domains are listed (not
    novel, §B9.3) and which a list allows (no auto-enforcement, §B7.3).

    `trackguard check` uses it as is, with `dnt=None`: it decides like the proxy but
    fetches no DNT policy and, never flushing, writes nothing."""

    def listed(domain: str) -> bool:
        return matcher.check_host(domain).matched is not None

    def allows(domain: str) -> bool:
        decision = matcher.check_host(domain)
        if decision.matched is not None:
            return not decision.blocked
        rules = getattr(matcher, "matching_rules", None)  # TPL `+d` alone
        return rules is not None and any(r.is_exception for r in rules(f"http://{domain}/"))

    learn = learn_settings(settings)
    return LearnerService(home, learn, is_listed=listed, list_allows=allows, clock=clock, dnt=dnt)


class ProxyLearning:
    """The learner as one proxy process uses it: the hook, the layer, reloads, flushes.

    The enabled lists tell the learner which domains are known (not novel, §B9.3) and
    which are allowed (no auto-enforcement, §B7.3), through `check_host`.
    """

    def __init__(
        self,
        home: Path,
        settings: Settings,
        matcher: HostMatcher,
        *,
        record: bool = True,
        clock: Callable[[], float] = time.time,
        dnt: DntChecker | None = None,
    ) -> None:
        """`dnt`: the DNT-policy checker (default: real HTTPS fetches, started on the
        first learned match in `auto` mode)."""
        self.home = home
        self.matcher = matcher
        self.clock = clock
        self.dnt = dnt if dnt is not None else DntChecker()
        self.service = self._service(settings)
        self.hook = ProxyLearner(self.service, record=record)
        self.policy = LearnedPolicy(self.service)

    def _service(self, settings: Settings) -> LearnerService:
        return lists_service(self.home, settings, self.matcher, clock=self.clock, dnt=self.dnt)

    def reload(self, settings: Settings) -> None:
        """Settings changed (mode, verdicts, overrides): save, then start from the store."""
        if self.hook.record:
            self.service.flush()
        self.service = self._service(settings)
        self.hook.service = self.service
        self.policy.service = self.service

    def with_learned(self, config: PolicyConfig) -> PolicyConfig:
        return dataclasses.replace(config, learned=self.policy)

    def close(self) -> None:
        self.dnt.close()
        self.service.collect_dnt()  # checks that finished are saved too
        if self.hook.record:
            self.service.flush()
