"""What the proxy serves itself: the auto-config file at `/proxy.pac`, and `/`. No I/O.

A PAC file lets a browser (or a whole OS) be pointed at trackguard with one URL. Loopback
and plain host names go direct: the proxy would only relay them to the same machine, and
browsers bypass the proxy for them anyway.

**Decision:** no `DIRECT` fallback by default. If the proxy is down the browser shows an
error instead of silently browsing without protection; users who prefer availability can
pass `fallback_direct=True` (`trackguard proxy --pac-fallback-direct`).
"""

from __future__ import annotations

import contextlib

from trackguard.proxy.http1 import HttpError, RequestHead, split_host_port
from trackguard.proxy.responses import build_response

PAC_PATH = "/proxy.pac"
PAC_CONTENT_TYPE = "application/x-ns-proxy-autoconfig"


def _safe_host(host: str) -> str:
    """Only host characters may reach the JavaScript string (the Host header is hostile)."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
    return host if host and all(c in allowed for c in host) else "127.0.0.1"


def build_pac(host: str, port: int, *, fallback_direct: bool = False) -> str:
    """PAC text sending everything but loopback and plain host names through host:port."""
    target = f"PROXY {_safe_host(host)}:{int(port)}"
    if fallback_direct:
        target += "; DIRECT"
    return (
        "// trackguard proxy auto-config\n"
        "function FindProxyForURL(url, host) {\n"
        '  if (isPlainHostName(host) || host === "localhost" ||\n'
        '      shExpMatch(host, "127.*") || host === "[::1]" || host === "::1") {\n'
        '    return "DIRECT";\n'
        "  }\n"
        f'  return "{target}";\n'
        "}\n"
    )


def local_response(
    head: RequestHead,
    path: str,
    proxy_host: str,
    proxy_port: int,
    *,
    fallback_direct: bool,
    keep: bool,
) -> bytes:
    """The answer to a request for the proxy itself (`path` without the host): the PAC
    file, a short page at `/`, 404 for anything else, 405 for methods but GET and HEAD."""
    path = path.split("?", 1)[0]
    if head.method not in ("GET", "HEAD"):
        body, status, ctype = b"method not allowed\n", 405, "text/plain; charset=utf-8"
    elif path == PAC_PATH:
        host_header = head.get("host") or ""
        pac_host = proxy_host
        if host_header:
            with contextlib.suppress(HttpError):
                pac_host = split_host_port(host_header, proxy_port)[0]
        if pac_host in ("0.0.0.0", "::", ""):
            pac_host = "127.0.0.1"
        text = build_pac(pac_host, proxy_port, fallback_direct=fallback_direct)
        body, status, ctype = text.encode("ascii"), 200, PAC_CONTENT_TYPE
    elif path == "/":
        body = (
            "trackguard protection proxy\n"
            f"Configure your browser to use this address as its HTTP and HTTPS proxy,\n"
            f"or point it at the auto-config file {PAC_PATH}.\n"
        ).encode()
        status, ctype = 200, "text/plain; charset=utf-8"
    else:
        body, status, ctype = b"not found\n", 404, "text/plain; charset=utf-8"
    return build_response(
        status,
        [("Content-Type", ctype), ("Cache-Control", "no-cache")],
        body,
        close=not keep,
        head_only=head.method == "HEAD",
    )
