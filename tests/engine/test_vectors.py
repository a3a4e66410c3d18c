"""Conformance: every expected-outcome vector of the shared corpus against the engine.

The vectors (`<corpus>/vectors/`, format in the corpus README) come from the test suites
of three other engines: 19,262 cases, each a filter set, a request and an expectation.

* Filter level (`match` / `no-match`, exactly one filter): does this filter apply? The
  engine built from that filter alone is asked `matching_rules(...)`, which lists block
  rules and exceptions alike, so an exception is judged on its own. As a consistency
  check, a block filter that applies must also make `check(...)` block (unless the
  engine parses it as a rule that never blocks, such as `$removeparam` or `$csp`).
* List level (`block` / `allow`): the engine built from all filters, `check(...).blocked`.

Known, deliberate divergences live in `vector_divergences.json` (case id -> reason). The
suite fails on a failing case that is not listed, on a listed case that now passes (stale
entry) and when the list grows past 1 % of the cases. Engine bugs are not divergences.

Run `python tests/engine/test_vectors.py` to print every failing case as JSON lines.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from trackguard.engine import Engine
from trackguard.model import ListRejected

VECTOR_FILES = ("unit-vectors.jsonl", "request-vectors.jsonl.gz")
TOTAL_CASES = 19_262  # corpus vectors/summary.json "total"
#: What an engine without rules answers, per expectation family.
_NOTHING = {"match": "no-match", "no-match": "no-match", "block": "allow", "allow": "allow"}
DIVERGENCES_PATH = Path(__file__).with_name("vector_divergences.json")
MAX_DIVERGENCE_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class Vector:
    id: str
    suite: str
    syntax: str  # "abp" or "hosts"
    filters: tuple[str, ...]
    url: str
    source_url: str | None
    type: str | None
    expect: str  # match / no-match / block / allow
    options: tuple[str, ...]

    @property
    def filter_level(self) -> bool:
        return self.expect in ("match", "no-match")


@dataclass(frozen=True, slots=True)
class Outcome:
    vector: Vector
    got: str  # same vocabulary as `expect`, or "error: ..."
    rule: str | None  # text of the rule that decided, if any

    @property
    def passed(self) -> bool:
        return self.got == self.vector.expect


def read_vectors(corpus: Path) -> list[Vector]:
    def lines(path: Path) -> Iterator[str]:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            yield from handle

    vectors = []
    for name in VECTOR_FILES:
        for line in lines(corpus / "vectors" / name):
            record = json.loads(line)
            vectors.append(
                Vector(
                    id=record["id"],
                    suite=record["suite"],
                    syntax=record["syntax"],
                    filters=tuple(record["filters"]),
                    url=record["url"],
                    source_url=record["source_url"],
                    type=record["type"],
                    expect=record["expect"],
                    options=tuple(record["options"]),
                )
            )
    return vectors


def _judge(engine: Engine, vector: Vector) -> tuple[str, str | None]:
    """The outcome in the vocabulary of `expect`, and the text of the deciding rule."""
    type_name = vector.type or "other"  # type-less cases exercise type-less filters
    if not vector.filter_level:
        decision = engine.check(vector.url, vector.source_url, type_name)
        return ("block" if decision.blocked else "allow"), decision.rule
    rules = engine.matching_rules(vector.url, vector.source_url, type_name)
    if not rules:
        return "no-match", None
    rule = rules[0]
    blocks = not rule.is_exception and rule.removeparam is None and not rule.not_applied
    if blocks and not engine.check(vector.url, vector.source_url, type_name).blocked:
        return "error: matching_rules lists a block rule but check() allows", rule.source.text
    return "match", rule.source.text


def evaluate(vectors: Iterable[Vector]) -> list[Outcome]:
    """Run every vector; one engine per distinct filter set, so 19k cases build ~7k engines."""
    groups: dict[tuple[str, tuple[str, ...]], list[Vector]] = defaultdict(list)
    for vector in vectors:
        groups[(vector.syntax, vector.filters)].append(vector)

    outcomes = []
    for (syntax, filters), members in groups.items():
        try:
            engine = Engine.from_text("\n".join(filters) + "\n", syntax, list_id="vector")
        except ListRejected:
            # No filter survived parsing: an empty engine, which matches nothing.
            outcomes += [Outcome(v, _NOTHING[v.expect], "<rejected>") for v in members]
            continue
        except Exception as error:  # an engine bug; reported per case, never fatal
            outcomes += [Outcome(v, f"error: build: {error!r}", None) for v in members]
            continue
        for vector in members:
            try:
                got, rule = _judge(engine, vector)
            except Exception as error:
                got, rule = f"error: check: {error!r}", None
            outcomes.append(Outcome(vector, got, rule))
    return outcomes


def read_divergences() -> dict[str, str]:
    with DIVERGENCES_PATH.open(encoding="utf-8") as handle:
        divergences: dict[str, str] = json.load(handle)
    return divergences


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def vectors(corpus_dir: Path) -> list[Vector]:
    return read_vectors(corpus_dir)


@pytest.fixture(scope="module")
def outcomes(vectors: list[Vector]) -> list[Outcome]:
    return evaluate(vectors)


@pytest.fixture(scope="module")
def divergences() -> dict[str, str]:
    return read_divergences()


def _short(text: str | None, limit: int = 100) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(outcomes: Iterable[Outcome], limit: int = 40) -> str:
    items = list(outcomes)
    lines = [
        f"{o.vector.id}: {[_short(f) for f in o.vector.filters]} {_short(o.vector.url)} "
        f"page={_short(o.vector.source_url)} type={o.vector.type}: "
        f"expected {o.vector.expect}, got {o.got} (rule {_short(o.rule)!r})"
        for o in items[:limit]
    ]
    if len(items) > limit:
        lines.append(f"... and {len(items) - limit} more")
    return "\n".join(lines)


def test_corpus_is_complete(vectors: list[Vector]) -> None:
    assert len(vectors) == TOTAL_CASES
    assert len({v.id for v in vectors}) == TOTAL_CASES
    assert all(len(v.filters) == 1 for v in vectors if v.filter_level)


def test_divergence_file_is_well_formed(vectors: list[Vector], divergences: dict[str, str]) -> None:
    known = {v.id for v in vectors}
    assert sorted(set(divergences) - known) == [], "divergences name unknown case ids"
    assert all(reason.strip() for reason in divergences.values()), "every entry needs a reason"


def test_divergences_stay_under_one_percent(divergences: dict[str, str]) -> None:
    budget = int(TOTAL_CASES * MAX_DIVERGENCE_SHARE)
    by_reason = Counter(divergences.values()).most_common()
    assert len(divergences) <= budget, f"{len(divergences)} divergences > {budget}: {by_reason}"


@pytest.mark.slow
def test_every_vector_passes_or_is_a_listed_divergence(
    outcomes: list[Outcome], divergences: dict[str, str]
) -> None:
    failing = [o for o in outcomes if not o.passed]
    unexpected = [o for o in failing if o.vector.id not in divergences]
    if unexpected:
        pytest.fail(f"{len(unexpected)} unexpected failures:\n{_describe(unexpected)}", False)


@pytest.mark.slow
def test_no_stale_divergences(outcomes: list[Outcome], divergences: dict[str, str]) -> None:
    stale = [o for o in outcomes if o.passed and o.vector.id in divergences]
    if stale:
        listed_in = DIVERGENCES_PATH.name
        pytest.fail(
            f"{len(stale)} listed cases now pass; remove them from {listed_in}:\n"
            + _describe(stale),
            False,
        )


def _print_failures() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from corpus_paths import corpus_path

    divergences = read_divergences() if DIVERGENCES_PATH.exists() else {}
    results = evaluate(read_vectors(corpus_path()))
    for o in results:
        if o.passed:
            continue
        v = o.vector
        record = {
            "id": v.id,
            "filters": list(v.filters),
            "url": v.url,
            "source_url": v.source_url,
            "type": v.type,
            "options": list(v.options),
            "expect": v.expect,
            "got": o.got,
            "rule": o.rule,
            "listed": divergences.get(v.id),
        }
        print(json.dumps(record, ensure_ascii=False))
    failed = sum(not o.passed for o in results)
    print(f"{len(results) - failed}/{len(results)} passed", file=sys.stderr)


if __name__ == "__main__":
    _print_failures()
