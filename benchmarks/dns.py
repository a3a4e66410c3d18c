"""DNS throughput and latency: `trackguard dns` vs dnsmasq, both blocking 100,000 hosts.

One run starts three servers on 127.0.0.1:

- the upstream: a dnsmasq answering every name under `bench.test` (`--address`), so an
  uncached query costs the forwarders one fast upstream round trip;
- dnsmasq as a blocker (Pi-hole's engine): the 100,000 hosts as `0.0.0.0` entries in an
  `--addn-hosts` file, forwarding the rest to the upstream, cache of 10,000 answers;
- `trackguard dns` with the same hosts as a hosts-format list, same upstream.

and drives each with dnsperf (Debian package `dnsperf`):

- cached: 1,000 names (10% of them blocked) asked over and over after a warm-up pass;
- uncached: names never asked before (a fresh random label per query; 10% blocked), so
  every allowed query is forwarded;
- latency: one query outstanding (`-q 1`), dnsperf's per-query latencies (`-v`), p50/p99.

Queries per second are reported as a ratio to dnsmasq's in the same run (the machine is
shared and noisy). Needs Debian packages dnsperf and dnsmasq-base.

    python benchmarks/dns.py                 # 3 interleaved x 10 s per point, medians
    python benchmarks/dns.py --duration 5 --repeat 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRACKGUARD = Path(sys.executable).with_name("trackguard")
HOSTS = 100_000


@dataclass
class Point:
    target: str
    mode: str
    qps: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    lost: int = 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_dns(port: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = subprocess.run(
            ["dig", "@127.0.0.1", "-p", str(port), "+short", "+tries=1", "+time=1", "x.bench.test"],
            capture_output=True,
            text=True,
        ).stdout
        if out.strip():
            return
        time.sleep(0.2)
    raise RuntimeError(f"no DNS server answering on port {port}")


def dnsmasq(port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={port}",
            "--pid-file=", "--user=root", "--group=root", *extra,
        ],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def dnsperf(port: int, queries: Path, *, seconds: float, outstanding: int = 100) -> str:
    args = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)]
    args += ["-l", str(seconds), "-q", str(outstanding), "-c", "4", "-t", "2"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def qps_of(output: str) -> tuple[float, int]:
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    lost = re.search(r"Queries lost:\s+(\d+)", output)
    return qps, int(lost.group(1)) if lost else 0


def latencies(port: int, queries: Path, count: int) -> tuple[float, float]:
    """p50 and p99 in ms with one query outstanding, from dnsperf's per-query report."""
    out = subprocess.run(
        ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-q", "1",
         "-c", "1", "-n", "1", "-v", "-t", "2"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    values = sorted(
        float(line.split()[-1]) * 1000 for line in out.splitlines() if line.startswith("> ")
    )[:count]
    if not values:
        raise RuntimeError("dnsperf reported no per-query latency")
    return statistics.median(values), values[int(len(values) * 0.99) - 1]


def write_queries(path: Path, names: list[str]) -> Path:
    path.write_text("".join(f"{n} A\n" for n in names))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per point")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per point (median)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    for tool in ("dnsperf", "dnsmasq", "dig"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install dnsperf dnsmasq-base dnsutils")
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="tg-dns-bench-"))
    blocked = [f"t{i}.tracker{i % 997}.example" for i in range(HOSTS)]
    (work / "block.hosts").write_text("".join(f"0.0.0.0 {h}\n" for h in blocked))
    allowed = [f"site{i}.bench.test" for i in range(900)]
    cached = allowed + rng.sample(blocked, 100)
    rng.shuffle(cached)
    cached_file = write_queries(work / "cached.txt", cached)

    def fresh(tag: str, count: int) -> Path:
        names = [
            rng.choice(blocked) if i % 10 == 0 else f"{tag}{i}x{rng.getrandbits(32):x}.bench.test"
            for i in range(count)
        ]
        return write_queries(work / f"fresh-{tag}.txt", names)

    up_port, mq_port, tg_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    home = work / "home"
    home.mkdir()
    try:
        procs.append(dnsmasq(up_port, "--address=/bench.test/127.0.0.9", "--local-ttl=300"))
        wait_dns(up_port)
        procs.append(
            dnsmasq(
                mq_port,
                f"--server=127.0.0.1#{up_port}",
                f"--addn-hosts={work / 'block.hosts'}",
                "--cache-size=10000",
            )
        )
        env = {**os.environ, "TRACKGUARD_HOME": str(home)}
        subprocess.run(
            [str(TRACKGUARD), "lists", "disable", "builtin"], env=env, capture_output=True
        )
        procs.append(
            subprocess.Popen(
                [str(TRACKGUARD), "dns", "--listen", f"127.0.0.1:{tg_port}", "--upstream",
                 f"127.0.0.1:{up_port}", "--list", str(work / "block.hosts"), "--no-log"],
                env=env, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        wait_dns(mq_port)
        wait_dns(tg_port)
        points: list[Point] = []
        targets = {"dnsmasq": mq_port, "trackguard": tg_port}
        for port in targets.values():  # warm both caches
            subprocess.run(
                ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(cached_file), "-n", "1"],
                capture_output=True,
            )
        for mode in ("cached", "uncached"):
            runs: dict[str, list[Point]] = {name: [] for name in targets}
            for attempt in range(args.repeat):  # interleaved: both see the same noise
                for name, port in targets.items():
                    tag = f"{name[0]}{attempt}"
                    queries = cached_file if mode == "cached" else fresh(f"{tag}q", 300_000)
                    qps, lost = qps_of(dnsperf(port, queries, seconds=args.duration))
                    lat_file = cached_file if mode == "cached" else fresh(f"{tag}l", 2_000)
                    p50, p99 = latencies(port, lat_file, 2_000)
                    runs[name].append(Point(name, mode, qps, p50, p99, lost))
            for name, got in runs.items():
                points.append(
                    Point(
                        name,
                        mode,
                        statistics.median(p.qps for p in got),
                        statistics.median(p.p50_ms or 0.0 for p in got),
                        statistics.median(p.p99_ms or 0.0 for p in got),
                        sum(p.lost for p in got),
                    )
                )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)

    head = ("mode", "target", "qps", "vs dnsmasq", "p50 ms", "p99 ms", "lost")
    print("{:<9} {:<11} {:>9} {:>10} {:>8} {:>8} {:>6}".format(*head))
    for p in points:
        base = next(q for q in points if q.mode == p.mode and q.target == "dnsmasq")
        print(
            f"{p.mode:<9} {p.target:<11} {p.qps:>9.0f} {p.qps / base.qps:>9.2f}x "
            f"{p.p50_ms:>8.3f} {p.p99_ms:>8.3f} {p.lost:>6}"
        )
    for mode in ("cached", "uncached"):
        tg = next(q for q in points if q.mode == mode and q.target == "trackguard")
        mq = next(q for q in points if q.mode == mode and q.target == "dnsmasq")
        assert tg.p50_ms is not None and mq.p50_ms is not None
        print(f"{mode}: trackguard adds {tg.p50_ms - mq.p50_ms:+.3f} ms p50 over dnsmasq")
    if args.json:
        args.json.write_text(json.dumps([asdict(p) for p in points], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
