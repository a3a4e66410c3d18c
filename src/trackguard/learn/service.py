"""The learner service: the one door adapters (proxy, HAR import, CLI) use (§B11).

It reads the learner's settings (kept in `settings.json` under `extra["learn"]`, so the
mode survives a wipe and the proxy picks changes up like any setting), the key file, the
policy store and the entity map, builds the pure core's context, and persists state
through `store`. Adapters hand it exchanges they have attributed; it never attributes.
Must not: parse HTTP beyond what `feed` does, or decide anything itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trackguard.learn import store
from trackguard.learn.core import (
    LearnContext,
    LearnedRules,
    Learner,
    LearnState,
    enforced,
)
from trackguard.learn.feed import DAY, Exchange, Feed
from trackguard.learn.keys import EntityMap, entity_map_from_disconnect, site_tagger
from trackguard.learn.model import LearnConfig, Mode
from trackguard.settings import Settings, load_settings, save_settings

#: Save the state at most this often from a long-running adapter (seconds).
FLUSH_EVERY = 30.0


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
    """The entity map from a Disconnect `entities.json`; an empty map when unusable."""
    if not path:
        return EntityMap()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return EntityMap()
    return entity_map_from_disconnect(data)


def today(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // DAY)


def build_context(
    home: Path,
    learn: LearnSettings,
    *,
    is_listed: Callable[[str], bool] | None = None,
    list_allows: Callable[[str], bool] | None = None,
    entities: EntityMap | None = None,
) -> LearnContext:
    verdicts = {t: v for t, (v, _a) in store.load_verdicts(home).items()}
    kwargs: dict[str, Any] = {}
    if is_listed is not None:
        kwargs["is_listed"] = is_listed
    if list_allows is not None:
        kwargs["list_allows"] = list_allows
    return LearnContext(
        config=learn.config(),
        site_tag=site_tagger(store.load_key(home)),
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
    ) -> None:
        self.home = home
        self.learn = learn
        self.clock = clock
        self.ctx = build_context(
            home, learn, is_listed=is_listed, list_allows=list_allows, entities=entities
        )
        self.learner = Learner(self.ctx)
        self.feed = Feed()
        self.state = store.load_state(home) if learn.mode is not Mode.OFF else LearnState()
        self.dirty = False
        self._last_flush = clock()
        self._rules_day = -1
        self._rules = LearnedRules()

    @property
    def active(self) -> bool:
        return self.learn.mode is not Mode.OFF and self.clock() >= self.learn.paused_until

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
        if ev is not None:
            counted = self.state.add(ev, self.ctx)
            self.dirty = self.dirty or counted or bool(ev.kinds)
        item = self.learner.presence(obs)
        if item is not None:
            self.state.add_presence(item, self.ctx)
            self.dirty = True
        return counted

    def sighting(self, tracker: str, day: int) -> None:
        self.state.sighting(tracker, day)
        self.dirty = True

    def rules(self) -> LearnedRules:
        """What `auto` enforces today (recomputed at most once a day, §B9.4)."""
        day = today(self.clock())
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
        if self.dirty:
            store.save_state(self.home, self.state)
            self.dirty = False
        self._last_flush = self.clock()
