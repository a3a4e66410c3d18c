"""User settings: one typed, frozen object with documented defaults.

Loaded at the edge (CLI, proxy start-up) from `settings.json` in the state folder and
passed down; no module keeps mutable settings of its own.

Rule 1: a file that cannot be read as settings is refused, never replaced by defaults.
`load_settings` raises `SettingsError` naming the file, the line and the reason (a JSON
typo, an unknown key, a value of the wrong type); the file is left untouched, so no later
save can write the defaults over the user's choices (issue 11: a typo once cost a user
their DNT choice and a `user_block` entry). A running proxy keeps its last good settings.
Rule 2: a missing file means defaults; nothing is written until the user changes something.
Rule 3: `parse_setting` is the one place a setting's text (from `trackguard settings set`)
becomes a typed value, with the same checks as the file.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

from trackguard.files import save_atomic
from trackguard.model import TrackguardError

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


#: One line per setting for `trackguard settings show` and docs/cli.md.
DESCRIPTIONS: dict[str, str] = {
    "protection": "tracking protection on at all (off: nothing is blocked)",
    "dnt": "send DNT: 1 with every request",
    "ie9_dnt": "IE9 style: send DNT: 1 whenever protection is on",
    "gpc": "send Sec-GPC: 1 with every request",
    "strict_ie": "TPL strict IE mode: no http:// <-> https:// equivalence",
    "exempt_sites": "sites where protection is off (`trackguard site off`)",
    "user_allow": "hosts always allowed (`trackguard allow`)",
    "user_block": "hosts always blocked as third parties (`trackguard block`)",
    "site_allow": "hosts allowed on one site only, as SITE HOST (the dashboard)",
    "disabled_rules": "list rules switched off (`trackguard rule off`)",
    "log_retention_days": "days the decision log keeps entries (0: keep none)",
    "proxy_host": "address the proxy listens on",
    "proxy_port": "port the proxy listens on",
    "allow_from": "client networks (CIDR) the proxy serves",
    "extra": "free-form extension point (a JSON object)",
}

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_DEFAULTS = Settings()


class SettingsError(TrackguardError):
    """`settings.json` (or a value for it) cannot be used; says where and why."""

    def __init__(self, reason: str, *, path: Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + reason)
        self.reason = reason
        self.path = path
        self.line = line


def setting_names() -> tuple[str, ...]:
    return tuple(_FIELDS)


def default_of(name: str) -> Any:
    return getattr(_DEFAULTS, name)


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, tuple):
        return "a list of strings"
    return "a JSON object"


def check_value(name: str, value: Any) -> Any:
    """The typed value for `name` from a JSON value, or ValueError saying why not."""
    if name not in _FIELDS:
        raise ValueError(f"unknown setting {name!r} (known: {', '.join(_FIELDS)})")
    default = default_of(name)
    ok: bool
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, tuple):
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        if ok:
            value = tuple(value)
    else:
        ok = isinstance(value, dict)
    if not ok:
        raise ValueError(f"{name} must be {_type_name(default)}, not {json.dumps(value)}")
    if name == "proxy_port" and not 0 <= value <= 65535:
        raise ValueError(f"proxy_port must be 0-65535, not {value}")
    if name == "log_retention_days" and value < 0:
        raise ValueError(f"log_retention_days cannot be negative ({value})")
    if name == "site_allow":
        for entry in value:
            if len(entry.split()) != 2:
                raise ValueError(f"site_allow: {entry!r} is not 'SITE HOST'")
    if name == "allow_from":
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"allow_from: not a network: {entry!r}") from None
    return value


_TRUE = {"true", "on", "yes", "1"}
_FALSE = {"false", "off", "no", "0"}


def parse_setting(name: str, text: str) -> Any:
    """A setting's value from command-line text (`on`, `30`, `a.example,b.example`, JSON)."""
    if name not in _FIELDS:
        raise ValueError(f"unknown setting {name!r} (known: {', '.join(_FIELDS)})")
    default = default_of(name)
    stripped = text.strip()
    value: Any
    if isinstance(default, bool):
        low = stripped.lower()
        if low not in _TRUE | _FALSE:
            raise ValueError(f"{name} must be on or off (true/false), not {text!r}")
        value = low in _TRUE
    elif isinstance(default, int):
        try:
            value = int(stripped)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, not {text!r}") from None
    elif isinstance(default, str):
        value = stripped
    elif isinstance(default, tuple):
        if stripped.startswith("["):
            value = _json_value(name, stripped)
        else:
            value = [part.strip() for part in stripped.split(",") if part.strip()]
    else:
        value = _json_value(name, stripped)
    return check_value(name, value)


def _json_value(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{name}: not valid JSON ({exc})") from None


def settings_from_dict(data: dict[str, Any]) -> Settings:
    """Build settings from parsed JSON; ValueError on an unknown key or a bad value."""
    values = {name: check_value(name, value) for name, value in data.items()}
    return dataclasses.replace(_DEFAULTS, **values)


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _line_of(text: str, key: str) -> int | None:
    match = re.search(rf'"{re.escape(key)}"\s*:', text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def parse_settings(text: str, path: Path) -> Settings:
    """Settings from the file's text, or SettingsError with file, line and reason."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise SettingsError("must hold a JSON object ({...})", path=path, line=1)
    values: dict[str, Any] = {}
    for key, value in data.items():
        try:
            values[key] = check_value(key, value)
        except ValueError as exc:
            raise SettingsError(str(exc), path=path, line=_line_of(text, key)) from None
    return dataclasses.replace(_DEFAULTS, **values)


def load_settings(home: Path | None = None) -> Settings:
    """The saved settings; defaults when there is no file; SettingsError when unusable."""
    path = (home or state_dir()) / SETTINGS_FILE
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return Settings()  # no file (or no state folder at all): nothing chosen yet
    except OSError as exc:
        raise SettingsError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"not UTF-8 text (bad byte at {exc.start})", path=path) from None
    if not text.strip():
        return Settings()  # an empty file holds no choice to lose
    return parse_settings(text, path)


def save_settings(settings: Settings, home: Path | None = None) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    data = json.dumps(settings_to_dict(settings), indent=2, sort_keys=True)
    save_atomic((home or state_dir()) / SETTINGS_FILE, data.encode("utf-8") + b"\n")
