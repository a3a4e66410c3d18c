"""The proxy auto-config file."""

from __future__ import annotations

from trackguard.proxy.pac import build_pac


def test_pac_points_at_the_proxy_without_fallback() -> None:
    text = build_pac("127.0.0.1", 8118)
    assert "function FindProxyForURL(url, host)" in text
    assert 'return "PROXY 127.0.0.1:8118";' in text
    assert "isPlainHostName(host)" in text


def test_pac_fallback_and_hostile_host_header() -> None:
    assert 'return "PROXY h.lan:1; DIRECT";' in build_pac("h.lan", 1, fallback_direct=True)
    assert 'PROXY 127.0.0.1:8118"' in build_pac('evil"); alert(1); ("', 8118)
