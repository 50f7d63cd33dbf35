"""Where targets come from: a file, a file listing many targets, or a directory of them.

``LEVIATHAN_CONFIG`` names one target file, or a file with ``targets:`` (a
list of targets sharing ``defaults:``), or a directory of such ``*.yaml``
files. Every file is validated in one go: one reading reports every problem
of every file, each naming the file, the entry and the key, so fixing a fleet
of 10,000 targets is not one error per restart.

One broken file spoils only its own targets. A target whose file does not
load is unknown, and a select cycle for an unknown target does nothing (fail
closed); the other targets keep ticking. A ``target_id`` defined twice is
refused in both places, since nobody can tell which definition is meant.

``TargetFiles`` keeps what it parsed, keyed by each file's stamp (inode,
modification time, size): a reader of 10,000 files stats them instead of
parsing them again, and a cycle looks up its own target with two ``stat``
calls (the directory, for files added or removed, and the target's file).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leviathan_core.backlog import BacklogError, load_yaml
from leviathan_core.config import CONFIG_SIZE_CAP, AutonomyConfig, ConfigError, parse_config

# A file listing many targets may be larger than one target's file (backlog's YAML cap).
FLEET_SIZE_CAP = 5 * 1024 * 1024
# A file modified this recently may change again within the clock's granularity
# without its stamp changing; it is read again next time ("racy" stamps).
RACY_SECONDS = 2.0
MAX_REPORTED = 50

Stamp = tuple[int, int, int]


@dataclass(frozen=True)
class FileReading:
    """One file's targets and its problems (each naming the file and key)."""

    path: Path
    configs: tuple[AutonomyConfig, ...]
    errors: tuple[str, ...]


@dataclass(frozen=True)
class TargetSet:
    """Every target that loaded, where each came from, and every problem found."""

    configs: dict[str, AutonomyConfig]
    files: dict[str, Path]
    errors: tuple[str, ...]
    # Targets of files that fail now but loaded before: beat keeps their ticks.
    kept: frozenset[str] = frozenset()

    def problem(self) -> str:
        """All problems in one message (the first ``MAX_REPORTED``)."""
        shown = list(self.errors[:MAX_REPORTED])
        if len(self.errors) > MAX_REPORTED:
            shown.append(f"... and {len(self.errors) - MAX_REPORTED} more problems")
        return "\n".join(shown)

    def require_valid(self) -> dict[str, AutonomyConfig]:
        """The targets, or a ConfigError listing every problem."""
        if self.errors:
            raise ConfigError(self.problem())
        return self.configs


def target_file_paths(root: Path) -> list[Path]:
    """The files read: ``root`` itself, or a directory's ``*.yaml``/``*.yml`` files."""
    if root.is_dir():
        return sorted([*root.glob("*.yaml"), *root.glob("*.yml")])
    return [root]


def _entries(data: Any, source: str) -> tuple[list[tuple[str, Any]], list[str]]:
    """(label, mapping) per target in a loaded document, and structural errors."""
    if not isinstance(data, dict) or "targets" not in data:
        return [(source, data)], []
    extra = sorted(set(data) - {"targets", "defaults"})
    errors = [f"{source}: key '{key}': unknown key beside 'targets'" for key in extra]
    defaults = data.get("defaults") or {}
    targets = data["targets"]
    if not isinstance(defaults, dict):
        errors.append(f"{source}: key 'defaults': expected a mapping of keys")
        defaults = {}
    if not isinstance(targets, list) or not targets:
        return [], [*errors, f"{source}: key 'targets': expected a non-empty list of targets"]
    entries = []
    for index, entry in enumerate(targets):
        name = entry.get("target_id") if isinstance(entry, dict) else None
        label = f"{source}: targets[{index}]" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(entry, dict):
            errors.append(f"{label}: expected a mapping of keys, got {type(entry).__name__}")
            continue
        entries.append((label, {**defaults, **entry}))
    return entries, errors


def read_target_file(path: Path) -> FileReading:
    """Parse one file; never raises for its content: problems are in ``errors``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return FileReading(path, (), (f"{path}: cannot read configuration: {exc.strerror}",))
    if len(raw) > FLEET_SIZE_CAP:
        return FileReading(path, (), (f"{path}: larger than {FLEET_SIZE_CAP} bytes",))
    try:
        data = load_yaml(raw, str(path))
    except BacklogError as exc:
        return FileReading(path, (), (f"{path}: not valid YAML: {exc}",))
    if not (isinstance(data, dict) and "targets" in data) and len(raw) > CONFIG_SIZE_CAP:
        return FileReading(
            path, (), (f"{path}: configuration larger than {CONFIG_SIZE_CAP} bytes",)
        )
    entries, errors = _entries(data, str(path))
    configs = []
    for label, mapping in entries:
        try:
            configs.append(parse_config(mapping, label))
        except ConfigError as exc:
            errors.append(str(exc))
    return FileReading(path, tuple(configs), tuple(errors))


def combine(readings: list[FileReading], before: dict[Path, FileReading]) -> TargetSet:
    """Pure: the readings folded into one set; duplicates refused everywhere they occur."""
    where: dict[str, list[str]] = {}
    configs: dict[str, AutonomyConfig] = {}
    files: dict[str, Path] = {}
    errors: list[str] = []
    kept: set[str] = set()
    for reading in readings:
        errors.extend(reading.errors)
        if reading.errors and reading.path in before:
            kept.update(c.target_id for c in before[reading.path].configs)
        for config in reading.configs:
            where.setdefault(config.target_id, []).append(str(reading.path))
            configs[config.target_id] = config
            files[config.target_id] = reading.path
    for target, places in where.items():
        if len(places) > 1:
            errors.append(
                f"{places[-1]}: key 'target_id': {target!r} is defined twice "
                f"(also in {', '.join(sorted(set(places[:-1])))}); neither is used"
            )
            del configs[target], files[target]
    return TargetSet(configs, files, tuple(errors), frozenset(kept - configs.keys()))


def _file_stamp(path: Path) -> tuple[Stamp, float] | None:
    """(inode, mtime in ns, size) and mtime in seconds; None when the file is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size), st.st_mtime


def _stamp(path: Path) -> Stamp | None:
    """The stamp to trust as "unchanged", or None (gone, or modified too recently)."""
    found = _file_stamp(path)
    if found is None or time.time() - found[1] < RACY_SECONDS:
        return None  # may change again unseen: never trusted as unchanged
    return found[0]


@dataclass
class TargetFiles:
    """The target files under ``root``, parsed once per change (thread-safe)."""

    root: Path | str
    _readings: dict[Path, tuple[Stamp | None, FileReading]] = field(default_factory=dict)
    _good: dict[Path, FileReading] = field(default_factory=dict)
    _set: TargetSet | None = None
    _root_stamp: Stamp | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.path = Path(self.root)

    def scan(self) -> TargetSet:
        """Stat every file, parse the changed ones, and return the whole set."""
        with self._lock:
            return self._scan()

    def _scan(self) -> TargetSet:
        self._root_stamp = _stamp(self.path) if self.path.is_dir() else None
        paths = target_file_paths(self.path)
        readings = []
        fresh: dict[Path, tuple[Stamp | None, FileReading]] = {}
        for path in paths:
            stamp = _stamp(path)
            held = self._readings.get(path)
            reading = held[1] if held and stamp is not None and held[0] == stamp else None
            if reading is None:
                reading = read_target_file(path)
            fresh[path] = (stamp, reading)
            readings.append(reading)
        self._readings = fresh
        if not paths:
            result = TargetSet({}, {}, (f"{self.path}: no *.yaml configuration files found",))
        else:
            result = combine(readings, self._good)
        good: dict[Path, FileReading] = {}
        for reading in readings:
            last = reading if not reading.errors else self._good.get(reading.path)
            if last is not None:
                good[reading.path] = last
        self._good = good
        self._set = result
        return result

    def current(self) -> TargetSet:
        """The set as of now: scanned again only when the directory or a file changed."""
        with self._lock:
            if self._set is None or self._directory_changed():
                return self._scan()
            return self._set

    def lookup(self, target_id: str) -> AutonomyConfig:
        """``target_id``'s configuration as its file says now; ConfigError when unknown."""
        with self._lock:
            known = self._set
            if known is None or self._directory_changed() or self._file_changed(known, target_id):
                known = self._scan()
        config = known.configs.get(target_id)
        if config is not None:
            return config
        names = ", ".join(sorted(known.configs)[:20]) or "none"
        more = f" and {len(known.configs) - 20} more" if len(known.configs) > 20 else ""
        problems = f"\n{known.problem()}" if known.errors else ""
        raise ConfigError(f"{self.path}: no target {target_id!r} (known: {names}{more}){problems}")

    def _directory_changed(self) -> bool:
        if not self.path.is_dir():
            return False
        stamp = _stamp(self.path)
        return stamp is None or stamp != self._root_stamp

    def _file_changed(self, known: TargetSet, target_id: str) -> bool:
        path = known.files.get(target_id)
        if path is None:
            return True
        held = self._readings.get(path)
        stamp = _stamp(path)
        return held is None or stamp is None or held[0] != stamp


def load_target_set(path: str | Path) -> TargetSet:
    """Read every target file under ``path`` once (no cache)."""
    return TargetFiles(Path(path)).scan()


def fingerprint(path: str | Path) -> tuple[tuple[str, Stamp | None], ...]:
    """What changes when a target file is added, removed or edited (stats, no reads)."""
    stamps = []
    for file in target_file_paths(Path(path)):
        found = _file_stamp(file)
        stamps.append((str(file), found[0] if found else None))
    return tuple(stamps)
