"""The proxy auto-config file served at `/proxy.pac`. Pure text generation, no I/O.

A PAC file lets a browser (or a whole OS) be pointed at trackguard with one URL. Loopback
and plain host names go direct: the proxy would only relay them to the same machine, and
browsers bypass the proxy for them anyway.

**Decision:** no `DIRECT` fallback by default. If the proxy is down the browser shows an
error instead of silently browsing without protection; users who prefer availability can
pass `fallback_direct=True` (`trackguard proxy --pac-fallback-direct`).
"""

from __future__ import annotations

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
