"""Companies and categories behind domains, from Disconnect's or DuckDuckGo's data.

Three formats are read (all in `corpus/other/`), detected by their keys:

- Disconnect `services.json`: `{"categories": {Category: [{Company: {homepage: [domains]}}]}}`;
  every domain listed there is a tracker of that category.
- Disconnect `entities.json`: `{"entities": {Company: {"properties": [...], "resources": [...]}}}`;
  ownership only (properties and resources of one company are related domains).
- DuckDuckGo Tracker Radar / TDS: `{"trackers": {domain: {owner, categories}}, "entities":
  {Company: {"domains": [...], "displayName"}}, "domains": {domain: Company}}`.

Several files merge into one `EntityMap` (the first file that names a domain wins, so
the order on the command line is the order of trust). Nothing here reads files: the
caller passes parsed JSON (`parse_entities`); `load_entities` is the small I/O edge.
Hostile data is bounded: names and domains are capped in length and count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trackguard.domain import site_of, to_ascii_host
from trackguard.model import TrackguardError

MAX_DOMAINS = 2_000_000
MAX_NAME = 200


class EntityError(TrackguardError):
    """An entity file that cannot be used at all (unknown shape, not JSON)."""


@dataclass(frozen=True, slots=True)
class EntityMap:
    """Domain -> company and domain -> categories, looked up by host suffix."""

    companies: Mapping[str, str] = field(default_factory=dict)  # domain -> company
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # tracker domains
    sources: tuple[str, ...] = ()  # which formats were merged, for the report

    def __bool__(self) -> bool:
        return bool(self.companies or self.categories)

    def _lookup(self, table: Mapping[str, Any], host: str) -> Any:
        # Walk `a.b.example.com`, `b.example.com`, `example.com`, `com`: the most specific
        # entry wins (DDG lists subdomains of shared hosts, e.g. `d1.cloudfront.net`).
        # The walk stops at the registrable domain: a public suffix (`run.app`,
        # `cloudfront.net`) is shared by unrelated customers, never owned by its operator.
        stop = site_of(host)
        name = host
        while name:
            found = table.get(name)
            if found is not None:
                return found
            dot = name.find(".")
            if dot < 0 or name == stop:
                return None
            name = name[dot + 1 :]
        return None

    def company(self, host: str) -> str | None:
        found: str | None = self._lookup(self.companies, host)
        return found

    def category(self, host: str) -> tuple[str, ...]:
        found: tuple[str, ...] | None = self._lookup(self.categories, host)
        return found or ()

    def related(self, host_a: str, host_b: str) -> bool:
        """Whether two hosts belong to one company (then neither is third party to the other)."""
        a = self.company(host_a)
        return a is not None and a == self.company(host_b)


def _domain(raw: Any) -> str | None:
    if not isinstance(raw, str) or not raw or len(raw) > 253:
        return None
    text = raw.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].split(":", 1)[0].lstrip("*.").rstrip(".")
    if not text or " " in text:
        return None
    return to_ascii_host(text)


def _name(raw: Any) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    return raw.strip()[:MAX_NAME]


class _Merger:
    def __init__(self) -> None:
        self.companies: dict[str, str] = {}
        self.categories: dict[str, list[str]] = {}
        self.sources: list[str] = []

    def own(self, domain: Any, company: Any) -> None:
        d, c = _domain(domain), _name(company)
        if d and c and len(self.companies) < MAX_DOMAINS:
            self.companies.setdefault(d, c)

    def categorise(self, domain: Any, category: Any) -> None:
        d, c = _domain(domain), _name(category)
        if d and c and len(self.categories) < MAX_DOMAINS:
            cats = self.categories.setdefault(d, [])
            if c not in cats and len(cats) < 16:
                cats.append(c)

    def result(self) -> EntityMap:
        return EntityMap(
            companies=self.companies,
            categories={d: tuple(c) for d, c in self.categories.items()},
            sources=tuple(self.sources),
        )


def _disconnect_services(data: Mapping[str, Any], into: _Merger) -> None:
    for category, services in (data.get("categories") or {}).items():
        if not isinstance(services, list):
            continue
        for service in services:
            if not isinstance(service, dict):
                continue
            for company, homepages in service.items():
                if not isinstance(homepages, dict):
                    continue
                for homepage, domains in homepages.items():
                    if not isinstance(domains, list) or not str(homepage).startswith("http"):
                        continue  # skip flags such as `"performance": "true"`
                    for domain in domains:
                        into.own(domain, company)
                        into.categorise(domain, category)


def _disconnect_entities(data: Mapping[str, Any], into: _Merger) -> None:
    for company, entry in (data.get("entities") or {}).items():
        if not isinstance(entry, dict):
            continue
        for key in ("properties", "resources"):
            for domain in entry.get(key) or ():
                into.own(domain, company)


def _duckduckgo(data: Mapping[str, Any], into: _Merger) -> None:
    raw_entities, raw_trackers = data.get("entities"), data.get("trackers")
    entities: dict[str, Any] = raw_entities if isinstance(raw_entities, dict) else {}
    trackers: dict[str, Any] = raw_trackers if isinstance(raw_trackers, dict) else {}
    # DuckDuckGo splits big companies into owners (`Google Ads`, `Google Analytics`) that
    # are `ownedBy` a parent (`Google LLC`): domains of one parent are one company, so
    # they are not third parties to each other.
    parent: dict[str, str] = {}
    for tracker in trackers.values():
        owner = tracker.get("owner") if isinstance(tracker, dict) else None
        if isinstance(owner, dict):
            name, owned_by = _name(owner.get("name")), _name(owner.get("ownedBy"))
            if name and owned_by and name != owned_by:
                parent.setdefault(name, owned_by)

    def company(raw: Any) -> str | None:
        name = _name(raw)
        for _ in range(4):  # bounded: a hostile file may contain a cycle
            if name is None or name not in parent:
                break
            name = parent[name]
        if name is None:
            return None
        entry = entities.get(name)
        display = _name(entry.get("displayName")) if isinstance(entry, dict) else None
        return display or name

    for name, entry in entities.items():
        if isinstance(entry, dict) and isinstance(entry.get("domains"), list):
            owner = company(name)
            for domain in entry["domains"]:
                into.own(domain, owner)
    for domain, tracker in trackers.items():
        if not isinstance(tracker, dict):
            continue
        owner = tracker.get("owner") if isinstance(tracker.get("owner"), dict) else {}
        into.own(domain, company(owner.get("name")) if owner else None)
        cats = tracker.get("categories")
        for category in cats if isinstance(cats, list) and cats else ["Tracker"]:
            into.categorise(domain, category)
    domains = data.get("domains")
    if isinstance(domains, dict):
        for domain, name in domains.items():
            into.own(domain, company(name))


def detect(data: Any) -> str:
    """`disconnect-services`, `disconnect-entities` or `duckduckgo`; EntityError otherwise."""
    if isinstance(data, dict):
        if isinstance(data.get("trackers"), dict):
            return "duckduckgo"
        if isinstance(data.get("categories"), dict):
            return "disconnect-services"
        if isinstance(data.get("entities"), dict):
            return "disconnect-entities"
    raise EntityError(
        "not an entity file: expected Disconnect services.json / entities.json or "
        "DuckDuckGo's tracker data set"
    )


def parse_entities(documents: Iterable[Any]) -> EntityMap:
    """Merge parsed entity documents (first one to name a domain wins)."""
    merger = _Merger()
    for data in documents:
        kind = detect(data)
        merger.sources.append(kind)
        {
            "duckduckgo": _duckduckgo,
            "disconnect-services": _disconnect_services,
            "disconnect-entities": _disconnect_entities,
        }[kind](data, merger)
    return merger.result()


def load_entities(paths: Iterable[str | Path], max_bytes: int = 256 * 1024**2) -> EntityMap:
    """Read and merge entity files; errors name the file."""
    documents = []
    for path in paths:
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise EntityError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        if size > max_bytes:
            raise EntityError(f"{path}: larger than {max_bytes} bytes")
        try:
            with open(path, "rb") as handle:
                data = json.load(handle)
            detect(data)
        except OSError as exc:
            raise EntityError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except (ValueError, RecursionError) as exc:
            raise EntityError(f"{path}: not valid JSON ({exc})") from exc
        except EntityError as exc:
            raise EntityError(f"{path}: {exc}") from None
        documents.append(data)
    return parse_entities(documents)


def site_company(entities: EntityMap, host: str) -> str:
    """The company behind a host, else its registrable domain (so every row has a name)."""
    return entities.company(host) or site_of(host)
