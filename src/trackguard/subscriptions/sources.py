"""What `lists add` was given, and the id and display name the new list gets.

Pure: no fetching, no state folder writes (a file path is only checked to exist).
Split from `service.py`, which calls `resolve_source` and `choose_identity` when adding.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from trackguard.model import Format, TrackguardError
from trackguard.subscriptions.catalogue import CATALOGUE, find_entry
from trackguard.subscriptions.fetch import path_of_file_url
from trackguard.subscriptions.state import BUILTIN_ID, State

MAX_NAME_LENGTH = 100
MAX_ID_LENGTH = 40


class AddRefused(TrackguardError):
    """A list was not added; nothing in the state folder changed."""


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """What `lists add` was given, made explicit."""

    url: str
    local: Path | None = None
    name: str | None = None  # from the catalogue or an abp:subscribe link
    list_id: str | None = None  # catalogue key
    format: Format | None = None


def resolve_source(text: str) -> ResolvedSource:
    """Turn a URL, `abp:subscribe` link, file path or catalogue name into a source."""
    raw = text.strip()
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise AddRefused(f"{raw!r} is not a valid web address (no host name)")
        return ResolvedSource(url=raw)
    if scheme == "abp" and parts.path.lower() == "subscribe":
        query = parse_qs(parts.query)
        location = (query.get("location") or [""])[0]
        if not location:
            raise AddRefused(f"{raw!r} has no location= parameter")
        inner = resolve_source(location)
        titles = query.get("title")
        title = titles[0] if titles else None
        return ResolvedSource(url=inner.url, local=inner.local, name=title)
    if scheme == "file":
        path = path_of_file_url(raw)
        return ResolvedSource(url=path.resolve().as_uri(), local=path.resolve())
    if len(scheme) > 1:  # a one-letter "scheme" would be a Windows drive
        raise AddRefused(f"{raw!r}: only http://, https:// and file: addresses can be subscribed")
    looks_like_path = os.sep in raw or "/" in raw or raw.startswith((".", "~"))
    entry = None if looks_like_path else find_entry(raw)
    if entry is not None:
        return ResolvedSource(
            url=entry.url, name=entry.name, list_id=entry.key, format=entry.format
        )
    path = Path(raw).expanduser()
    if path.exists():
        if not path.is_file():
            raise AddRefused(f"{raw!r} is a folder, not a list file")
        return ResolvedSource(url=path.resolve().as_uri(), local=path.resolve())
    if looks_like_path:
        raise AddRefused(f"no such file: {raw}")
    names = ", ".join(e.key for e in CATALOGUE)
    raise AddRefused(
        f"{raw!r} is not a web address, an existing file, or a catalogue name ({names})"
    )


def slugify(text: str) -> str:
    """A short, shell-friendly id: lower case letters, digits and dashes."""
    out: list[str] = []
    for char in unicodedata.normalize("NFKD", text.lower()):  # "É" -> "E" + accent
        if char in "'’" or unicodedata.combining(char):  # "Fanboy's" -> "fanboys"
            continue
        if char.isascii() and char.isalnum():
            out.append(char)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")[:MAX_ID_LENGTH].strip("-") or "list"


def _check_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise AddRefused("the list name is empty")
    if len(clean) > MAX_NAME_LENGTH:
        raise AddRefused(f"the list name is longer than {MAX_NAME_LENGTH} characters")
    if any(not c.isprintable() for c in clean):
        raise AddRefused("the list name contains control characters")
    return clean


def fallback_name(source: ResolvedSource) -> str:
    if source.local is not None:
        return source.local.stem or source.local.name
    return urlsplit(source.url).hostname or source.url


def choose_identity(
    state: State, source: ResolvedSource, given: str | None, title: str | None
) -> tuple[str, str]:
    """(id, display name), unique in `state`. An explicit name must be free; others adapt."""
    if given is not None:
        name = _check_name(given)
        list_id = slugify(name)
        clash = state.find(name) or state.get(list_id)
        if clash is not None or list_id == BUILTIN_ID:
            owner = clash.id if clash else BUILTIN_ID
            raise AddRefused(f"the name {name!r} is already used by list {owner!r}")
        return list_id, name
    name = _check_name(source.name or title or fallback_name(source))
    base = source.list_id or slugify(name)
    list_id, n = base, 1
    taken_names = {s.name.casefold() for s in state.subscriptions}
    display = name
    while state.get(list_id) is not None or list_id == BUILTIN_ID:
        n += 1
        list_id = f"{base[: MAX_ID_LENGTH - 4]}-{n}"
    if display.casefold() in taken_names:
        display = f"{name} ({n if n > 1 else 2})"
    return list_id, display
