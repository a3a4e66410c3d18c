"""HAR 1.2 files: the one streaming reader, shared by the auditor and the learner.

Read in this order:

- `reader.py`: the streaming reader (`read_har`, `read_har_pages`) and the frozen values it
  yields (`HarPage`, `HarEntry`); caps on hostile input (`HarLimits`). No classification.
- `request_types.py`: `entry_type`, the Adblock Plus request type of an entry, in the
  corpus request log's documented order. Pure.

`trackguard.har` re-exports both, so callers import from here. Nothing in this package
decides first/third party or blocking: that is the engine's and `policy/`'s job.
"""

from trackguard.har.reader import (
    HarCookie,
    HarEntry,
    HarError,
    HarLimits,
    HarPage,
    HarStats,
    read_har,
    read_har_pages,
)
from trackguard.har.request_types import entry_type

__all__ = [
    "HarCookie",
    "HarEntry",
    "HarError",
    "HarLimits",
    "HarPage",
    "HarStats",
    "entry_type",
    "read_har",
    "read_har_pages",
]
