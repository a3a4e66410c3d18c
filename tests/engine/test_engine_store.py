"""The compiled-engine cache: file format (`trackguard.engine.store`) and its use by `Engine`.

Contract (conventions, ENGINE_API.md): a saved engine loads back with identical decisions,
including which rule from which list and line decided; a truncated, corrupted, foreign,
other-version or other-lists file raises `CacheError` (never a crash or a wrong answer),
and `Engine.load_or_build` then rebuilds from the lists and rewrites the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import struct
from pathlib import Path

import pytest

import trackguard.lists
import trackguard.lists.abp
from trackguard.engine import CacheError, Engine
from trackguard.engine import store as store_module
from trackguard.engine import table as table_module
from trackguard.engine.compiler import ENGINE_VERSION
from trackguard.engine.store import FORMAT_VERSION, MAGIC, decode, encode
from trackguard.model import Decision, ListRejected, ListSource

PAGE = "https://site.example/"
HEADER_SIZE = 16 + 4 + 32  # magic, u32 format version, sha256

TPL_TEXT = (
    "msFilterList\r\n# comment\r\n\r\n: Expires=3\r\n"
    "-d tracker.example\r\n"
    "- http://ad2.\r\n"
    "+d ok.tracker.example /w/\r\n"
    "-d 203.0.113.7\r\n"
    "-d ads.example banner*.gif\r\n"
)
ABP_TEXT = (
    "[Adblock Plus 2.0]\n! Title: A\n\n"
    "||ads.example^$third-party,script\n"
    "@@||ads.example/ok/$script\n"
    "/ads\\.js$/$domain=site.example\n"
    "example.com##.x\n"
    "||imp.test^$important\n"
    "@@||imp.test^\n"
    "||track.test^$domain=google.*|~mail.google.com\n"
    "$removeparam=utm_source\n"
    "||dup.test^\n"
    "||dup.test^\n"
)
HOSTS_TEXT = (
    "# hosts\n127.0.0.1 localhost\n0.0.0.0 a.test b.test  # two\n0.0.0.0 c.test\n"
    "0.0.0.0 localhost d.test\n"  # the local name is skipped, d.test is the line's only rule
)
SOURCES = [
    ListSource("t.tpl", TPL_TEXT),
    ListSource("a.txt", ABP_TEXT),
    ListSource("h.hosts", HOSTS_TEXT),
]
GOOGLE = "||track.test^$domain=google.*|~mail.google.com"
REQUESTS = [
    # URL, page, type, deciding rule, list, line
    ("https://tracker.example/x", PAGE, "image", "-d tracker.example", "t.tpl", 5),
    ("https://ad2.example/x", PAGE, "image", "- http://ad2.", "t.tpl", 6),
    ("https://ok.tracker.example/w/a", PAGE, "image", "+d ok.tracker.example /w/", "t.tpl", 7),
    ("http://203.0.113.7/", PAGE, "image", "-d 203.0.113.7", "t.tpl", 8),
    ("https://ads.example/banner_1.gif", PAGE, "image", "-d ads.example banner*.gif", "t.tpl", 9),
    ("https://ads.example/a.js", PAGE, "script", "||ads.example^$third-party,script", "a.txt", 4),
    ("https://ads.example/ok/a.js", PAGE, "script", "@@||ads.example/ok/$script", "a.txt", 5),
    ("https://cdn.test/ads.js", PAGE, "script", "/ads\\.js$/$domain=site.example", "a.txt", 6),
    ("https://imp.test/x", PAGE, "image", "||imp.test^$important", "a.txt", 8),
    ("https://track.test/x", "https://www.google.co.uk/", "image", GOOGLE, "a.txt", 10),
    ("https://track.test/x", "https://mail.google.com/", "image", None, None, None),
    ("https://dup.test/x", PAGE, "image", "||dup.test^", "a.txt", 12),  # first of two
    ("https://a.test/x", PAGE, "image", "0.0.0.0 a.test b.test  # two", "h.hosts", 3),
    ("https://b.test/x", PAGE, "image", "0.0.0.0 a.test b.test  # two", "h.hosts", 3),
    ("https://c.test/x", None, "image", "0.0.0.0 c.test", "h.hosts", 4),
    ("https://d.test/x", None, "image", "0.0.0.0 localhost d.test", "h.hosts", 5),
    ("https://fine.test/", PAGE, "image", None, None, None),
]


def explain(d: Decision) -> tuple[object, ...]:
    over = d.overridden.source if d.overridden else None
    return (d.blocked, d.rule, d.list, d.line, d.reason, over)


@pytest.fixture(scope="module")
def built() -> Engine:
    return Engine.from_sources(SOURCES)


@pytest.fixture(scope="module")
def loaded(built: Engine, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("cache") / "engine.bin"
    built.save(path)
    return Engine.load(path, expected_key=built.cache_key)


# --- round trip -----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "page", "type", "rule", "list_id", "line"), REQUESTS)
def test_loaded_engine_explains_like_the_built_one(
    built: Engine,
    loaded: Engine,
    url: str,
    page: str | None,
    type: str,
    rule: str | None,
    list_id: str | None,
    line: int | None,
) -> None:
    fresh, again = built.check(url, page, type), loaded.check(url, page, type)
    assert (fresh.rule, fresh.list, fresh.line) == (rule, list_id, line)
    assert explain(again) == explain(fresh)
    # the loaded engine re-parses the deciding line from the packed table: same Rule
    assert again.matched == fresh.matched
    assert again.overridden == fresh.overridden


@pytest.mark.parametrize(("host", "rule_host"), [("a.test", "a.test"), ("b.test", "b.test")])
def test_hosts_line_with_several_hosts_reloads_the_right_entry(
    built: Engine, loaded: Engine, host: str, rule_host: str
) -> None:
    fresh, again = built.check(f"https://{host}/", PAGE), loaded.check(f"https://{host}/", PAGE)
    assert fresh.matched is not None and again.matched is not None
    assert again.matched.host == fresh.matched.host == rule_host
    assert again.matched == fresh.matched


def test_loaded_engine_reparses_only_deciding_rules(
    built: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "engine.bin"
    built.save(path)
    calls: list[tuple[str, int]] = []
    real, real_abp = table_module._parse_line, table_module._parse_abp_line

    def parse_line(text: str, list_id: str, line: int, format: object) -> object:
        calls.append((list_id, line))
        return real(text, list_id, line, format)  # type: ignore[arg-type]

    def parse_abp_line(text: str, list_id: str, line: int) -> object:
        calls.append((list_id, line))
        return real_abp(text, list_id, line)

    monkeypatch.setattr(table_module, "_parse_line", parse_line)
    monkeypatch.setattr(table_module, "_parse_abp_line", parse_abp_line)
    engine = Engine.load(path)
    assert calls == []  # loading parses nothing
    assert not engine.check("https://fine.test/", PAGE).blocked
    assert calls == []  # nor does a request no rule decides
    assert engine.check("https://b.test/x", PAGE).blocked
    assert calls == [("h.hosts", 3)]
    engine.check("https://b.test/y", PAGE)
    assert calls == [("h.hosts", 3)]  # re-parsed once, then kept
    decision = engine.check("https://dup.test/", PAGE)  # an ABP line: its own parser
    assert calls == [("h.hosts", 3), ("a.txt", 12)]
    assert decision.matched == built.check("https://dup.test/", PAGE).matched


def test_loaded_engine_keeps_diagnostics_lists_and_key(built: Engine, loaded: Engine) -> None:
    assert loaded.diagnostics == built.diagnostics
    assert loaded.lists == built.lists
    assert loaded.cache_key == built.cache_key
    assert len(loaded) == len(built)
    assert loaded.summary() == built.summary()


def test_loaded_engine_answers_every_question_alike(built: Engine, loaded: Engine) -> None:
    url = "https://ads.example/ok/a.js?utm_source=1&x=2"
    assert loaded.removeparam(url, PAGE, "script") == built.removeparam(url, PAGE, "script")
    assert loaded.matching_rules(url, PAGE, "script") == built.matching_rules(url, PAGE, "script")
    for host in ("tracker.example", "ok.tracker.example", "b.test", "imp.test", "fine.test"):
        assert explain(loaded.check_host(host)) == explain(built.check_host(host))


def test_save_is_atomic_and_leaves_no_temp_files(built: Engine, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "engine.bin"
    built.save(path)
    built.save(path)  # overwrite
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["engine.bin"]
    assert Engine.load(path, expected_key=built.cache_key).cache_key == built.cache_key


def _real_requests(corpus: Path, n: int) -> list[tuple[str, str | None, str]]:
    out = []
    with gzip.open(corpus / "requests" / "real-requests.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in itertools.islice(f, n):
            r = json.loads(line)
            out.append((r["url"], r["source_url"], r["type"]))
    return out


CORPUS_LISTS = [
    "tpl/easyprivacy_nointernational.tpl",
    "tpl/fanboy-social.tpl",
    "tpl/liste_fr.tpl",
    "lists/peter-lowe-serverlist.txt",
]


def test_round_trip_on_corpus_lists(corpus_dir: Path, tmp_path: Path) -> None:
    """Three real TPL lists and one real EasyList-syntax list, 3,000 real requests."""
    built = Engine.from_files(corpus_dir / p for p in CORPUS_LISTS)
    path = tmp_path / "engine.bin"
    built.save(path)
    loaded = Engine.load(path, expected_key=built.cache_key)
    requests = _real_requests(corpus_dir, 3000)
    decided = 0
    for url, page, type in requests:
        fresh, again = built.check(url, page, type), loaded.check(url, page, type)
        assert explain(again) == explain(fresh), url
        assert again.matched == fresh.matched, url
        decided += fresh.matched is not None
    assert decided >= 100  # the sample really exercises rules from these lists
    assert {d.list for u, p, t in requests for d in [built.check(u, p, t)] if d.list} >= {
        "easyprivacy_nointernational.tpl",
        "peter-lowe-serverlist.txt",
    }


# --- load_or_build --------------------------------------------------------------------------


def _counting_parse(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the engine's list parses, `parse_list` and (ABP) `scan_abp`: what a cache
    hit must not do."""
    calls: list[str] = []
    real = trackguard.lists.parse_list  # what `trackguard.engine` imported
    real_scan = trackguard.lists.abp.scan_abp

    def parse(text: str, list_id: str, format: object = None) -> object:
        calls.append(list_id)
        return real(text, list_id, format)  # type: ignore[arg-type]

    def scan(text: str, list_id: str) -> object:
        calls.append(list_id)
        return real_scan(text, list_id)

    monkeypatch.setattr("trackguard.engine.parse_list", parse)
    monkeypatch.setattr("trackguard.engine.scan_abp", scan)
    return calls


def test_load_or_build_uses_the_cache_the_second_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state" / "engine.bin"
    calls = _counting_parse(monkeypatch)
    first = Engine.load_or_build(path, SOURCES)
    assert calls == ["t.tpl", "a.txt", "h.hosts"]
    assert path.is_file()

    def no_parse(*args: object, **kwargs: object) -> object:
        raise AssertionError("parsed on a cache hit")

    monkeypatch.setattr("trackguard.engine.parse_list", no_parse)
    second = Engine.load_or_build(path, SOURCES)
    assert second.cache_key == first.cache_key
    for url, page, type, *_ in REQUESTS:
        assert explain(second.check(url, page, type)) == explain(first.check(url, page, type))


def test_load_or_build_rebuilds_when_a_list_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "engine.bin"
    old = Engine.load_or_build(path, SOURCES)
    old_bytes = path.read_bytes()
    changed = [ListSource("t.tpl", TPL_TEXT + "-d new.example\r\n"), *SOURCES[1:]]
    calls = _counting_parse(monkeypatch)
    new = Engine.load_or_build(path, changed)
    assert calls == ["t.tpl", "a.txt", "h.hosts"]
    assert new.cache_key != old.cache_key
    assert new.check("https://new.example/", PAGE).blocked
    assert not old.check("https://new.example/", PAGE).blocked
    assert path.read_bytes() != old_bytes  # rewritten
    assert Engine.load(path, expected_key=new.cache_key).check("https://new.example/", PAGE).blocked


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s[::-1], id="list order"),
        pytest.param(lambda s: [ListSource("renamed.tpl", TPL_TEXT), *s[1:]], id="list id"),
        pytest.param(lambda s: s[:2], id="list removed"),
    ],
)
def test_load_or_build_key_covers_ids_order_and_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: object
) -> None:
    path = tmp_path / "engine.bin"
    Engine.load_or_build(path, SOURCES)
    calls = _counting_parse(monkeypatch)
    Engine.load_or_build(path, change(SOURCES))  # type: ignore[operator]
    assert calls  # rebuilt


def test_load_or_build_rebuilds_for_another_strict_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "engine.bin"
    lax = Engine.load_or_build(path, SOURCES)
    calls = _counting_parse(monkeypatch)
    strict = Engine.load_or_build(path, SOURCES, strict_ie=True)
    assert calls
    assert lax.check("https://ad2.example/x", PAGE).blocked
    assert not strict.check("https://ad2.example/x", PAGE).blocked


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b"\x00garbage" * 100, id="garbage"),
        pytest.param(lambda b: b[:-1] + bytes([b[-1] ^ 1]), id="flipped byte"),
    ],
)
def test_load_or_build_recovers_from_a_damaged_cache(
    tmp_path: Path, damage: object, built: Engine
) -> None:
    path = tmp_path / "engine.bin"
    Engine.load_or_build(path, SOURCES)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    engine = Engine.load_or_build(path, SOURCES)
    assert explain(engine.check("https://tracker.example/x", PAGE)) == explain(
        built.check("https://tracker.example/x", PAGE)
    )
    # rewritten whole: the file now loads for exactly these lists
    assert Engine.load(path, expected_key=built.cache_key).cache_key == built.cache_key


def test_load_or_build_survives_an_unwritable_cache_location(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    engine = Engine.load_or_build(blocker / "engine.bin", SOURCES)
    assert engine.check("https://tracker.example/x", PAGE).blocked


def test_load_or_build_raises_for_a_rejected_list(tmp_path: Path) -> None:
    with pytest.raises(ListRejected):
        Engine.load_or_build(tmp_path / "engine.bin", [ListSource("bad.tpl", "msFilterList\n")])
    assert not (tmp_path / "engine.bin").exists()


# --- CacheError: every way a file can be wrong ----------------------------------------------


def _header(magic: bytes, version: int, body: bytes) -> bytes:
    return struct.pack(">16sI32s", magic, version, hashlib.sha256(body).digest()) + body


def _payload(built: Engine) -> tuple[object, ...]:
    payload = decode(built.to_bytes())
    assert isinstance(payload, tuple)
    return payload


def _corrupt_cases(built: Engine) -> dict[str, bytes]:
    good = built.to_bytes()
    body = good[HEADER_SIZE:]
    payload = _payload(built)
    mid = HEADER_SIZE + len(body) // 2
    return {
        "truncated payload": good[:-10],
        "truncated header": good[:20],
        "empty": b"",
        "flipped payload byte": good[:mid] + bytes([good[mid] ^ 0x40]) + good[mid + 1 :],
        "flipped checksum byte": good[:30] + bytes([good[30] ^ 1]) + good[31:],
        "wrong magic": b"NOT-A-CACHE-FILE" + good[16:],
        "other format version": _header(MAGIC, FORMAT_VERSION + 1, body),
        "other engine version": encode(("0-other", *payload[1:])),
        "garbage": bytes(range(256)) * 8,
        "checksummed garbage": _header(MAGIC, FORMAT_VERSION, b"\xff\x00garbage"),
        "wrong shape": encode(42),
        "short tuple": encode((ENGINE_VERSION, "key")),
    }


CORRUPT = [
    "truncated payload",
    "truncated header",
    "empty",
    "flipped payload byte",
    "flipped checksum byte",
    "wrong magic",
    "other format version",
    "other engine version",
    "garbage",
    "checksummed garbage",
    "wrong shape",
    "short tuple",
]


@pytest.mark.parametrize("case", CORRUPT)
def test_bad_cache_files_raise_cache_error(built: Engine, tmp_path: Path, case: str) -> None:
    path = tmp_path / "engine.bin"
    path.write_bytes(_corrupt_cases(built)[case])
    with pytest.raises(CacheError):
        Engine.load(path)


def test_other_lists_raise_cache_error(built: Engine, tmp_path: Path) -> None:
    path = tmp_path / "engine.bin"
    built.save(path)
    other = Engine.from_sources(SOURCES[:1])
    with pytest.raises(CacheError, match="other lists"):
        Engine.load(path, expected_key=other.cache_key)
    assert Engine.load(path, expected_key=built.cache_key).cache_key == built.cache_key
    assert Engine.load(path).cache_key == built.cache_key  # no expectation: any key


def test_missing_file_raises_cache_error(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="cannot read"):
        Engine.load(tmp_path / "missing.bin")


def test_cache_error_is_a_trackguard_error() -> None:
    from trackguard.model import TrackguardError

    assert issubclass(CacheError, TrackguardError)


# --- the file format itself -----------------------------------------------------------------


def test_file_layout(built: Engine) -> None:
    data = built.to_bytes()
    magic, version, digest = struct.unpack_from(">16sI32s", data)
    assert magic == MAGIC == b"TRACKGUARD-ENG\0\n"
    assert version == FORMAT_VERSION
    assert digest == hashlib.sha256(data[HEADER_SIZE:]).digest()


@pytest.mark.parametrize(
    "payload",
    [(), (1, "two", b"three", None, True, 2.5), {"a": [1, 2], "b": frozenset({"x"})}, "t" * 10_000],
)
def test_encode_decode_round_trip(payload: object) -> None:
    assert decode(encode(payload)) == payload


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"short", "truncated"),
        (b"X" * 16 + struct.pack(">I", FORMAT_VERSION) + b"\0" * 32, "not a trackguard"),
        (_header(MAGIC, 99, b"x"), "format 99"),
        (MAGIC + struct.pack(">I", FORMAT_VERSION) + b"\0" * 32 + b"body", "checksum"),
    ],
)
def test_decode_messages(data: bytes, message: str) -> None:
    with pytest.raises(CacheError, match=message):
        decode(data)


def test_save_bytes_cleans_up_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("trackguard.files.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store_module.save_bytes(tmp_path / "engine.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_warm_does_the_first_decisions_work_up_front(built: Engine, tmp_path: Path) -> None:
    """`warm` (what the proxy calls before serving) leaves the PSL parsed and the rule
    texts' offsets made; decisions and explanations are unchanged."""
    from trackguard import domain

    path = tmp_path / "engine.bin"
    built.save(path)
    engine = Engine.load(path)
    assert engine._matcher.rules._starts is None  # nothing decided yet
    assert engine.warm() is engine
    assert engine._matcher.rules._starts is not None
    assert domain._psl.cache_info().currsize == 1
    for url, page, type_name, *_ in REQUESTS:
        assert engine.check(url, page, type_name) == built.check(url, page, type_name)
