"""Work-bounded checks: count the Python steps a call takes instead of timing it.

Unit tests must not assert on wall-clock time (the machine may be busy; speed belongs in
`benchmarks/`). What hostile-input tests really guard is that work does not grow with the
attacker's input: a host of 120 labels must not cost 120² steps. `python_steps` counts
the line and call events the interpreter reports while a call runs (its own code and all
it calls), which is deterministic for a given code base and input, so a budget on it
fails on the same commit on every machine. C code (RE2, `str` methods) is not counted:
those are linear by construction, and a budget on peak memory (`peak_bytes`) covers
what they allocate.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable
from types import FrameType
from typing import Any


def python_steps(fn: Callable[[], Any]) -> int:
    """Interpreter line/call events while `fn()` runs (any tracer in use is restored)."""
    count = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        count += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes newly allocated (traced by `tracemalloc`) while `fn()` runs."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()
