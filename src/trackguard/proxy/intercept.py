"""Optional TLS interception (`trackguard proxy --intercept`) through mitmproxy.

Without interception an HTTPS request is only a CONNECT to a host name, so only host rules
apply and no DNT/GPC header can be added (TPL spec §A.7 item 6, privacy-signals §C.2.3).
With it, mitmproxy terminates TLS with its own certificate authority and runs
`mitm_addon.py`, which applies the very same policy, signals and blocked responses as the
plain-HTTP proxy to every decrypted request.

mitmproxy is an optional extra (`pip install 'trackguard[intercept]'`) and runs in a child
process, so the default proxy never loads it. Its certificate authority lives in
trackguard's state folder (`<home>/mitmproxy/mitmproxy-ca-cert.pem`); the user must trust
it in the browser. Hosts that pin certificates go in the passthrough list: their tunnels
are not decrypted and are judged on the host alone, as without interception.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from types import FrameType

from trackguard.model import TrackguardError

#: Hosts that pin certificates or refuse unknown CAs; never decrypted (users add more).
DEFAULT_PASSTHROUGH = (
    "apple.com",
    "icloud.com",
    "mzstatic.com",
    "googleapis.com",
    "gvt1.com",
    "mozilla.org",
    "mozilla.net",
    "windowsupdate.com",
    "update.microsoft.com",
    "dropbox.com",
    "signal.org",
    "whatsapp.net",
)

#: Environment variables passing this run's choices to the addon in the child process.
ENV_HOME = "TRACKGUARD_HOME"
ENV_LISTS = "TRACKGUARD_INTERCEPT_LISTS"
ENV_DNT = "TRACKGUARD_INTERCEPT_DNT"
ENV_GPC = "TRACKGUARD_INTERCEPT_GPC"
ENV_LOG = "TRACKGUARD_INTERCEPT_LOG"
ENV_PASSTHROUGH = "TRACKGUARD_INTERCEPT_PASSTHROUGH"
#: A Python (3.12+) that has trackguard and mitmproxy installed, used when this one has
#: no mitmproxy. Needed on Python 3.11: every mitmproxy release that installs there pins
#: h11 <= 0.14, while httpx's httpcore >= 1.0.9 needs h11 >= 0.16 (the request-smuggling
#: fix), so the two cannot share one environment without downgrading to a vulnerable h11.
ENV_MITM_PYTHON = "TRACKGUARD_MITM_PYTHON"

UNAVAILABLE = (
    "TLS interception needs mitmproxy: in a source checkout run `bash scripts/setup` (it "
    "builds .venv-mitm with Python 3.12+); otherwise pip install 'trackguard[intercept]' "
    "(Python 3.12+), or on Python 3.11 install trackguard and mitmproxy in a Python 3.12+ "
    f"environment and set {ENV_MITM_PYTHON} to its python"
)


class InterceptUnavailable(TrackguardError):
    """mitmproxy is not installed in this environment."""


def passthrough_pattern(hosts: Iterable[str]) -> str:
    """mitmproxy `ignore_hosts` regex matching each host and its subdomains, any port."""
    names = sorted({h.strip().lower().lstrip(".") for h in hosts if h.strip()})
    alternatives = "|".join(re.escape(n) for n in names)
    return rf"^(?:[^:]+\.)?(?:{alternatives}):\d+$" if names else r"^$"


#: The managed side environment `scripts/setup` builds beside `.venv` when the project's
#: Python is older than 3.12 (docs/proxy.md, "Why a side environment").
SIDE_ENV = ".venv-mitm"


def side_env_python() -> Path | None:
    """`<checkout>/.venv-mitm/bin/python` when trackguard runs from a source checkout
    (src layout, editable install) and `scripts/setup` built the side environment."""
    checkout = Path(__file__).resolve().parents[3]
    for name in ("bin/python", "Scripts/python.exe"):
        python = checkout / SIDE_ENV / name
        if python.exists():
            return python
    return None


def mitm_python() -> str | None:
    """The Python for mitmdump: $TRACKGUARD_MITM_PYTHON if set, this one if it has
    mitmproxy, else the managed side environment; None when there is none."""
    chosen = os.environ.get(ENV_MITM_PYTHON)
    if chosen:
        return chosen
    if importlib.util.find_spec("mitmproxy") is not None:
        return sys.executable
    side = side_env_python()
    return str(side) if side is not None else None


def ca_folder(home: Path) -> Path:
    """mitmproxy's configuration folder inside trackguard's state folder."""
    return home / "mitmproxy"


def ca_certificate(home: Path) -> Path:
    """The CA certificate (PEM) users trust; its private key sits beside it, 0600."""
    return ca_folder(home) / "mitmproxy-ca-cert.pem"


_MAKE_CA = (
    "import sys; from mitmproxy.certs import CertStore; "
    "CertStore.from_store(sys.argv[1], 'mitmproxy', 2048)"
)


def ensure_ca(home: Path, python: str | None = None) -> Path:
    """Create the CA now (mitmproxy would on first start) so it can be trusted first."""
    cert = ca_certificate(home)
    if cert.exists():
        return cert
    python = python or mitm_python()
    if python is None:
        raise InterceptUnavailable(UNAVAILABLE)
    from trackguard.files import private_folder

    private_folder(ca_folder(home))
    done = subprocess.run(
        [python, "-c", _MAKE_CA, str(ca_folder(home))], capture_output=True, text=True
    )
    if done.returncode != 0 or not cert.exists():
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise InterceptUnavailable(f"could not create the CA with {python}: {tail[0]}")
    return cert


def trust_steps(cert: Path) -> list[tuple[str, str]]:
    """(system or browser, how to trust `cert` there), for `trackguard ca`."""
    der = cert.with_name("mitmproxy-ca-cert.cer")
    return [
        (
            "Debian/Ubuntu (system, curl, Chromium)",
            f"sudo cp {cert} /usr/local/share/ca-certificates/trackguard.crt && "
            "sudo update-ca-certificates",
        ),
        (
            "Fedora/Arch (system)",
            f"sudo trust anchor --store {cert}",
        ),
        (
            "Chromium/Chrome on Linux (own store)",
            f'certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n trackguard -i {cert}',
        ),
        (
            "Firefox (any OS)",
            "Settings > Privacy & Security > Certificates > View Certificates > Authorities > "
            f"Import {cert}, tick 'Trust this CA to identify websites'",
        ),
        (
            "macOS (Safari, Chrome)",
            "sudo security add-trusted-cert -d -r trustRoot -k "
            f"/Library/Keychains/System.keychain {cert}",
        ),
        (
            "Windows (Edge, Chrome)",
            f"certutil -addstore root {der}",
        ),
        (
            "Python programs",
            f"export SSL_CERT_FILE={cert} REQUESTS_CA_BUNDLE={cert}",
        ),
    ]


def _tristate(value: bool | None) -> str:
    return "" if value is None else ("1" if value else "0")


def build_command(
    host: str,
    port: int,
    home: Path,
    passthrough: Iterable[str],
    options: Iterable[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """The mitmdump command line running trackguard's addon.

    `options` are extra mitmproxy `--set KEY=VALUE` settings (e.g. `ssl_insecure=true` for
    a test origin with a self-signed certificate).
    """
    addon = Path(__file__).with_name("mitm_addon.py")
    confdir = home / "mitmproxy"
    extra = [item for option in options for item in ("--set", option)]
    return [
        python,
        "-c",
        "from mitmproxy.tools.main import mitmdump; mitmdump()",
        "--listen-host",
        host,
        "--listen-port",
        str(port),
        "--set",
        f"confdir={confdir}",
        "--set",
        f"ignore_hosts={passthrough_pattern(passthrough)}",
        "--set",
        "connection_strategy=lazy",
        *extra,
        "--quiet",
        "-s",
        str(addon),
    ]


def run_intercept(
    *,
    host: str,
    port: int,
    home: Path,
    extra_lists: Iterable[Path] = (),
    passthrough: Iterable[str] = (),
    dnt: bool | None = None,
    gpc: bool | None = None,
    log: bool = True,
    options: Iterable[str] = (),
) -> int:
    """Run mitmdump with the trackguard addon until it exits or we are signalled."""
    python = mitm_python()
    if python is None:
        raise InterceptUnavailable(UNAVAILABLE)
    hosts = (*DEFAULT_PASSTHROUGH, *passthrough)
    env = dict(os.environ)
    env[ENV_HOME] = str(home)
    env[ENV_LISTS] = os.pathsep.join(str(p.resolve()) for p in extra_lists)
    env[ENV_DNT] = _tristate(dnt)
    env[ENV_GPC] = _tristate(gpc)
    env[ENV_LOG] = "1" if log else "0"
    env[ENV_PASSTHROUGH] = os.pathsep.join(hosts)
    print(
        f"trackguard proxy (TLS interception) on http://{host}:{port}/ - trust the CA in "
        f"{ca_certificate(home)} in your browser (`trackguard ca` says how).",
        file=sys.stderr,
    )
    child = subprocess.Popen(
        build_command(host, port, home, hosts, options, python=python), env=env
    )

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    return child.wait()
