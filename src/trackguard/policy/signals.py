"""DNT and GPC request headers: the pure header transformation of privacy-signals §C.

Input is the request's header fields in order (name, value) and which signals the user
switched on; output is the header list the proxy forwards. No I/O, no state: the proxy
calls this for every request it can see (plain HTTP, or HTTPS with interception). Through
an uninspected CONNECT tunnel nothing can be added (§C.2.3); the caller counts those.

The rules, each traceable to the spec:

- Which signals to add is the §C.3 table: `DNT: 1` when the DNT switch is on, or when the
  IE9-compatible switch is on *and* tracking protection is on; `Sec-GPC: 1` when the GPC
  switch is on.
- DNT (§C.1.5): add `DNT: 1` only when the request has no `DNT` field. A field the browser
  sent is never overwritten or removed (it is the closer expression of the user's choice),
  exactly one field is added, with no extension characters.
- GPC (§C.2.3): when on, every request leaves with a `Sec-GPC: 1`. Fields whose value is
  not exactly `1` are dropped, a field set to `1` is never removed (even a duplicate), and
  one `Sec-GPC: 1` is added when none is left. When the switch is off, `Sec-GPC` fields
  pass through untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Header = tuple[str, str]


@dataclass(frozen=True, slots=True)
class SignalPlan:
    """Which headers the proxy adds, decided once per settings change (§C.3)."""

    dnt: bool = False
    gpc: bool = False

    @property
    def active(self) -> bool:
        return self.dnt or self.gpc


def plan_signals(*, protection: bool, dnt: bool, ie9_dnt: bool, gpc: bool) -> SignalPlan:
    """The §C.3 table: which of `DNT: 1` and `Sec-GPC: 1` the proxy adds."""
    return SignalPlan(dnt=dnt or (ie9_dnt and protection), gpc=gpc)


def apply_signals(headers: Sequence[Header], plan: SignalPlan) -> list[Header]:
    """Return the forwarded header list for `headers` under `plan` (§C.1.5, §C.2.3, §C.4).

    Field names compare case-insensitively; values compare after trimming the optional
    whitespace HTTP allows around a field value (RFC 9110 §5.5), so `Sec-GPC:  1 ` counts
    as `1`. Order of the other fields is kept; added fields go last.
    """
    out = list(headers)
    if not plan.active:
        return out
    if plan.gpc:
        kept = [h for h in out if h[0].lower() != "sec-gpc" or h[1].strip(" \t") == "1"]
        if not any(name.lower() == "sec-gpc" for name, _ in kept):
            kept.append(("Sec-GPC", "1"))
        out = kept
    if plan.dnt and not any(name.lower() == "dnt" for name, _ in out):
        out.append(("DNT", "1"))
    return out
