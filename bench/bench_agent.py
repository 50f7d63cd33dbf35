"""The agent engine's own cost: the loop's overhead per turn without the model's time,
its tools' time per call, and the start-up of one sandboxed run.

The loop is the agent program's own code (``leviathan_worker.agent.__main__.attempt``:
the official openai client, the tools, the state saved after every turn), run
in-process against the scripted OpenAI-compatible fake with no added latency,
for ``TURNS`` turns of ``read_file``, ``search`` and ``write_file`` calls on a
checkout of ``FILES`` source files. The fake times its own handling of every
request (reading the body, parsing it, answering); the loop's overhead is the
wall time of the run minus that, per turn: the client's request and response
handling over loopback, the tools, the saved state, the console lines. The
conversation grows every turn, so the last turns' overhead is reported too.

The start-up figure runs the agent engine itself (``python -I -m
leviathan_worker.agent`` in the bubblewrap sandbox) for a one-turn script: the
wall time of ``apply`` minus the fake's time, median of ``STARTUP_RUNS``
interleaved with the same run without the sandbox.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

from tests.support.openai_fake import MODEL, Answer, FakeOpenAI, _handler, call, final

from leviathan_core.backlog import TaskEntry
from leviathan_worker.agent import STATE_FILE
from leviathan_worker.agent.__main__ import Scrubbed, attempt
from leviathan_worker.agent.tools import Workspace
from leviathan_worker.confine import Confinement
from leviathan_worker.engines import agent as agent_engine
from leviathan_worker.engines.agent import AgentEngine, AgentSettings
from leviathan_worker.engines.base import ChangeContext
from leviathan_worker.sandbox import sandbox_unavailable

FILES = 2_000
TURNS = 50
RUNS = 3  # whole 50-turn runs; the median run is reported
STARTUP_RUNS = 5
KEY = "sk-bench-agent-key"
KEY_ENV = "LEVIATHAN_BENCH_AGENT_KEY"
ALLOWED = "docs/notes/"
TOOL_NAMES = ("read_file", "search", "write_file")
# A hosted model's turn takes 1-10 s (time to first token alone is 0.3-1 s), so
# 20 ms of loop is at most 2 % of even a fast turn: the loop never matters next
# to the model. A read and a write touch one file: 5 ms is far above the
# syscalls. A search reads the whole checkout (2,000 files, about 5 MB) each
# call: 150 ms keeps it within a tenth of a fast model turn. The sandboxed run
# pays an interpreter start, the openai import and bwrap once per attempt:
# 2 s is under a typical first model answer.
TURN_TARGET_MS = 20.0
READ_WRITE_TARGET_MS = 5.0
SEARCH_TARGET_MS = 150.0
STARTUP_TARGET_S = 2.0


def _row(
    name: str, value: float, unit: str, target: float | None, lower: bool = True
) -> dict[str, Any]:
    return {"name": name, "value": round(value, 3), "unit": unit, "target": target,
            "lower_is_better": lower}  # fmt: skip


def _module(index: int) -> str:
    """About 2.5 KB of plausible Python: imports, a class, a few functions."""
    body = [
        f'"""Module {index}: request handlers and their helpers."""',
        "",
        "from __future__ import annotations",
        "",
        "import json",
        "from dataclasses import dataclass",
        "",
        "",
        "@dataclass",
        f"class Record{index}:",
        "    name: str",
        "    size: int = 0",
        "",
        "    def as_json(self) -> str:",
        "        return json.dumps({'name': self.name, 'size': self.size})",
        "",
    ]
    for n in range(6):
        body += [
            "",
            f"def handler_{index}_{n}(payload: dict[str, object]) -> Record{index}:",
            f'    """Handle a request of kind {n} for module {index}."""',
            "    name = str(payload.get('name', ''))",
            "    size = int(str(payload.get('size', 0)))",
            "    if size < 0:",
            "        raise ValueError(f'negative size for {name}')",
            f"    return Record{index}(name=name, size=size + {n})",
        ]
    return "\n".join(body) + "\n"


def _checkout(root: Path) -> Path:
    """``FILES`` files: Python modules in 20 packages and a docs folder."""
    checkout = root / "checkout"
    for index in range(FILES - 100):
        path = checkout / "src" / f"pkg{index % 20:02d}" / f"mod{index:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_module(index), encoding="utf-8")
    for index in range(100):
        path = checkout / "docs" / f"page{index:03d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Page {index}\n\n" + "Some prose about the system.\n" * 40)
    (checkout / ".git").mkdir()
    return checkout


def _script(turns: int, seed: int) -> list[Answer]:
    """``turns - 1`` tool turns cycling read, search and write, then ``finish``."""
    pick = random.Random(seed)
    answers: list[Answer] = []
    for turn in range(turns - 1):
        index = pick.randrange(FILES - 100)
        kind = TOOL_NAMES[turn % 3]
        if kind == "read_file":
            answers.append(call(kind, path=f"src/pkg{index % 20:02d}/mod{index:04d}.py"))
        elif kind == "search":
            answers.append(call(kind, pattern=f"def handler_{index}_", path="."))
        else:
            content = f"# Note {turn}\n\n" + "A line of the change being written.\n" * 30
            answers.append(call(kind, path=f"{ALLOWED}note{turn:02d}.md", content=content))
    answers.append(call("finish", summary="Wrote the notes."))
    return answers


@contextmanager
def _serving(fake: FakeOpenAI, spent: list[float]) -> Iterator[FakeOpenAI]:
    """The fake on a free port, timing its own handling of each request into ``spent``."""
    base: Any = _handler(fake)
    inner = base.do_POST

    def do_post(handler: BaseHTTPRequestHandler) -> None:
        started = time.perf_counter()
        inner(handler)
        spent.append(time.perf_counter() - started)

    # Nagle's algorithm on the fake's headers-then-body writes meets the client's
    # delayed ACK: 40 ms per request that no real server adds. Off, as servers do.
    timed: Any = type("TimedHandler", (base,), {"do_POST": do_post,
                                                "disable_nagle_algorithm": True})  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), timed)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _Quiet(Scrubbed):
    """The program's output object, its lines kept rather than printed, its state saves timed."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.lines: list[str] = []
        self.saves: list[tuple[float, float]] = []  # (when it ended, how long it took)

    def say(self, line: str) -> None:
        self.lines.append(self.text(line))

    def write(self, path: Path, data: Any) -> None:
        started = time.perf_counter()
        super().write(path, data)
        if path.name == STATE_FILE:
            ended = time.perf_counter()
            self.saves.append((ended, ended - started))


@contextmanager
def _timed_tools(times: dict[str, list[float]]) -> Iterator[None]:
    original: Callable[[Workspace, str, str], str] = Workspace.call

    def timed(self: Workspace, name: str, arguments: str) -> str:
        started = time.perf_counter()
        try:
            return original(self, name, arguments)
        finally:
            times[name].append(time.perf_counter() - started)

    with mock.patch.object(Workspace, "call", timed):
        yield


def _spec(checkout: Path, base_url: str, endpoint: str) -> dict[str, Any]:
    task = {"id": "bench-agent", "title": "Write the notes", "scope": "docs",
            "description": "Read the handlers and write notes about them.",
            "allowed_paths": [ALLOWED], "acceptance_criteria": ["the notes exist"],
            "checkout": str(checkout)}  # fmt: skip
    settings = {"base_url": base_url, "model": MODEL, "temperature": 0.0, "endpoint": endpoint,
                "max_turns": TURNS, "max_tokens": 10_000_000, "wall_seconds": 600}  # fmt: skip
    return {"task": task, "settings": settings, "prefixes": ["docs/", "src/"]}


def _loop_run(checkout: Path, scratch: Path, seed: int) -> dict[str, Any]:
    """One whole in-process run of ``TURNS`` turns; its timings."""
    fake, spent = FakeOpenAI(), list[float]()
    fake.then(*_script(TURNS, seed))
    tools: dict[str, list[float]] = defaultdict(list)
    out = _Quiet(KEY)
    scratch.mkdir()
    with _serving(fake, spent), _timed_tools(tools):
        started = time.perf_counter()
        outcome = attempt(_spec(checkout, fake.base_url, fake.endpoint), scratch, KEY, out)
    if not outcome.ok or len(spent) != TURNS:
        raise RuntimeError(f"the agent run failed: {outcome.message} ({len(spent)} requests)")
    # Per turn: from the previous state save to this one, minus the fake's time and the tool's.
    ends = [started] + [end for end, _ in out.saves[:TURNS]]
    tool_times = _in_call_order(tools)
    per_turn = [ends[i + 1] - ends[i] - spent[i] for i in range(TURNS)]
    own = [per_turn[i] - tool_times[i] for i in range(TURNS)]
    return {
        "first": own[0],  # the client's and the program's one-time work: not a turn's cost
        "overhead": statistics.mean(per_turn[1:]),
        "own": statistics.mean(own[1:]),
        "own_last10": statistics.mean(own[-10:]),
        "server": sum(spent) / TURNS,
        "save": statistics.mean(s for _, s in out.saves),
        "tools": tools,
    }


def _in_call_order(tools: dict[str, list[float]]) -> list[float]:
    """Each turn's tool time, in turn order (the script's cycle, then finish)."""
    taken: dict[str, int] = defaultdict(int)
    order = []
    for turn in range(TURNS):
        name = TOOL_NAMES[turn % 3] if turn < TURNS - 1 else "finish"
        order.append(tools[name][taken[name]])
        taken[name] += 1
    return order


def _loop_rows(root: Path, checkout: Path) -> list[dict[str, Any]]:
    runs = [_loop_run(checkout, root / f"scratch-{i}", seed=i) for i in range(RUNS)]
    median = sorted(runs, key=lambda r: float(r["own"]))[RUNS // 2]
    tools: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for name, values in r["tools"].items():
            tools[name] += values
    tool_rows = [
        _row(f"agent_tool_{name}_per_call (median, {FILES} files)",
             statistics.median(tools[name]) * 1000, "ms",
             SEARCH_TARGET_MS if name == "search" else READ_WRITE_TARGET_MS)
        for name in TOOL_NAMES
    ]  # fmt: skip
    return [
        _row(f"agent_loop_overhead_per_turn ({TURNS} turns, model and tools excluded)",
             median["own"] * 1000, "ms", TURN_TARGET_MS),
        _row("agent_loop_overhead_per_turn_last_10_turns", median["own_last10"] * 1000, "ms",
             TURN_TARGET_MS),
        _row("agent_loop_overhead_per_turn_with_tools", median["overhead"] * 1000, "ms", None),
        _row("agent_loop_first_turn_one_time", median["first"] * 1000, "ms", None),
        _row("agent_state_save_per_turn", median["save"] * 1000, "ms", None),
        _row("agent_fake_server_time_per_turn (subtracted)", median["server"] * 1000, "ms",
             None),
        *tool_rows,
    ]  # fmt: skip


def _context(checkout: Path, scratch: Path, lines: list[str]) -> ChangeContext:
    task = TaskEntry(index=0, id="bench-agent", title="Write the notes", ready=True,
                     status="pending", scope="docs", allowed_paths=(ALLOWED,),
                     acceptance_criteria=("the notes exist",))  # fmt: skip
    scratch.mkdir()
    return ChangeContext(checkout, scratch, task, "bench-agent", "bench-attempt",
                         "leviathan/bench-agent", ("docs/", "src/"), lines.append)  # fmt: skip


def _engine_run(checkout: Path, scratch: Path, sandboxed: bool) -> float:
    """Wall seconds of one agent engine run of one turn, minus the fake's time."""
    fake, spent = FakeOpenAI(), list[float]()
    fake.then(final("Nothing to change."))
    lines: list[str] = []
    with _serving(fake, spent):
        settings = AgentSettings(fake.base_url, MODEL, KEY_ENV, 0.0, 5, 100_000, 60)
        engine = AgentEngine(settings, Confinement((Path.home(),), allow_unsandboxed=True))
        ctx = _context(checkout, scratch, lines)
        unavailable = None if sandboxed else "benchmark baseline"
        with mock.patch.object(agent_engine, "sandbox_unavailable", return_value=unavailable):
            started = time.perf_counter()
            engine.apply(ctx)
            wall = time.perf_counter() - started
    if len(spent) != 1:
        raise RuntimeError("the agent engine did not ask once:\n" + "\n".join(lines))
    return float(wall - sum(spent))


def _startup_rows(root: Path, checkout: Path) -> list[dict[str, Any]]:
    if sandbox_unavailable() is not None:
        return []
    previous = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = KEY
    sandboxed, plain = [], []
    try:
        for i in range(STARTUP_RUNS):
            sandboxed.append(_engine_run(checkout, root / f"engine-s{i}", sandboxed=True))
            plain.append(_engine_run(checkout, root / f"engine-p{i}", sandboxed=False))
    finally:
        if previous is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = previous
    with_sandbox, without = statistics.median(sandboxed), statistics.median(plain)
    cold, warm = _import_seconds(root / "pycache")
    return [
        _row("agent_engine_run_startup_sandboxed (1 turn, model time excluded)", with_sandbox,
             "s", None),
        _row("agent_engine_run_startup_unsandboxed", without, "s", None),
        _row("agent_engine_sandbox_added", with_sandbox - without, "s", None),
        _row("agent_program_import_without_bytecode", cold, "s", None),
        _row("agent_program_import_with_bytecode", warm, "s", None),
        _row("agent_engine_run_startup_sandboxed_with_bytecode (as in the image)",
             with_sandbox - cold + warm, "s", STARTUP_TARGET_S),
    ]  # fmt: skip


def _import_seconds(prefix: Path) -> tuple[float, float]:
    """The agent program's imports in a fresh ``python -I``, without and with bytecode.

    Where ``PYTHONDONTWRITEBYTECODE`` is set (as here), the venv has no bytecode and
    every run compiles the openai client from source; the image compiles it at build
    time (``UV_COMPILE_BYTECODE=1``). A private ``pycache_prefix`` stands in for that.
    """
    program = [sys.executable, "-I", "-c", "import leviathan_worker.agent.__main__"]
    cached = [sys.executable, "-I", "-X", f"pycache_prefix={prefix}", *program[2:]]
    subprocess.run(cached, check=True)  # writes the bytecode
    cold, warm = list[float](), list[float]()
    for _ in range(STARTUP_RUNS):
        for argv, into in ((["-B", *program[1:]], cold), (cached[1:], warm)):
            started = time.perf_counter()
            subprocess.run([sys.executable, *argv], check=True)
            into.append(time.perf_counter() - started)
    return statistics.median(cold), statistics.median(warm)


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="leviathan-bench-agent-") as tmp:
        root = Path(tmp)
        checkout = _checkout(root)
        return [*_loop_rows(root, checkout), *_startup_rows(root, checkout)]


if __name__ == "__main__":
    for row in run():
        print(row)
