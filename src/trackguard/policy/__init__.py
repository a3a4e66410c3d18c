"""The decision layer around the engine: pure, shared by the proxy, `check` and what comes.

Read in this order:

- `attribution.py`: who the first party of a request is (navigations, Origin, Referer,
  frames). Values in, values out; the transports feed it, it never reads a socket.
- `classify.py`: what kind of request it is (type, navigation, initiator) from its
  headers and URL.
- `signals.py`: which DNT / Sec-GPC headers a request carries (privacy-signals spec §C).
- `decide.py`: the evaluation order of TPL spec §A.8 (overrides, switches, lists) and the
  one place that turns a verdict into words.

Nothing here does I/O, parses lists, or imports `proxy`, `cli` or `web`: the proxy, the
command line, the learner, the auditor and the dashboard all call down into it.
"""
