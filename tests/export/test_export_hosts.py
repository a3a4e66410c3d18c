"""DNS exports (hosts, dnsmasq, Unbound, RPZ): only "block this host" rules, exceptions
resolved the way resolvers resolve them, and the files accepted by the real tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from compare import comparable, exact_rules

from trackguard.domain import host_suffixes, split_url
from trackguard.engine import Engine
from trackguard.export import export_lists
from trackguard.export.report import Fate
from trackguard.lists import parse_list

LIST = """[Adblock Plus 2.0]
||ads.example^
||cdn.ads.example^
@@||ok.ads.example^
||lifted.example^
@@||lifted.example^
||imp.example^$important
@@||sub.imp.example^
||third.example^$third-party
||path.example/ads/
||1.2.3.4^
"""
TPL = "msFilterList\n-d tpl.example\n"


def outcomes(fmt: str) -> tuple[dict[str, tuple[Fate, str]], str]:
    parsed = [parse_list(LIST, "l.txt"), parse_list(TPL, "l.tpl")]
    report = export_lists(fmt, parsed)
    (text,) = report.output.files.values()
    return {o.rule.source.text: (o.fate, o.reason) for o in report.output.outcomes}, text


def test_dnsmasq_mapping_and_exceptions() -> None:
    fates, text = outcomes("dnsmasq")
    assert fates["||ads.example^"] == (Fate.EXACT, "")
    assert fates["@@||ok.ads.example^"] == (Fate.EXACT, "")
    assert fates["||lifted.example^"] == (Fate.DROPPED, "allowed-by-exception")
    assert fates["@@||sub.imp.example^"] == (Fate.DROPPED, "under-important-block")
    assert fates["||third.example^$third-party"] == (Fate.DROPPED, "party")
    assert fates["||path.example/ads/"] == (Fate.DROPPED, "not-host-only")
    assert fates["||1.2.3.4^"] == (Fate.DROPPED, "ip-host")
    assert fates["-d tpl.example"] == (Fate.DROPPED, "party")
    lines = set(text.splitlines())
    assert {"address=/ads.example/#", "server=/ok.ads.example/#", "address=/imp.example/#"} <= lines
    assert not any("lifted" in line or "sub.imp" in line for line in lines)


def test_hosts_file_narrows_to_exact_names() -> None:
    fates, text = outcomes("hosts")
    assert fates["||ads.example^"] == (Fate.NARROWED, "hosts-no-subdomains")
    assert fates["@@||ok.ads.example^"] == (Fate.DROPPED, "hosts-no-exceptions")
    assert "0.0.0.0 ads.example" in text.splitlines()
    assert "lifted" not in text


def test_unbound_and_rpz_mapping() -> None:
    _, unbound = outcomes("unbound")
    assert '    local-zone: "ads.example." always_null' in unbound.splitlines()
    assert '    local-zone: "ok.ads.example." transparent' in unbound.splitlines()
    _, rpz = outcomes("rpz")
    lines = rpz.splitlines()
    assert {"ads.example CNAME .", "*.ads.example CNAME ."} <= set(lines)
    assert "ok.ads.example CNAME rpz-passthru." in lines


@pytest.fixture(scope="module")
def el_ep_dns(el_ep_lists: list[Any]) -> dict[str, Any]:
    return {fmt: export_lists(fmt, el_ep_lists) for fmt in ("dnsmasq", "unbound", "rpz", "hosts")}


def dns_blocks(text: str) -> tuple[set[str], set[str]]:
    blocks, allows = set(), set()
    for line in text.splitlines():
        if line.startswith("address=/"):
            blocks.add(line.split("/")[1])
        elif line.startswith("server=/"):
            allows.add(line.split("/")[1])
    return blocks, allows


@pytest.mark.slow
def test_dnsmasq_decides_like_the_engine_by_host(
    el_ep_dns: dict[str, Any], easylist_easyprivacy: Engine, real_requests: list[dict[str, Any]]
) -> None:
    """Resolver semantics (most specific name wins) against the engine, on the real
    subresource requests whose rules were all exported exactly."""
    report = el_ep_dns["dnsmasq"]
    (text,) = report.output.files.values()
    blocks, allows = dns_blocks(text)
    exact = exact_rules(report)
    compared = blocked = 0
    for r in real_requests:
        url, page, rtype = r["url"], r["source_url"], r["type"]
        if not comparable(easylist_easyprivacy, exact, url, page, rtype):
            continue
        compared += 1
        verdict = None
        for name in host_suffixes(split_url(url).host):
            if name in allows:
                verdict = False
                break
            if name in blocks:
                verdict = True
                break
        want = easylist_easyprivacy.check(url, page, rtype).blocked
        blocked += want
        assert bool(verdict) == want, (url, page, rtype)
    assert compared > 1000 and blocked > 100


def test_hosts_entries_are_blocked_by_the_engine(
    el_ep_dns: dict[str, Any], easylist_easyprivacy: Engine
) -> None:
    (text,) = el_ep_dns["hosts"].output.files.values()
    hosts = [line.split()[1] for line in text.splitlines() if line.startswith("0.0.0.0 ")]
    assert len(hosts) > 10_000
    for host in hosts[::50]:
        decision = easylist_easyprivacy.check(f"https://{host}/x", "https://page.example/", "image")
        assert decision.blocked, host


def _tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if path is None:
        pytest.skip(f"{name} not installed")
    return path


def test_real_tools_accept_the_files(el_ep_dns: dict[str, Any], tmp_path: Path) -> None:
    def write(fmt: str) -> Path:
        ((name, text),) = el_ep_dns[fmt].output.files.items()
        path = tmp_path / name
        path.write_text(text)
        return path

    dnsmasq = _tool("dnsmasq")
    done = subprocess.run(
        [dnsmasq, "--test", f"--conf-file={write('dnsmasq')}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    checkconf = _tool("unbound-checkconf")
    conf = tmp_path / "main.conf"
    conf.write_text(f'server:\n    chroot: ""\n    username: ""\ninclude: "{write("unbound")}"\n')
    done = subprocess.run([checkconf, str(conf)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    checkzone = _tool("named-checkzone")
    done = subprocess.run(
        [checkzone, "rpz.test", str(write("rpz"))], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
