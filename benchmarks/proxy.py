"""Proxy throughput and latency: trackguard vs Privoxy vs direct, with wrk, on loopback.

One run starts nginx (the origin), Privoxy and `trackguard proxy`, both proxies blocking
the same 20,000-host list, and drives each with wrk at 1, 50 and 200 connections:
requests/s, p50/p99 latency, and the proxies' CPU time per request. Then a soak at 200
connections through trackguard checks that its memory stays flat (start/end RSS).

Every request carries `Referer` and `Sec-Fetch-Site: cross-site`, so trackguard evaluates
each one against the list as a third-party request (the origin itself is not listed and
every request is allowed; Privoxy matches every URL anyway).

Needs Debian packages `wrk`, `nginx-light` (or `nginx`) and `privoxy`. Everything
listens on 127.0.0.1 only, and every process started here is stopped at the end.

    python benchmarks/proxy.py                      # 3 x 10 s per point, 600 s soak
    python benchmarks/proxy.py --duration 5 --repeat 1 --soak-seconds 60 --json out.json

`--peer-src DIR` runs a second `trackguard proxy` from another checkout's `src` (say a
`git worktree` of the commit before a refactoring) as the target "before", interleaved
with the others, so a change is compared with its predecessor in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TRACKGUARD_SHARED", REPO.parent / "shared"))
DEFAULT_SOURCE = SHARED / "corpus" / "tpl" / "malwaredomains_full.tpl"
CONNECTIONS = (1, 50, 200)


@dataclass
class Point:
    target: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port}")


def load_hosts(source: Path, count: int) -> list[str]:
    """`count` distinct host names from a TPL's `-d host` lines (or synthetic names)."""
    hosts: list[str] = []
    seen: set[str] = set()
    if source.exists():
        for line in source.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "-d" and "." in parts[1]:
                host = parts[1].strip(".").lower()
                if re.fullmatch(r"[a-z0-9.-]+", host) and host not in seen:
                    seen.add(host)
                    hosts.append(host)
                    if len(hosts) == count:
                        break
    i = 0
    while len(hosts) < count:
        hosts.append(f"tracker{i}.bench.example")
        i += 1
    return hosts


def process_cpu(pid: int) -> float:
    """User+system CPU seconds of a process and its children so far (from /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid, *_children(pid)]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (the proxy's workers), summed.

    Workers share the engine copy-on-write, so the sum counts shared pages once per
    process: an upper bound, and what matters for "flat" is that it does not grow.
    """
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


class Stack:
    """nginx, Privoxy and trackguard, in a temporary folder; `close()` stops them all."""

    def __init__(
        self, hosts: list[str], work: Path, workers: int | None = None, peer_src: Path | None = None
    ) -> None:
        self.work = work
        self.workers = workers
        self.peer_src = peer_src
        self.peer_port = free_port()
        self.peer: subprocess.Popen[bytes] | None = None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.origin_port = free_port()
        self.privoxy_port = free_port()
        self.trackguard_port = free_port()
        self.hosts = hosts
        self.trackguard: subprocess.Popen[bytes] | None = None
        self.privoxy: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._start_nginx()
        self._start_privoxy()
        self.trackguard = self._start_trackguard(self.trackguard_port, "trackguard-home")
        if self.peer_src is not None:
            self.peer = self._start_trackguard(self.peer_port, "peer-home", self.peer_src)

    def _spawn(self, args: list[str], **kw: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def _start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        www = self.work / "www"
        www.mkdir()
        (www / "index.html").write_text("<!doctype html><title>bench</title>" + "x" * 560)
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = self.work / "nginx.conf"
        temp = self.work / "nginx-temp"
        temp.mkdir()
        conf.write_text(
            f"{user}worker_processes auto;\ndaemon off;\npid {self.work}/nginx.pid;\n"
            f"error_log {self.work}/nginx-error.log;\n"
            "events { worker_connections 4096; }\n"
            "http {\n  access_log off;\n  keepalive_requests 1000000;\n"
            f"  client_body_temp_path {temp};\n  proxy_temp_path {temp};\n"
            f"  fastcgi_temp_path {temp};\n  uwsgi_temp_path {temp};\n  scgi_temp_path {temp};\n"
            f"  server {{ listen 127.0.0.1:{self.origin_port}; root {www}; }}\n}}\n"
        )
        self._spawn([nginx, "-c", str(conf), "-p", str(self.work)])
        wait_port(self.origin_port)

    def _start_privoxy(self) -> None:
        privoxy = shutil.which("privoxy") or "/usr/sbin/privoxy"
        folder = self.work / "privoxy"
        folder.mkdir()
        (folder / "block.action").write_text(
            "{ +block{listed tracker host} }\n" + "".join(f".{h}\n" for h in self.hosts)
        )
        conf = folder / "config"
        conf.write_text(
            f"confdir {folder}\nlogdir {folder}\nactionsfile block.action\n"
            "templdir /etc/privoxy/templates\n"
            f"listen-address 127.0.0.1:{self.privoxy_port}\n"
            "toggle 1\nenable-remote-toggle 0\nenable-remote-http-toggle 0\n"
            "enable-edit-actions 0\nbuffer-limit 4096\nkeep-alive-timeout 300\n"
            "connection-sharing 1\nsocket-timeout 300\nmax-client-connections 1024\n"
        )
        self.privoxy = self._spawn([privoxy, "--no-daemon", str(conf)])
        wait_port(self.privoxy_port)

    def _start_trackguard(
        self, port: int, home_name: str, src: Path | None = None
    ) -> subprocess.Popen[bytes]:
        hosts_file = self.work / "bench-hosts.txt"
        if not hosts_file.exists():
            hosts_file.write_text("".join(f"0.0.0.0 {h}\n" for h in self.hosts))
        home = self.work / home_name
        home.mkdir()
        env = {**os.environ, "TRACKGUARD_HOME": str(home)}
        if src is not None:  # PYTHONPATH comes before the (editable) installed package
            env["PYTHONPATH"] = str(src.resolve())
        proc = self._spawn(
            [
                sys.executable,
                "-m",
                "trackguard",
                "proxy",
                "--port",
                str(port),
                "--list",
                str(hosts_file),
                "--max-connections",
                "4096",
                *(["--workers", str(self.workers)] if self.workers else []),
            ],
            env=env,
        )
        wait_port(port, timeout=120)
        return proc

    def check_blocking(self) -> dict[str, str]:
        """Prove both proxies block a listed host and pass the origin."""
        out = {}
        listed = f"http://{self.hosts[len(self.hosts) // 2]}/x.js"
        proxies = [("trackguard", self.trackguard_port), ("privoxy", self.privoxy_port)]
        if self.peer is not None:
            proxies.append(("before", self.peer_port))
        for name, port in proxies:
            opener = urllib.request.build_opener(
                urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"})
            )
            origin = opener.open(f"http://127.0.0.1:{self.origin_port}/index.html", timeout=10)
            assert origin.status == 200, name
            request = urllib.request.Request(
                listed, headers={"Referer": "http://site.example/", "Sec-Fetch-Site": "cross-site"}
            )
            try:
                answer = opener.open(request, timeout=10)
                status = answer.status
                blocked = answer.headers.get("X-Trackguard-Blocked", "")
            except urllib.error.HTTPError as exc:
                status, blocked = exc.code, "privoxy block page"
            out[name] = f"{status} {blocked}".strip()
        return out

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


LUA = """wrk.method = "GET"
wrk.path = "{url}"
wrk.headers["Host"] = "{host}"
wrk.headers["Referer"] = "http://site.example/"
wrk.headers["Sec-Fetch-Site"] = "cross-site"
"""


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    value, unit = float(match[1]), match[2]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    work: Path, port: int, origin_url: str, host: str, connections: int, seconds: float
) -> tuple[float, float, float, int, int]:
    """Returns requests/s, p50 ms, p99 ms, error count, request count."""
    script = work / f"wrk-{port}.lua"
    script.write_text(LUA.format(url=origin_url, host=host))
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out)[1])  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    errors = 0
    for match in re.finditer(r"(?:connect|read|write|timeout) (\d+)", out):
        errors += int(match[1])
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx[1])
    return rps, p50, p99, errors, total


def benchmark(stack: Stack, seconds: float, repeat: int = 3) -> list[Point]:
    """Each point `repeat` times, the three targets interleaved, and the median kept.

    The machine is shared: a neighbour's burst can halve one 10-second measurement.
    Interleaving puts every target through the same conditions, and the median drops
    the odd disturbed run from each.
    """
    points = []
    origin_path = f"http://127.0.0.1:{stack.origin_port}/index.html"
    host = f"127.0.0.1:{stack.origin_port}"
    targets = [
        ("direct", stack.origin_port, "/index.html", None),
        ("privoxy", stack.privoxy_port, origin_path, stack.privoxy),
        ("trackguard", stack.trackguard_port, origin_path, stack.trackguard),
    ]
    if stack.peer is not None:
        targets.append(("before", stack.peer_port, origin_path, stack.peer))
    for connections in CONNECTIONS:
        runs: dict[str, list[Point]] = {name: [] for name, *_ in targets}
        for _ in range(repeat):
            for name, port, path, proc in targets:
                # Warm up (pools, caches), then measure.
                run_wrk(stack.work, port, path, host, connections, 1)
                cpu0 = process_cpu(proc.pid) if proc else 0.0
                rps, p50, p99, errors, total = run_wrk(
                    stack.work, port, path, host, connections, seconds
                )
                cpu = (process_cpu(proc.pid) - cpu0) * 1000 / total if proc and total else None
                runs[name].append(Point(name, connections, rps, p50, p99, errors, cpu))
                print(
                    f"  {name:<10} c={connections:<3} {rps:>10.0f} req/s  p50 {p50:7.3f} ms"
                    f"  p99 {p99:7.3f} ms  errors {errors}"
                    + (f"  cpu {cpu:.3f} ms/req" if cpu is not None else ""),
                    file=sys.stderr,
                )
        for name, *_ in targets:
            points.append(_median_point(runs[name]))
    return points


def _median_point(runs: list[Point]) -> Point:
    """The median of each measure over repeated runs (errors are summed)."""

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    cpus = [p.cpu_ms_per_request for p in runs if p.cpu_ms_per_request is not None]
    return Point(
        runs[0].target,
        runs[0].connections,
        median([p.requests_per_s for p in runs]),
        median([p.p50_ms for p in runs]),
        median([p.p99_ms for p in runs]),
        sum(p.errors for p in runs),
        median(cpus) if cpus else None,
    )


def soak(stack: Stack, seconds: float) -> dict[str, object]:
    assert stack.trackguard is not None
    pid = stack.trackguard.pid
    origin_path = f"http://127.0.0.1:{stack.origin_port}/index.html"
    host = f"127.0.0.1:{stack.origin_port}"
    run_wrk(stack.work, stack.trackguard_port, origin_path, host, 200, 5)  # warm up
    start_rss = rss_mib(pid)
    samples = [(0.0, start_rss)]
    started = time.monotonic()
    script = stack.work / "soak.lua"
    script.write_text(LUA.format(url=origin_path, host=host))
    wrk = subprocess.Popen(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            "200",
            "-d",
            f"{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{stack.trackguard_port}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    interval = max(1.0, seconds / 20)
    while wrk.poll() is None:
        time.sleep(interval)
        samples.append((round(time.monotonic() - started, 1), rss_mib(pid)))
    out = wrk.communicate()[0]
    end_rss = rss_mib(pid)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    return {
        "seconds": seconds,
        "connections": 200,
        "requests": total,
        "requests_per_s": rps,
        "rss_start_mib": round(start_rss, 1),
        "rss_end_mib": round(end_rss, 1),
        "rss_max_mib": round(max(r for _, r in samples), 1),
        "samples": samples,
    }


def table(points: list[Point]) -> str:
    by = {(p.target, p.connections): p for p in points}
    names = ["direct", "privoxy", "trackguard", *(["before"] if ("before", 1) in by else [])]
    lines = [
        "| conns | target | req/s | p50 ms | p99 ms | CPU ms/req | vs Privoxy req/s"
        " | added p50 vs direct |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in CONNECTIONS:
        direct = by[("direct", c)]
        privoxy = by[("privoxy", c)]
        for name in names:
            p = by[(name, c)]
            ratio = f"{p.requests_per_s / privoxy.requests_per_s:.1f}x" if name != "direct" else ""
            added = f"{p.p50_ms - direct.p50_ms:.3f}" if name != "direct" else ""
            cpu = f"{p.cpu_ms_per_request:.3f}" if p.cpu_ms_per_request is not None else ""
            lines.append(
                f"| {c} | {name} | {p.requests_per_s:,.0f} | {p.p50_ms:.3f} | {p.p99_ms:.3f} "
                f"| {cpu} | {ratio} | {added} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per point, interleaved; the median is kept"
    )
    parser.add_argument("--soak-seconds", type=float, default=600, help="0 to skip the soak")
    parser.add_argument("--hosts", type=int, default=20_000, help="size of the block list")
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE, help="TPL whose -d hosts form the list"
    )
    parser.add_argument("--json", type=Path, help="write all results here")
    parser.add_argument(
        "--workers", type=int, help="trackguard proxy --workers (default: its own default)"
    )
    parser.add_argument(
        "--peer-src",
        type=Path,
        help="also run trackguard from this src folder (target 'before'), interleaved",
    )
    args = parser.parse_args()
    for tool in ("wrk", "nginx", "privoxy"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            print(f"missing {tool}: apt-get install wrk nginx-light privoxy", file=sys.stderr)
            return 2
    hosts = load_hosts(args.source, args.hosts)
    with tempfile.TemporaryDirectory(prefix="trackguard-bench-") as tmp:
        stack = Stack(hosts, Path(tmp), args.workers, args.peer_src)
        try:
            stack.start()
            print(f"blocking check: {stack.check_blocking()}", file=sys.stderr)
            points = benchmark(stack, args.duration, max(1, args.repeat))
            soak_result = soak(stack, args.soak_seconds) if args.soak_seconds > 0 else None
        finally:
            stack.close()
    print(
        f"\n{len(hosts):,} listed hosts; wrk {args.duration:g} s per run, median of "
        f"{max(1, args.repeat)} interleaved runs per point; "
        f"{os.cpu_count()} cores shared by wrk, nginx and the proxy.\n"
    )
    print(table(points))
    if soak_result:
        print(
            f"\nsoak: {soak_result['seconds']:g} s at 200 connections, "
            f"{soak_result['requests_per_s']:,.0f} req/s, trackguard RSS "
            f"{soak_result['rss_start_mib']} MiB -> {soak_result['rss_end_mib']} MiB "
            f"(max {soak_result['rss_max_mib']} MiB)"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"points": [asdict(p) for p in points], "soak": soak_result}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
