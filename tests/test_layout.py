"""The conventions' "small check that flags modules without a test file".

`tests/` mirrors the package: `src/trackguard/<path>/<name>.py` is tested by
`tests/<path>/test_<name>.py`. Package `__init__.py` and `__main__.py` files are exempt
(their code is tested through the modules and commands they expose).

Two escapes, both explicit:

* `tests/<path>/test_<package>_<name>.py` (e.g. `tests/engine/test_engine_store.py`) when
  `test_<name>.py` would share its basename with another test module: pytest's default
  import mode imports test modules by basename, so two `test_store.py` files break
  collection of the whole suite. The last test here keeps basenames unique.
* `COVERED_ELSEWHERE` below, for a module deliberately tested by another module's test
  file. Each entry says why; an entry goes stale (and fails) once the module gets a test
  file of its own, or when its module or test file disappears.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "src" / "trackguard"
TESTS = REPO / "tests"
EXEMPT_NAMES = {"__init__.py", "__main__.py"}

#: module (relative to src/trackguard) -> the test file that covers it, and why.
COVERED_ELSEWHERE: dict[str, tuple[str, str]] = {
    # The compiler's only public product is the index the matcher walks; its behaviour is
    # pinned end to end by the engine tests and, path by path, by the matcher tests (every
    # lookup path a compiled filter can land on must agree with the filter alone).
    "engine/compiler.py": (
        "tests/engine/test_matcher.py",
        "builder output is only observable through matching",
    ),
}


def _modules() -> list[str]:
    return sorted(
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.name not in EXEMPT_NAMES and "__pycache__" not in p.parts
    )


def _candidates(module: str) -> list[Path]:
    path = Path(module)
    folder = TESTS / path.parent
    names = [f"test_{path.stem}.py"]
    if path.parent != Path("."):
        names.append(f"test_{path.parent.name}_{path.stem}.py")
    return [folder / name for name in names]


def _own_test_file(module: str) -> Path | None:
    return next((p for p in _candidates(module) if p.is_file()), None)


MODULES = _modules()


def test_the_package_is_where_expected() -> None:
    assert {"model.py", "domain.py", "lists/abp.py", "engine/matcher.py"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_a_test_file(module: str) -> None:
    if module in COVERED_ELSEWHERE:
        test_file, reason = COVERED_ELSEWHERE[module]
        assert (REPO / test_file).is_file(), f"{module}: allow-listed test file {test_file} is gone"
        assert reason
        return
    expected = " or ".join(str(p.relative_to(REPO)) for p in _candidates(module))
    assert _own_test_file(module) is not None, f"src/trackguard/{module} has no {expected}"


@pytest.mark.parametrize("module", sorted(COVERED_ELSEWHERE))
def test_allow_list_entries_are_not_stale(module: str) -> None:
    assert module in MODULES, f"COVERED_ELSEWHERE names {module}, which no longer exists"
    own = _own_test_file(module)
    assert own is None, f"{module} now has {own.relative_to(REPO)}: drop it from COVERED_ELSEWHERE"


def test_test_module_basenames_are_unique() -> None:
    """pytest's default ("prepend") import mode imports test modules by basename."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if "__pycache__" not in path.parts:
            by_name[path.name].append(path.relative_to(REPO).as_posix())
    clashes = {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1}
    assert clashes == {}, "rename one of each pair to test_<package>_<name>.py"
