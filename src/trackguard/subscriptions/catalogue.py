"""Well-known lists a user can subscribe to by short name (`trackguard lists add easyprivacy`).

Pure data, no I/O. The addresses are the publishers' canonical download URLs (the ones
the publishers themselves and the major blockers use), so an update request goes where
the publisher expects it. IE9-era `.tpl` addresses are not listed: those servers are gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from trackguard.model import Format


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One well-known list: the short name users type, and where it lives."""

    key: str  # short name, also the subscription id
    name: str  # display name
    url: str
    format: Format
    homepage: str
    licence: str
    description: str


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        key="easyprivacy",
        name="EasyPrivacy",
        url="https://easylist.to/easylist/easyprivacy.txt",
        format=Format.ABP,
        homepage="https://easylist.to/",
        licence="GPL-3.0-or-later / CC BY-SA 3.0",
        description="Tracking: analytics, pixels, beacons, fingerprinting.",
    ),
    CatalogueEntry(
        key="easylist",
        name="EasyList",
        url="https://easylist.to/easylist/easylist.txt",
        format=Format.ABP,
        homepage="https://easylist.to/",
        licence="GPL-3.0-or-later / CC BY-SA 3.0",
        description="Advertising: ad servers and ad paths (cosmetic rules are skipped).",
    ),
    CatalogueEntry(
        key="fanboy-enhanced",
        name="Fanboy's Enhanced Tracking List",
        url="https://secure.fanboy.co.nz/enhancedstats.txt",
        format=Format.ABP,
        homepage="https://www.fanboy.co.nz/",
        licence="CC BY 3.0",
        description="Extra trackers beyond EasyPrivacy; meant to be used with it.",
    ),
    CatalogueEntry(
        key="peter-lowe",
        name="Peter Lowe's Ad and tracking server list",
        url=(
            "https://pgl.yoyo.org/adservers/serverlist.php"
            "?hostformat=adblockplus&showintro=0&mimetype=plaintext"
        ),
        format=Format.ABP,
        homepage="https://pgl.yoyo.org/adservers/",
        licence="McRae General Public License (free for non-commercial use)",
        description="A compact list of ad and tracking server host names.",
    ),
    CatalogueEntry(
        key="adguard-tracking",
        name="AdGuard Tracking Protection filter",
        url="https://filters.adtidy.org/extension/ublock/filters/3.txt",
        format=Format.ABP,
        homepage="https://github.com/AdguardTeam/AdguardFilters",
        licence="GPL-3.0",
        description="AdGuard's tracker list (uBlock-compatible build).",
    ),
)

_BY_KEY = {entry.key: entry for entry in CATALOGUE}
#: Spellings people type for the same list.
_ALIASES = {
    "fanboy": "fanboy-enhanced",
    "fanboy-tracking": "fanboy-enhanced",
    "enhancedstats": "fanboy-enhanced",
    "peterlowe": "peter-lowe",
    "pgl": "peter-lowe",
    "yoyo": "peter-lowe",
    "adguard": "adguard-tracking",
    "adguard-tracking-protection": "adguard-tracking",
}


def find_entry(name: str) -> CatalogueEntry | None:
    """The catalogue entry for a short name or alias (case-insensitive), else None."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    return _BY_KEY.get(_ALIASES.get(key, key))
