"""`trackguard learn from-har`: folders, progress-free JSON, errors and exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "learn"))
from learn_hars import write_visits
from test_learn import ok, run


def test_from_har_reads_a_folder_and_reports_bad_files(tmp_path: Path) -> None:
    folder = tmp_path / "hars"
    (folder / "sub").mkdir(parents=True)
    write_visits(folder / "a.har", ["a.example", "b.example"], [0])
    write_visits(folder / "sub" / "b.har", ["c.example"], [0])
    (folder / "broken.har").write_text("{not json")
    done = run(tmp_path / "home", "learn", "from-har", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["files"] == 3 and len(report["failed"]) == 1
    assert report["at_threshold"] == 1
    only_bad = run(tmp_path / "home", "learn", "from-har", str(folder / "broken.har"))
    assert only_bad.returncode == 1 and "broken.har" in only_bad.stderr


def test_from_har_refuses_when_learning_is_off(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(home, "learn", "mode", "off")
    har = write_visits(tmp_path / "a.har", ["a.example"], [0])
    done = run(home, "learn", "from-har", str(har))
    assert done.returncode == 1 and "learning is off" in done.stderr
