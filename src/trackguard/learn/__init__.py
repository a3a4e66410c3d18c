"""The learner: a personalized list from the user's own traffic (learning.md part B).

Read in this order:

- `model.py`: observations, evidence, decisions, config. Values only.
- `detect.py`: the evidence detectors of §B4 and the entropy estimator. Pure; bounded.
- `keys.py`: tracker and site keys, the entity map, what is never learned (§B5). Pure.
- `core.py`: `Learner.observe`, the counting state, `decide`, the gates of §B9 and
  `enforced` (what `auto` applies). Pure: no clock, no SQLite, no network.
- `feed.py`: HTTP exchanges to observations, with the only per-page memory adapters may
  keep (page cookie values for 30 minutes, partitioned cookie names). Memory only.
- `store.py`: the SQLite tables of §B10, the key file, the policy store (verdicts).
- `dnt.py`: the DNT-policy check of §B7.4 (HTTPS fetch on a thread, SHA-1 against the
  EFF policy hashes). The only network I/O here; the core gets its results as values.
- `service.py`: the door for adapters (proxy, HAR import, CLI): settings, context, flush.

Nothing here attributes requests (the adapters do, §B2), imports `proxy` or `cli`, or
keeps a site name, URL or cookie value beyond one observation.
"""
