"""The auditor on Dask: real `dask scheduler` / `dask worker` processes on loopback.

The cluster must give exactly the single-process figures, also when a worker dies in the
middle of an audit (its tasks are re-run elsewhere; nothing is lost or counted twice).
Workers read their parts themselves; one that cannot open a path fails the audit clearly.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from har_samples import news_har
from trackguard.audit.distributed import DaskUnavailable, audit_on_dask
from trackguard.audit.plan import plan_inputs
from trackguard.audit.readers import InputUnreachable, Part, read_rows
from trackguard.audit.render import render_json
from trackguard.audit.report import build_report
from trackguard.audit.run import audit_rows, audit_tasks
from trackguard.engine import Engine

pytest.importorskip("dask.distributed")

DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []

    def _spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        handle = open(self.workdir / log, "wb")  # noqa: SIM115 - closed in stop()
        self.logs.append(handle)
        return subprocess.Popen(
            [str(DASK), *args], stdout=handle, stderr=subprocess.STDOUT, cwd=self.workdir
        )

    def start(self, workers: int = 2) -> None:
        scheduler = ["scheduler", "--host", "127.0.0.1", "--port", str(self.port)]
        self.scheduler = self._spawn(*scheduler, "--no-dashboard", log="scheduler.log")
        worker = ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny"]
        for i in range(workers):
            self.workers.append(
                self._spawn(*worker, "--no-dashboard", "--name", f"w{i}", log=f"worker{i}.log")
            )
        from dask.distributed import Client

        deadline = time.monotonic() + 180
        while True:
            try:
                with Client(self.address, timeout=10) as client:
                    client.wait_for_workers(workers, timeout=170)
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            if proc is not None:
                try:
                    # A dask worker's graceful shutdown can wait out its own 30 s timeouts
                    # on a scheduler that is going away; these processes keep nothing.
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for handle in self.logs:
            handle.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def corpus_engine(corpus_dir: Path) -> Engine:
    lists = corpus_dir / "lists"
    return Engine.from_files([lists / "easylist.txt", lists / "easyprivacy.txt"])


def _log(corpus_dir: Path) -> Path:
    return corpus_dir / "requests" / "real-requests.jsonl.gz"


def _cli(*args: str | Path, home: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "trackguard", "audit", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "TRACKGUARD_HOME": str(home)},
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_dask_cli_gives_exactly_the_single_process_report(
    tmp_path: Path, corpus_dir: Path, corpus_engine: Engine, cluster: Cluster
) -> None:
    lists = corpus_dir / "lists"
    entities = corpus_dir / "other" / "duckduckgo-tds-extension-v6.json"
    common: list[str | Path] = [
        _log(corpus_dir),
        "--list", lists / "easylist.txt", "--list", lists / "easyprivacy.txt",
        "--entities", entities, "--json", "--partition-rows", "4000",
    ]  # fmt: skip
    single = _cli(*common, home=tmp_path)
    on_cluster = _cli(*common, "--dask", cluster.address, home=tmp_path)
    assert json.loads(single)["summary"]["requests"] == 64_295
    assert on_cluster == single
    # The same log, plain: cut into byte ranges that the workers read by themselves.
    plain = tmp_path / "real-requests.jsonl"
    with gzip.open(_log(corpus_dir), "rb") as packed:
        plain.write_bytes(packed.read())
    assert len(plan_inputs([plain], 4000)) >= 10
    assert _cli(plain, *common[1:], "--dask", cluster.address, home=tmp_path) == single
    # A caller's own default client on that scheduler is used as it is and left open
    # (a second client beside it got every result late).
    from dask.distributed import Client

    tasks = plan_inputs([plain], 4000)[:2]
    used: list[Any] = []
    with Client(cluster.address, timeout=30) as own:
        tally = audit_on_dask(
            tasks, corpus_engine.to_bytes(), address=cluster.address, on_client=used.append
        )
        assert used == [own] and own.status == "running"
        assert own.submit(sum, [1, 2]).result() == 3  # still usable
    assert render_json(build_report(tally)) == render_json(
        build_report(audit_tasks(tasks, corpus_engine))
    )
    # Any other failure on the cluster is named, not a traceback (here: a malformed task).
    with pytest.raises(DaskUnavailable, match="the Dask cluster failed: AttributeError"):
        audit_on_dask([("not a part",)], corpus_engine.to_bytes(), address=cluster.address)  # type: ignore[list-item]
    # A path the workers cannot open fails the audit and says why.
    missing = Part(str(tmp_path / "gone.jsonl"), "jsonl", "bytes", 0, -1)
    with pytest.raises(InputUnreachable, match=r"gone\.jsonl: cannot open.*visible to the workers"):
        audit_on_dask(
            [(missing,)], Engine.from_text("||x.test^").to_bytes(), address=cluster.address
        )


@pytest.mark.slow
def test_killing_a_worker_mid_audit_keeps_the_figures_exact(
    corpus_dir: Path, corpus_engine: Engine, cluster: Cluster
) -> None:
    expected = render_json(build_report(audit_rows(read_rows([_log(corpus_dir)]), corpus_engine)))
    victim = cluster.workers[1]
    progress: list[int] = []
    workers_seen: list[int] = []

    def on_progress(rows: int) -> None:
        progress.append(rows)
        if len(progress) == 1:
            victim.kill()  # SIGKILL: no goodbye to the scheduler
            victim.wait(timeout=30)

    def on_client(client: Any) -> None:
        workers_seen.append(len(client.scheduler_info()["workers"]))

    tasks = plan_inputs([_log(corpus_dir)], 2000)
    tally = audit_on_dask(
        tasks,
        corpus_engine.to_bytes(),
        address=cluster.address,
        partition_rows=2000,
        progress=on_progress,
        on_client=on_client,
    )
    assert workers_seen == [2]
    assert victim.returncode is not None  # it really died mid-audit
    assert len(progress) == len(tasks) == 32 and sum(progress) == 64_295
    assert render_json(build_report(tally)) == expected


def test_local_cluster_from_the_cli(tmp_path: Path) -> None:
    hars = tmp_path / "hars"
    hars.mkdir()
    for i in range(3):
        news_har(hars / f"n{i}.har")
    lists = tmp_path / "l.txt"
    from har_samples import LIST_TEXT

    lists.write_text(LIST_TEXT)
    args: list[str | Path] = [hars, "--list", lists, "--json", "--partition-rows", "100"]
    single = _cli(*args, home=tmp_path)
    local = _cli(*args, "--workers", "2", home=tmp_path)
    assert local == single
    assert json.loads(local)["summary"]["requests"] == 24
