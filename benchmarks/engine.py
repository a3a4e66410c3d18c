"""Engine benchmark: trackguard against adblock-rust and adblockparser, in one run.

    python benchmarks/engine.py [--sample 200] [--engines trackguard,adblock,adblockparser]
    python benchmarks/engine.py --profile          # cProfile of trackguard's matching loop
    python benchmarks/engine.py --hostile          # worst case on hostile lists and URLs
    python benchmarks/engine.py --build-only 7 --engines trackguard,adblock  # build alone
    python benchmarks/engine.py --rounds 5 --engines trackguard,adblock  # noisy machine

All engines load EasyList + EasyPrivacy from the shared corpus and decide the subresource
requests (type != document) of the real request log. Each engine is measured in a fresh
subprocess, so imports, caches and allocator state of one never count for another:

* build: list text (already in memory) to a ready engine; includes parsing (and the
  engine's import). `--build-only N` measures it alone, N rounds of fresh workers with
  the engines alternating, and gives the median of the rounds' ratios: one build is
  0.3-0.5 s, and a shared machine moves a single run by 10-20%.
* cache load: trackguard `save` + `Engine.load`; adblock `serialize` + `deserialize`.
  Only the load is timed; "cache MiB" is the size of the saved form. adblockparser has
  no cache.
* memory: `VmRSS` after the build minus `VmRSS` before it (retained), and `VmHWM` (the
  peak, reset just before the build) minus `VmRSS` before (peak), from /proc/self/status.
  Inputs are read before the first measurement, the same way for every engine.
* per request: each `check` timed with `time.perf_counter_ns`; median, p99 and mean in
  µs, and requests/s from the summed times. The last row divides trackguard by adblock
  (for requests/s, below 1× means slower).
  adblockparser takes ~0.1-0.4 s per request, so it only decides a fixed random sample
  (`--sample`, seed 1); the other two decide every request.
* rounds (`--rounds N`): every measurement N times, engines alternating in fresh
  workers; each engine's row is its median per column, the ratio row the median of the
  rounds' own ratios, and a last row their range. On a shared machine one pass moves by
  10-40% with the neighbours' load, so one run's ratio can say either side of 1.0×.
* hostile (`--hostile`): adversarial filters and URLs (issue 10's cases and more), built
  into trackguard and adblock in one process; the worst over each case's URLs of the
  median of five checks, in µs, and how many of trackguard's checks its work budget
  cut short. The aim: under 1 ms per check for URLs up to 8 KB.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import gzip
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
LISTS = ("easylist.txt", "easyprivacy.txt")
ENGINES = ("trackguard", "adblock", "adblockparser")
REQUEST_LOG = "requests/real-requests.jsonl.gz"
SAMPLE_SEED = 1
ADBLOCKPARSER_TYPES = (
    "script",
    "image",
    "stylesheet",
    "object",
    "xmlhttprequest",
    "subdocument",
    "document",
    "other",
    "ping",
    "media",
    "websocket",
    "font",
)

Request = tuple[str, str | None, str]  # url, page url, ABP type name


def corpus_path() -> Path:
    """`$TRACKGUARD_SHARED/corpus`, else `<repo root>/../shared/corpus` (as tests/conftest.py)."""
    override = os.environ.get("TRACKGUARD_SHARED")
    return (Path(override) if override else REPO_ROOT.parent / "shared") / "corpus"


def read_requests(corpus: Path) -> list[Request]:
    with gzip.open(corpus / REQUEST_LOG, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    return [(r["url"], r["source_url"], r["type"]) for r in records if r["type"] != "document"]


def sample(requests: list[Request], size: int) -> list[Request]:
    return random.Random(SAMPLE_SEED).sample(requests, min(size, len(requests)))


def memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- engines
# Each adapter: build(texts) -> engine; check(engine) -> (url, page, type) -> blocked;
# cache(engine) -> (seconds to load a saved copy, its size in bytes), or None.


def _trackguard_build(texts: list[str]) -> Any:
    from trackguard.engine import Engine
    from trackguard.model import ListSource

    return Engine.from_sources(
        [ListSource(name, text) for name, text in zip(LISTS, texts, strict=True)]
    )


def _trackguard_check(engine: Any) -> Callable[[str, str | None, str], bool]:
    check = engine.check
    return lambda url, page, type_name: check(url, page, type_name).blocked


def _trackguard_cache(engine: Any) -> tuple[float, int]:
    from trackguard.engine import Engine

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "engine.cache"
        engine.save(path)
        start = time.perf_counter()
        Engine.load(path)
        return time.perf_counter() - start, path.stat().st_size


def _adblock_build(texts: list[str]) -> Any:
    import adblock

    filter_set = adblock.FilterSet()
    for text in texts:
        filter_set.add_filter_list(text)
    return adblock.Engine(filter_set=filter_set, optimize=True)


def _adblock_check(engine: Any) -> Callable[[str, str | None, str], bool]:
    check = engine.check_network_urls
    # The real log always has a page; "" would make adblock-rust skip party checks.
    return lambda url, page, type_name: check(url, page or "", type_name).matched


def _adblock_cache(engine: Any) -> tuple[float, int]:
    import adblock

    data = engine.serialize()
    start = time.perf_counter()
    fresh = adblock.Engine(filter_set=adblock.FilterSet(), optimize=True)
    fresh.deserialize(data)
    return time.perf_counter() - start, len(data)


def _adblockparser_build(texts: list[str]) -> Any:
    import adblockparser

    lines = [line for text in texts for line in text.splitlines()]
    options = [*ADBLOCKPARSER_TYPES, "third-party", "domain"]
    # use_re2=False: its re2 path expects the old pyre2 API, not google-re2.
    return adblockparser.AdblockRules(lines, supported_options=options, use_re2=False)


def _adblockparser_check(engine: Any) -> Callable[[str, str | None, str], bool]:
    from trackguard.domain import site_of, to_ascii_host

    def check(url: str, page: str | None, type_name: str) -> bool:
        host = to_ascii_host(urlsplit(url).hostname or "")
        page_host = to_ascii_host(urlsplit(page).hostname or "") if page else ""
        options: dict[str, bool | str] = {t: t == type_name for t in ADBLOCKPARSER_TYPES}
        options["third-party"] = not page_host or site_of(host) != site_of(page_host)
        options["domain"] = page_host
        return bool(engine.should_block(url, options))

    return check


ADAPTERS: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any] | None]] = {
    "trackguard": (_trackguard_build, _trackguard_check, _trackguard_cache),
    "adblock": (_adblock_build, _adblock_check, _adblock_cache),
    "adblockparser": (_adblockparser_build, _adblockparser_check, None),
}


def measure(name: str, corpus: Path, sample_size: int, build_only: bool = False) -> dict[str, Any]:
    """Runs inside the worker subprocess: one engine, all measurements (or the build)."""
    build, make_check, cache = ADAPTERS[name]
    texts = [(corpus / "lists" / list_name).read_text(encoding="utf-8") for list_name in LISTS]
    requests = read_requests(corpus)
    if name == "adblockparser":
        requests = sample(requests, sample_size)
    gc.collect()
    peak_reset = reset_peak()
    before = memory_kib()

    start = time.perf_counter()
    engine = build(texts)
    build_s = time.perf_counter() - start
    if build_only:
        return {"engine": name, "build_s": build_s}
    gc.collect()
    after = memory_kib()

    check = make_check(engine)
    timings = []
    blocked = 0
    clock = time.perf_counter_ns
    for url, page, type_name in requests:
        t0 = clock()
        verdict = check(url, page, type_name)
        timings.append(clock() - t0)
        blocked += verdict
    timings.sort()
    cache_load_s, cache_bytes = cache(engine) if cache else (None, None)

    return {
        "engine": name,
        "build_s": build_s,
        "cache_load_s": cache_load_s,
        "cache_mib": cache_bytes / 2**20 if cache_bytes is not None else None,
        "retained_mib": (after["VmRSS"] - before["VmRSS"]) / 1024,
        "peak_mib": (after["VmHWM"] - before["VmRSS"]) / 1024 if peak_reset else None,
        "median_us": statistics.median(timings) / 1000,
        "p99_us": timings[min(len(timings) - 1, int(len(timings) * 0.99))] / 1000,
        "mean_us": sum(timings) / len(timings) / 1000,
        "requests_per_s": len(timings) / (sum(timings) / 1e9),
        "requests": len(requests),
        "blocked": blocked,
    }


def run_worker(
    name: str, corpus: Path, sample_size: int, build_only: bool = False
) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--sample",
        str(sample_size),
        "--corpus",
        str(corpus),
        *(["--build-only", "1"] if build_only else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} worker failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- output

COLUMNS = (
    ("build_s", "build s", "{:.2f}"),
    ("cache_load_s", "cache load s", "{:.3f}"),
    ("cache_mib", "cache MiB", "{:.1f}"),
    ("retained_mib", "retained MiB", "{:.1f}"),
    ("peak_mib", "peak MiB", "{:.1f}"),
    ("median_us", "median µs", "{:.1f}"),
    ("p99_us", "p99 µs", "{:.1f}"),
    ("mean_us", "mean µs", "{:.1f}"),
    ("requests_per_s", "requests/s", "{:,.0f}"),
    ("requests", "requests", "{:,}"),
    ("blocked", "blocked", "{:,}"),
)


def render_table(
    results: list[dict[str, Any]], ratios: dict[str, list[float]] | None = None
) -> str:
    """One row per engine and a trackguard / adblock row. With `ratios` (each round's
    ratio per column, from `run_rounds`), that row is their median and a last row
    gives their range."""
    header = ["engine", *(title for _, title, _ in COLUMNS)]
    rows = [
        [r["engine"], *("–" if r[key] is None else fmt.format(r[key]) for key, _, fmt in COLUMNS)]
        for r in results
    ]
    by_name = {r["engine"]: r for r in results}
    if ratios is not None:
        median_row, range_row = ["trackguard / adblock (median)"], ["ratio range (rounds)"]
        for key, _, _ in COLUMNS[:-2]:
            found = ratios.get(key)
            median_row.append(f"{statistics.median(found):.2f}×" if found else "–")
            range_row.append(f"{min(found):.2f}-{max(found):.2f}" if found else "–")
        rows += [[*median_row, "", ""], [*range_row, "", ""]]
    elif "trackguard" in by_name and "adblock" in by_name:
        ours, theirs = by_name["trackguard"], by_name["adblock"]
        ratio_row = ["trackguard / adblock"]
        for key, _, _ in COLUMNS[:-2]:
            if ours[key] is None or not theirs[key]:
                ratio_row.append("–")
            else:
                ratio_row.append(f"{ours[key] / theirs[key]:.1f}×")
        rows.append([*ratio_row, "", ""])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(row) for row in rows)])


def run_rounds(
    names: list[str], corpus: Path, sample_size: int, rounds: int
) -> tuple[list[dict[str, Any]], dict[str, list[float]] | None]:
    """Every measurement `rounds` times, engines alternating in fresh workers (a noisy
    machine then slows both alike): each engine's median per column, and each round's
    trackguard / adblock ratio per column (None without both engines). adblockparser,
    ~0.1-0.4 s per request, is measured in the first round only."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_no in range(rounds):
        for name in names:
            if name == "adblockparser" and round_no:
                continue
            print(f"round {round_no + 1}/{rounds}: {name}...", file=sys.stderr, flush=True)
            runs[name].append(run_worker(name, corpus, sample_size))
    results = []
    for found in runs.values():
        merged = dict(found[0])
        for key, _, _ in COLUMNS[:-2]:
            values = [r[key] for r in found if r[key] is not None]
            merged[key] = statistics.median(values) if values else None
        results.append(merged)
    if "trackguard" not in runs or "adblock" not in runs:
        return results, None
    ratios: dict[str, list[float]] = {}
    for key, _, _ in COLUMNS[:-2]:
        pairs = zip(runs["trackguard"], runs["adblock"], strict=True)
        ratios[key] = [a[key] / b[key] for a, b in pairs if a[key] is not None and b[key]]
    return results, ratios


def run_builds(names: list[str], corpus: Path, rounds: int) -> str:
    """The build alone, `rounds` fresh workers per engine, alternating (a noisy machine
    then slows both alike); the ratio row is the median of the rounds' ratios."""
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            times[name].append(run_worker(name, corpus, 0, build_only=True)["build_s"])
    rows = [
        [name, *(f"{f(t):.3f}" for f in (statistics.median, min, max)), ""]
        for name, t in times.items()
    ]
    if "trackguard" in times and "adblock" in times:
        ratios = [a / b for a, b in zip(times["trackguard"], times["adblock"], strict=True)]
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}×"
        rows.append(["trackguard / adblock", f"{statistics.median(ratios):.2f}×", "", "", spread])
    header = ["engine", "median s", "min s", "max s", "ratio range"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(row) for row in rows)])


def profile(corpus: Path, top: int = 25) -> None:
    """cProfile over trackguard's matching loop only (the build is not profiled)."""
    texts = [(corpus / "lists" / name).read_text(encoding="utf-8") for name in LISTS]
    requests = read_requests(corpus)
    engine = _trackguard_build(texts)
    check = engine.check
    profiler = cProfile.Profile()
    profiler.enable()
    for url, page, type_name in requests:
        check(url, page, type_name)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    print(f"trackguard matching loop: {len(requests):,} requests\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


# --------------------------------------------------------------------------- hostile

HOST_127 = ".".join(["a"] * 127)  # 253 characters: the longest host a URL can have
UNINDEXED = [f"*{a}{b}^{c}*" for a in "abcdefgh" for b in "ijklmnop" for c in "qrstuvwx"]

# name -> (filter lines, URLs). Every URL but the 100 KB ones is at most 8 KB.
HOSTILE_CASES: dict[str, tuple[list[str], list[str]]] = {
    "issue: ||a* a^x1500, 127 labels": (
        ["||a*" + "a^" * 1500],
        [f"http://{HOST_127}/" + "a" * 7700, f"http://{HOST_127}/" + "a/" * 3850],
    ),
    "issue: *a^ x2000, 8 KB": (
        ["*" + "a^" * 2000],
        ["http://x.example/" + "a/" * 4000, "http://x.example/" + "a" * 8000],
    ),
    "issue: *a^ x2000, 100 KB": (["*" + "a^" * 2000], ["http://x.example/" + "a/" * 50000]),
    "/^ x1500 then b": (["/^" * 1500 + "b"], ["http://x.example/" + "/" * 8000]),
    "/^ x1500 then /, periodic URL": (
        ["/^" * 1500 + "/"],
        ["http://x.example/" + ("/" * 2999 + "b") * 2],
    ),
    "a/^ against 8 KB of ':'": (["a/^"], ["http://x.example/" + ":" * 8000]),
    "||a^ x100| at every label": (["||" + "a^" * 100 + "|"], [f"http://{HOST_127}/"]),
    "||a.a.(x60)b^ at every label": (
        ["||" + "a." * 60 + "b^"],
        [f"http://{HOST_127}/" + "a" * 7700],
    ),
    "512 unindexable filters": (UNINDEXED, ["http://x.example/" + "zz/" * 2700]),
    "2,000 filters in one token bucket": (
        [f"*/tracker/*{i}x^" for i in range(2000)],
        ["http://x.example/tracker/" + "1/" * 3900],
    ),
    "200 regexes .{0,40}": (
        [f"/a.{{0,40}}b{i}c/" for i in range(200)],
        ["http://x.example/" + "ab" * 4000],
    ),
    "1,000 filters, 1 host, 8 KB": (
        [f"||x.example^*/p{i}/*^" for i in range(1000)],
        ["http://x.example/" + "p/" * 4000],
    ),
}
REAL_LISTS_HOSTILE_URLS = [
    "http://x.example/" + "ad/" * 2700,
    f"http://{HOST_127}/" + "a.b-c_d%" * 960,
    "https://x.example/t?" + "&".join(f"utm_{i}=ad" for i in range(700)),
    "https://x.example/" + "/".join(f"ads{i}.js" for i in range(1000))[:8000],
]
REMOVEPARAM_LINES = [f"||x.example^$removeparam=/^p{i}[a-z]*=/" for i in range(100)]
REMOVEPARAM_URL = "https://x.example/?" + "&".join(f"q{i}=v" for i in range(1136))


def _worst_us(check: Callable[[str], Any], urls: list[str], rounds: int = 5) -> float:
    """Worst over the URLs of the median of `rounds` checks (the first warms caches)."""
    worst = 0.0
    clock = time.perf_counter_ns
    for url in urls:
        times = []
        for _ in range(rounds):
            t0 = clock()
            check(url)
            times.append(clock() - t0)
        worst = max(worst, statistics.median(times) / 1000)
    return worst


def _hostile_engines(lines: list[str]) -> dict[str, Callable[[str], Any]]:
    import adblock

    from trackguard.engine import Engine

    text = "\n".join(lines) + "\n"
    ours = Engine.from_text(text, "abp")
    filter_set = adblock.FilterSet()
    filter_set.add_filter_list(text)
    theirs = adblock.Engine(filter_set=filter_set, optimize=True)
    page = "https://page.example/"
    return {
        "trackguard": lambda url: ours.check(url, page, "other"),
        "adblock": lambda url: theirs.check_network_urls(url, page, "other"),
    }


def run_hostile(corpus: Path) -> str:
    """Worst-case µs per check, trackguard and adblock in the same run (same process)."""
    import adblock

    from trackguard.engine import Engine
    from trackguard.model import ListSource

    rows: list[list[str]] = []
    for name, (lines, urls) in HOSTILE_CASES.items():
        checks = _hostile_engines(lines)
        budget = sum("budget" in checks["trackguard"](url).reason for url in urls)
        ours, theirs = (_worst_us(checks[n], urls) for n in ("trackguard", "adblock"))
        rows.append(
            [
                name,
                f"{max(map(len, urls)) / 1024:.0f}",
                f"{ours:,.0f}",
                f"{theirs:,.0f}",
                f"{ours / theirs:.1f}×",
                str(budget),
            ]
        )
    texts = [(corpus / "lists" / n).read_text(encoding="utf-8") for n in LISTS]
    ours_real = Engine.from_sources([ListSource(n, t) for n, t in zip(LISTS, texts, strict=True)])
    filter_set = adblock.FilterSet()
    for text in texts:
        filter_set.add_filter_list(text)
    theirs_real = adblock.Engine(filter_set=filter_set, optimize=True)
    page = "https://page.example/"
    real_budget = sum(
        "budget" in ours_real.check(u, page, "script").reason for u in REAL_LISTS_HOSTILE_URLS
    )
    ours = _worst_us(lambda u: ours_real.check(u, page, "script"), REAL_LISTS_HOSTILE_URLS)
    theirs = _worst_us(
        lambda u: theirs_real.check_network_urls(u, page, "script"), REAL_LISTS_HOSTILE_URLS
    )
    rows.append(
        [
            "EasyList+EasyPrivacy, hostile URLs",
            "8",
            f"{ours:,.0f}",
            f"{theirs:,.0f}",
            f"{ours / theirs:.1f}×",
            str(real_budget),
        ]
    )
    strip = Engine.from_text("\n".join(REMOVEPARAM_LINES) + "\n", "abp")
    ours = _worst_us(lambda u: strip.removeparam(u, page), [REMOVEPARAM_URL])
    rows.append(["100 $removeparam regexes, 1,136 params", "8", f"{ours:,.0f}", "–", "–", "0"])
    header = ["case", "URL KB", "trackguard µs", "adblock µs", "ratio", "budget hits"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=200, help="adblockparser sample size")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset")
    parser.add_argument("--profile", action="store_true", help="profile trackguard matching")
    parser.add_argument(
        "--hostile", action="store_true", help="worst case on hostile lists and URLs only"
    )
    parser.add_argument("--corpus", type=Path, default=corpus_path())
    parser.add_argument("--json", action="store_true", help="also print the raw results")
    parser.add_argument(
        "--build-only",
        type=int,
        metavar="ROUNDS",
        default=0,
        help="only the build column: ROUNDS fresh processes per engine, alternating",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure ROUNDS times, engines alternating; medians and ratio ranges",
    )
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        result = measure(args.worker, args.corpus, args.sample, build_only=args.build_only > 0)
        print(json.dumps(result))
        return 0
    if args.profile:
        profile(args.corpus)
        return 0
    if args.hostile:
        print("Hostile lists and URLs: worst µs per check (median of 5), same process\n")
        print(run_hostile(args.corpus))
        return 0

    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    unknown = set(names) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    if args.build_only:
        print(f"Build of EasyList + EasyPrivacy, {args.build_only} rounds, engines alternating\n")
        print(run_builds(names, args.corpus, args.build_only))
        return 0
    ratios = None
    if args.rounds > 1:
        results, ratios = run_rounds(names, args.corpus, args.sample, args.rounds)
    else:
        results = []
        for name in names:
            print(f"measuring {name}...", file=sys.stderr, flush=True)
            results.append(run_worker(name, args.corpus, args.sample))
    rounds = f"; median of {args.rounds} rounds, engines alternating" if ratios else ""
    print(
        f"EasyList + EasyPrivacy, {REQUEST_LOG} subresource requests "
        f"(adblockparser: random sample of {args.sample}, seed {SAMPLE_SEED}{rounds})\n"
    )
    print(render_table(results, ratios))
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
