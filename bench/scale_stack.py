"""The fleet the scale benchmark runs: many targets, real services, counted work.

See ``bench/bench_scale.py`` for what is measured and why.
"""

from __future__ import annotations

import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import redis
import yaml
from celery import Celery
from tests.support.control_plane import ControlPlaneProcess
from tests.support.github_fake import GitHubFake
from tests.support.servers import RedisServer, UvicornThread, wait_for

from bench.rows import row
from leviathan_core.constants import BACKLOG_PATH, QUEUE_SCHEDULER, TASK_SELECT_CYCLE
from leviathan_core.target_files import TargetFiles, fingerprint
from leviathan_scheduler.cron import tick_offset

TOKEN = "bench-scale-token"
GITHUB_TOKEN = "ghp_bench_scale_token"
BIN = Path(sys.executable).parent
BACKLOG = (
    b"tasks:\n  - id: later\n    title: Not yet\n    ready: false\n    allowed_paths: [docs/]\n"
)
CONCURRENCY = 32
TICKS = re.compile(rb"Sending due task select-cycle:")


def target_file(name: str, api_url: str, cp_url: str) -> dict[str, Any]:
    return {
        "target_id": name,
        "target_repo_url": f"https://github.com/fleet/{name}",
        "forge": "github",
        "github_api_url": api_url,
        "control_plane_url": cp_url,
        "reconcile_interval_seconds": 300,
        "executor": "local",
    }


def write_fleet(directory: Path, n: int, api_url: str, cp_url: str) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"t{i:05d}" for i in range(n)]
    for name in names:
        text = yaml.safe_dump(target_file(name, api_url, cp_url))
        (directory / f"{name}.yaml").write_text(text)
    old = time.time() - 10  # older than target_files' racy window
    for name in names:
        os.utime(directory / f"{name}.yaml", (old, old))
    return names


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Round:
    cycles: int
    seconds: float
    github_per_cycle: float
    github_counted_per_cycle: float
    redis_per_cycle: float
    cp_per_cycle: float
    worker_cpu_ms: float
    cp_cpu_ms: float
    worker_peak_mb: float
    cp_peak_mb: float
    redis_peak_mb: float
    cores_busy: float  # CPU seconds of every process per wall second


class ScaleStack:
    """redis-server, the control plane, the GitHub fake, N targets and P worker processes."""

    def __init__(self, root: Path, n: int, latency: float, *, processes: int) -> None:
        self.root, self.n, self.processes = root, n, processes
        self.fake = GitHubFake(strict=False)
        self.fake.latency = latency
        # GitHub gives a token 5,000 counted requests an hour (an App installation up to
        # 12,500): warming 10,000 targets (2 each) takes hours on one token, and the
        # hold then skips every cycle. The steady state is what is measured here; the
        # warm-up's cost is reported per target.
        self.fake.rate_limit = self.fake.rate_remaining = 10**9
        self.redis = RedisServer(root / "redis")
        self.cp = ControlPlaneProcess(root / "cp", token=TOKEN)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []

    def __enter__(self) -> ScaleStack:
        self.root.mkdir(parents=True, exist_ok=True)
        self.redis.start()
        self.api = UvicornThread(self.fake.app).__enter__()
        self.cp.start()
        self.names = write_fleet(self.root / "targets", self.n, self.api.url, self.cp.url)
        for name in self.names:
            self.fake.put_file(f"fleet/{name}", "main", BACKLOG_PATH, BACKLOG)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIATHAN_")} | {
            "LEVIATHAN_CONFIG": str(self.root / "targets"),
            "LEVIATHAN_REDIS_URL": self.redis.url,
            "LEVIATHAN_CONTROL_PLANE_URL": self.cp.url,
            "LEVIATHAN_CONTROL_PLANE_TOKEN": TOKEN,
            "LEVIATHAN_DATA_DIR": str(self.root / "data"),
            "LEVIATHAN_CACHE_DIR": str(self.root / "cache"),
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "PYTHONUNBUFFERED": "1",
        }
        for i in range(self.processes):
            log = (self.root / f"worker-{i}.log").open("wb")
            argv = [
                str(BIN / "celery"),
                "-A",
                "leviathan_scheduler.celery_app",
                "worker",
                "-Q",
                QUEUE_SCHEDULER,
                "--pool",
                "threads",
                "--concurrency",
                str(CONCURRENCY),
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
                "-n",
                f"scale{i}@%h",
            ]
            self.workers.append(
                subprocess.Popen(argv, env=env, cwd=self.root, stdout=log, stderr=log)
            )
        self.sender = Celery(broker=self.redis.url)
        self.db = self.root / "cp" / "control-plane.db"
        self._wait_workers()
        return self

    def _wait_workers(self) -> None:
        """Two warm-up ticks per process: every worker consumes and decides before timing."""
        before = self.decided()
        for name in self.names[: self.processes * 2]:
            self.send(name)
        wait_for(lambda: self.decided() >= before + self.processes * 2, "workers", timeout=180)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.cp.stop()
        self.api.__exit__(None, None, None)
        self.redis.stop()

    # ---- readings -----------------------------------------------------------------
    def send(self, target: str) -> None:
        self.sender.send_task(TASK_SELECT_CYCLE, args=[target], queue=QUEUE_SCHEDULER)

    def decided(self) -> int:
        if not self.db.exists():
            return 0
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            found = conn.execute("SELECT count(*) FROM events WHERE type = 'scheduler.cycle'")
            return int(found.fetchone()[0])

    def _counts(self) -> dict[str, float]:
        info = redis.Redis.from_url(self.redis.url).info("commandstats")
        metrics = httpx.get(f"{self.cp.url}/metrics", timeout=10).text
        cp_requests = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("leviathan_http_request_duration_seconds_count")
        )
        assert self.cp.proc is not None
        return {
            "github": len(self.fake.requests),
            "counted": sum(1 for r in self.fake.requests if r.counted),
            "redis": sum(v["calls"] for v in info.values()),
            "cp": cp_requests,
            "worker_cpu": sum(cpu_seconds(w.pid) for w in self.workers),
            "cp_cpu": cpu_seconds(self.cp.proc.pid),
            # This process serves the GitHub fake and sends the ticks.
            "all_cpu": sum(cpu_seconds(w.pid) for w in self.workers)
            + cpu_seconds(self.cp.proc.pid)
            + (cpu_seconds(self.redis.proc.pid) if self.redis.proc else 0.0)
            + time.process_time(),
        }

    def unavailable_since(self, row_id: int) -> int:
        """Decisions after ``row_id`` that stopped on an unreadable fact (must be none)."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            found = conn.execute(
                "SELECT count(*) FROM events WHERE type = 'scheduler.cycle' AND id > ? "
                "AND body LIKE '%fact_unavailable%'",
                (row_id,),
            )
            return int(found.fetchone()[0])

    def last_row(self) -> int:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            return int(conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    def round(self) -> Round:
        """One tick per target at once; the wall time until every one decided.

        A round in which any cycle stopped on an unreadable fact measured no real
        decision (a held token skips GitHub altogether): it raises instead.
        """
        before, decided, row = self._counts(), self.decided(), self.last_row()
        started = time.perf_counter()
        for name in self.names:
            self.send(name)
        wait_for(lambda: self.decided() >= decided + self.n, "a round", timeout=3600)
        seconds = time.perf_counter() - started
        after = self._counts()
        if (skipped := self.unavailable_since(row)) > 0:
            raise RuntimeError(f"{skipped} cycles stopped on an unreadable fact: not measured")
        assert self.cp.proc is not None
        per = {k: (after[k] - before[k]) / self.n for k in after}
        return Round(
            cycles=self.n,
            seconds=seconds,
            github_per_cycle=per["github"],
            github_counted_per_cycle=per["counted"],
            redis_per_cycle=per["redis"],
            cp_per_cycle=per["cp"],
            worker_cpu_ms=per["worker_cpu"] * 1000,
            cp_cpu_ms=per["cp_cpu"] * 1000,
            worker_peak_mb=max(peak_mib(w.pid) for w in self.workers),
            cp_peak_mb=peak_mib(self.cp.proc.pid),
            redis_peak_mb=peak_mib(self.redis.proc.pid) if self.redis.proc else 0.0,
            cores_busy=(after["all_cpu"] - before["all_cpu"]) / seconds,
        )

    def paced(self, window: float, seconds: float) -> tuple[float, float]:
        """Ticks at the fleet's rate in tick-offset order; (p50, p99) tick to decision, ms."""
        order = sorted(self.names, key=lambda t: tick_offset(t, "*/5 * * * *", window))
        count = min(len(order), int(len(order) / window * seconds))
        sent: dict[str, datetime] = {}
        start = time.monotonic()
        decided = self.decided()
        for i, name in enumerate(order[:count]):
            delay = start + i * window / len(order) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[name] = datetime.now(UTC)
            self.send(name)
        wait_for(lambda: self.decided() >= decided + count, "the paced ticks", timeout=600)
        latencies = []
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            for target, at in sent.items():
                found = conn.execute(
                    "SELECT max(occurred_at) FROM events WHERE type = 'scheduler.cycle' "
                    "AND target_id = ?",
                    (target,),
                ).fetchone()[0]
                moment = datetime.fromisoformat(str(found))
                moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
                latencies.append((moment - at).total_seconds() * 1000)
        ordered = sorted(latencies)
        return statistics.median(ordered), ordered[
            min(len(ordered) - 1, round(0.99 * len(ordered)))
        ]


def beat_figures(root: Path, n: int) -> list[dict[str, Any]]:
    """Beat on ``n`` target files: reading them, following changes, CPU per tick sent."""
    directory = root / "targets"
    write_fleet(directory, n, "http://127.0.0.1:9", "http://127.0.0.1:9")
    started = time.perf_counter()
    files = TargetFiles(directory)
    files.scan()
    cold = time.perf_counter() - started
    started = time.perf_counter()
    fingerprint(directory)
    look = time.perf_counter() - started
    server = RedisServer(root / "redis")
    server.start()
    log = root / "beat.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIATHAN_")} | {
        "LEVIATHAN_CONFIG": str(directory),
        "LEVIATHAN_REDIS_URL": server.url,
        "LEVIATHAN_BEAT_RELOAD_SECONDS": "2",
        "LEVIATHAN_DATA_DIR": str(root / "data"),
        "PYTHONUNBUFFERED": "1",
    }
    argv = [str(BIN / "celery"), "-A", "leviathan_scheduler.celery_app", "beat"]
    argv += ["--loglevel=INFO", "-s", str(root / "beat-schedule"), "--pidfile="]
    with log.open("wb") as out:
        beat = subprocess.Popen(argv, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: b"beat: Starting" in log.read_bytes(), "beat", timeout=300)
        wait_for(lambda: TICKS.search(log.read_bytes()) is not None, "a first tick", timeout=400)
        cpu0, ticks0, t0 = cpu_seconds(beat.pid), len(TICKS.findall(log.read_bytes())), time.time()
        time.sleep(20)
        cpu1, ticks1 = cpu_seconds(beat.pid), len(TICKS.findall(log.read_bytes()))
        sent = max(ticks1 - ticks0, 1)
        rate = sent / (time.time() - t0)
        added_at = time.perf_counter()
        (directory / "zz-new.yaml").write_text(
            yaml.safe_dump(target_file("zz-new", "http://127.0.0.1:9", "http://127.0.0.1:9"))
        )
        wait_for(lambda: b"added select-cycle:zz-new" in log.read_bytes(), "added", timeout=120)
        added = time.perf_counter() - added_at
        removed_at = time.perf_counter()
        (directory / "zz-new.yaml").unlink()
        wait_for(lambda: b"removed select-cycle:zz-new" in log.read_bytes(), "removed", timeout=120)
        removed = time.perf_counter() - removed_at
        peak = peak_mib(beat.pid)
    finally:
        beat.terminate()
        beat.wait(30)
        server.stop()
    return [
        row(f"read {n} target files, cold", cold * 1000, "ms"),
        row(f"look for changes in {n} target files (stat only)", look * 1000, "ms"),
        row(f"beat: select-cycle ticks sent per second, {n} targets", rate, "tick/s"),
        row(
            f"beat: CPU per tick sent, {n} targets (a look every 2 s included)",
            (cpu1 - cpu0) / sent * 1000,
            "ms",
        ),
        row(f"beat: an added file ticks after, {n} files", added, "s", 5.0),
        row(f"beat: a removed file stops after, {n} files", removed, "s", 5.0),
        row(f"beat: peak RSS, {n} targets", peak, "MiB"),
    ]
