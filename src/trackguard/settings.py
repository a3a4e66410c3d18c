"""User settings: one typed, frozen object with documented defaults.

Loaded at the edge (CLI, proxy start-up) from `settings.json` in the state folder and
passed down; no module keeps mutable settings of its own. Unknown keys in the file are
ignored and bad values fall back to the default, so a hand-edited file never stops the
proxy from starting.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

from trackguard.files import save_atomic

SETTINGS_FILE = "settings.json"


def state_dir() -> Path:
    """Where trackguard keeps its state: `$TRACKGUARD_HOME`, else the platform data dir."""
    env = os.environ.get("TRACKGUARD_HOME")
    return Path(env) if env else Path(user_data_dir("trackguard", appauthor=False))


@dataclass(frozen=True, slots=True)
class Settings:
    #: Tracking protection on at all (TPL spec §A.8 step 2, globally).
    protection: bool = True
    #: Send `DNT: 1` (privacy-signals §C.1.5). Off until the user chooses.
    dnt: bool = False
    #: IE9-compatible: send `DNT: 1` whenever protection is on (§C.1.5, §C.3).
    ie9_dnt: bool = False
    #: Send `Sec-GPC: 1` (§C.2.3). Off until the user chooses.
    gpc: bool = False
    #: TPL strict IE mode: no `http://` ↔ `https://` scheme equivalence (§A.5.2).
    strict_ie: bool = False
    #: First-party sites where protection is off (IE9's address-bar switch, §A.7.5).
    exempt_sites: tuple[str, ...] = ()
    #: User overrides (TPL spec §A.8 step 1): hosts (and their subdomains) always allowed,
    #: or always blocked as third parties, whatever the lists say.
    user_allow: tuple[str, ...] = ()
    user_block: tuple[str, ...] = ()
    #: Allows that hold on one first-party site only, as "SITE HOST" (the dashboard's
    #: "allow it on this site"): HOST and its subdomains are allowed on pages of SITE.
    site_allow: tuple[str, ...] = ()
    #: Rules the user switched off, by their exact text (`trackguard rule off`): no list
    #: applies them, wherever they come from (the brief: "allow ... a rule").
    disabled_rules: tuple[str, ...] = ()
    #: Days the proxy's decision log keeps entries.
    log_retention_days: int = 7
    proxy_host: str = "127.0.0.1"
    proxy_port: int = 8118
    #: Client networks the proxy serves; everything else is refused.
    allow_from: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    #: Free-form extension point for later features; kept verbatim.
    extra: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _usable(name: str, value: Any) -> bool:
    """Values of the right type that still cannot work (a hand-edited file)."""
    if name == "proxy_port":
        return bool(0 <= value <= 65535)
    if name == "log_retention_days":
        return bool(value >= 0)
    if name == "allow_from":
        try:
            for entry in value:
                ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    return True


def _coerce(name: str, value: Any, default: Any) -> Any:
    value = _coerce_type(value, default)
    return value if value is default or _usable(name, value) else default


def _coerce_type(value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        return value if isinstance(value, bool) else default
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else default
    if isinstance(default, str):
        return value if isinstance(value, str) else default
    if isinstance(default, tuple):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        return default
    if isinstance(default, dict):
        return value if isinstance(value, dict) else default
    return default


def settings_from_dict(data: dict[str, Any]) -> Settings:
    """Build settings from parsed JSON, keeping defaults for missing or bad values."""
    base = Settings()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        if f.name in data:
            values[f.name] = _coerce(f.name, data[f.name], getattr(base, f.name))
    return dataclasses.replace(base, **values)


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def load_settings(home: Path | None = None) -> Settings:
    path = (home or state_dir()) / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    return settings_from_dict(data) if isinstance(data, dict) else Settings()


def save_settings(settings: Settings, home: Path | None = None) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    data = json.dumps(settings_to_dict(settings), indent=2, sort_keys=True)
    save_atomic((home or state_dir()) / SETTINGS_FILE, data.encode("utf-8"))
