"""Imports point one way: model/domain -> lists -> engine -> policy -> learn/export/audit
-> proxy -> cli/web (conventions, "Package layout"; issue 8).

Every module's imports are read from its source, lazy ones inside functions and
`TYPE_CHECKING` blocks included (a lazy upward import is still an upward dependency), and
each import of another trackguard module is checked against the floors below. Inside
`proxy/` the modules also keep the reading order of `proxy/__init__.py`: each imports only
modules listed before it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "trackguard"

#: Floor of each top-level module or package. A module may import its own package and
#: anything on a lower floor; a package on the same floor only where `PEERS` says so. The
#: small shared modules of floor 0 may import each other (Python refuses cycles).
FLOORS: dict[str, int] = {
    # shared values and helpers that know no other part
    "__init__": 0,
    "model": 0,
    "domain": 0,
    "files": 0,
    "settings": 0,
    "sqlite": 0,
    "har": 0,
    "lists": 1,
    "engine": 2,
    "subscriptions": 3,  # lists downloaded, stored and built into an engine
    "policy": 3,
    "learn": 4,
    "export": 4,
    "audit": 4,
    "dnsserver": 4,  # the DNS forwarder: policy below it; the proxy's --resolver above it
    "proxy": 5,
    "cli": 6,
    "web": 6,
    "__main__": 7,
}
#: Same-floor imports that are allowed, (importer, imported).
PEERS: set[tuple[str, str]] = {
    ("cli", "web"),  # `trackguard proxy` builds the dashboard and hands it to the proxy
}

#: `proxy/__init__.py`'s reading order (listed modules may import only earlier ones).
PROXY_ORDER = [
    "http1",
    "fastpath",
    "framing",
    "responses",
    "pac",
    "log",
    "exchange",
    "resolve",
    "pool",
    "connection",
    "streamconn",
    "fastconn",
    "listen",
    "server",
    "workers",
    "service",
    "intercept",
    "mitm_addon",
]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(["trackguard", *parts])


def _imports(path: Path, name: str | None = None) -> set[str]:
    """Every trackguard module `path` (module `name`) imports, at any depth of its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    name = name or _name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # `from trackguard import sqlite` names a module, not an attribute.
            found.update(
                f"{module}.{alias.name}"
                for alias in node.names
                if (PACKAGE.parent / module.replace(".", "/") / f"{alias.name}.py").exists()
                or (PACKAGE.parent / module.replace(".", "/") / alias.name).is_dir()
            )
    return {m for m in found if m == "trackguard" or m.startswith("trackguard.")}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = _modules()


def test_every_top_level_part_has_a_floor() -> None:
    tops = {_top(_name(p)) for p in MODULES}
    assert tops - set(FLOORS) == set(), "give the new part a floor in FLOORS"


def _upward(path: Path, name: str) -> list[str]:
    here = _top(name)
    wrong = []
    for module in sorted(_imports(path, name)):
        there = _top(module)
        if there == here or FLOORS[there] == FLOORS[here] == 0:
            continue
        if FLOORS[there] > FLOORS[here] or (
            FLOORS[there] == FLOORS[here] and (here, there) not in PEERS
        ):
            wrong.append(f"{module} (floor {FLOORS[there]} {there!r})")
    return wrong


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p))
def test_no_upward_import(path: Path) -> None:
    name = _name(path)
    floor = FLOORS[_top(name)]
    assert _upward(path, name) == [], f"{name} (floor {floor}) imports upward"


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("learn", "proxy"),
        ("learn", "cli"),
        ("learn", "web"),
        ("export", "proxy"),
        ("export", "cli"),
        ("export", "web"),
        ("audit", "proxy"),
        ("audit", "cli"),
        ("audit", "web"),
        ("policy", "proxy"),
        ("engine", "subscriptions"),
        ("lists", "engine"),
    ],
)
def test_the_issues_rules_follow_from_the_floors(importer: str, imported: str) -> None:
    """The rules issue 8 names, spelled out, so a change of FLOORS cannot drop one."""
    assert FLOORS[imported] > FLOORS[importer] or (
        FLOORS[imported] == FLOORS[importer] and (importer, imported) not in PEERS
    )


def test_proxy_modules_import_only_modules_read_before_them() -> None:
    proxy = PACKAGE / "proxy"
    listed = {p.stem for p in proxy.glob("*.py") if p.stem != "__init__"}
    assert listed == set(PROXY_ORDER), "keep PROXY_ORDER and proxy/__init__.py in step"
    guide = (proxy / "__init__.py").read_text(encoding="utf-8")
    positions = [guide.index(f"`{name}.py`") for name in PROXY_ORDER]
    assert positions == sorted(positions), "proxy/__init__.py lists modules in another order"
    wrong = []
    for index, name in enumerate(PROXY_ORDER):
        for module in _imports(proxy / f"{name}.py"):
            if module.startswith("trackguard.proxy."):
                other = module.split(".")[2]
                if other in PROXY_ORDER and PROXY_ORDER.index(other) >= index:
                    wrong.append(f"{name} imports {other}")
    assert wrong == []


def test_the_checker_sees_lazy_relative_and_module_imports(tmp_path: Path) -> None:
    """The reader itself: an upward import hidden in a function is still found."""
    found = _imports(PACKAGE / "policy" / "decide.py")
    assert "trackguard.policy.attribution" in found and "trackguard.model" in found
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "from trackguard import sqlite\n"
        "from . import decide\n"
        "if TYPE_CHECKING:\n    from trackguard.engine import Engine\n"
        "def later():\n    from trackguard.proxy.server import ProxyServer\n"
    )
    name = "trackguard.policy.probe"
    assert _imports(probe, name) >= {
        "trackguard.sqlite",
        "trackguard.policy.decide",
        "trackguard.engine",
        "trackguard.proxy.server",
    }
    assert _upward(probe, name) == ["trackguard.proxy.server (floor 5 'proxy')"]
