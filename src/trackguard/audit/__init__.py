"""The auditor: who tracks whom, from HAR files and request logs (docs/audit.md).

Read in this order:

- `tally.py`: rows in, engine decisions, counts out; `Tally.merge` is commutative, which is
  what lets partitions run anywhere. No I/O. `figures.py` is its data model, `facts.py`
  the per-origin and per-page facts and row flags both of its paths share, `plain.py`
  its column-wise path for log rows (it must count exactly as the general path).
- `entities.py`: companies and categories from Disconnect / DuckDuckGo data (parse is pure,
  `load_entities` is the file edge).
- `report.py`: a `Tally` to plain report data (the JSON contract). No I/O, no engine.
- `render.py`: report data to JSON, CSV and self-contained HTML. No I/O.
- `readers.py`: the input edge (HAR via `trackguard.har`, JSONL, CSV, Parquet): reads one
  `Part` of a file, streamed; bad rows and broken files are recorded, not raised.
- `plan.py`: cuts inputs into parts from sizes and metadata only (no rows read).
- `run.py` (one process) and `distributed.py` (Dask): read planned parts where they are
  classified, classify, reduce.

Nothing here decides what to block: that is the engine's job; nothing here writes files:
that is the CLI's (`trackguard.cli.audit`).
"""
