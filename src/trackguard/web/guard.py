"""Who may use the dashboard: only the dashboard's own pages, on this machine.

The dashboard is served by the proxy on loopback, and every other page the user's browser
opens can send requests to loopback too. So every request is checked:

- `Host` must name the proxy's own address (`127.0.0.1:PORT`, `localhost:PORT`,
  `[::1]:PORT`): a rebinding attack (a hostile name that resolves to 127.0.0.1) arrives
  with its own name in `Host` and is refused, so it can neither read nor change anything;
- a change (any method but GET/HEAD) must come from the dashboard's own origin (`Origin`
  equal to `http://` + that host; a missing `Origin` is refused) and carry the CSRF token,
  an HMAC of a per-install secret that only the dashboard's own page embeds;
- `Sec-Fetch-Site` other than `same-origin`/`none` is refused for everything but the page
  itself; no response ever carries CORS headers, so another origin cannot read one.

The secret lives in the state folder (0600) and is never served: pages carry only the
token derived from it. Every response gets a strict Content-Security-Policy (scripts and
styles from the dashboard only, no inline script, no framing). Pure except for the secret
file.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from trackguard.files import save_atomic

SECRET_FILE = "web-secret"
TOKEN_HEADER = "x-trackguard-csrf"

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)


def load_secret(home: Path) -> bytes:
    """The per-install secret (created on first use, 0600)."""
    path = home / SECRET_FILE
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except OSError:
        pass
    data = secrets.token_hex(32).encode("ascii")
    save_atomic(path, data)
    path.chmod(0o600)
    return data


def csrf_token(secret: bytes) -> str:
    return hmac.new(secret, b"trackguard dashboard csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str


class Guard:
    def __init__(self, secret: bytes, ports: Iterable[int]) -> None:
        self.token = csrf_token(secret)
        self.hosts = frozenset(
            f"{name}:{port}" for port in ports for name in ("127.0.0.1", "localhost", "[::1]")
        )

    def check(self, method: str, path: str, headers: Mapping[str, str]) -> Refusal | None:
        """None when the request may proceed; `headers` are lower-case names."""
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            return Refusal(421, "the dashboard answers only at its own address")
        site = headers.get("sec-fetch-site", "same-origin")
        if path not in ("/", "/index.html") and site not in ("same-origin", "none"):
            return Refusal(403, "not from the dashboard")
        if method in ("GET", "HEAD"):
            return None
        origin = headers.get("origin", "")
        if origin != f"http://{host}":
            return Refusal(403, "a change must come from the dashboard itself")
        if not hmac.compare_digest(headers.get(TOKEN_HEADER, ""), self.token):
            return Refusal(403, "missing or wrong CSRF token")
        return None
