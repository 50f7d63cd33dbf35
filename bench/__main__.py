"""Run every benchmark module and print each figure with its ratio to the target.

A module ``bench/bench_<area>.py`` exposes ``run() -> list[dict]`` with rows
``{"name", "value", "unit", "target", "lower_is_better"}``. One module failing
is reported and the others still run; the exit code says whether any target
was missed or any module failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def modules(selected: list[str]) -> list[str]:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    return [n for n in names if not selected or any(s in n for s in selected)]


def verdict(row: dict[str, Any]) -> tuple[str, str]:
    target = row.get("target")
    if target is None:
        return "", "info"
    value = float(row["value"])
    lower = row.get("lower_is_better", True)
    ratio = value / target if target else float("inf")
    ok = value <= target if lower else value >= target
    return f"{ratio:6.2f}x of target", "ok" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("only", nargs="*", help="substrings of benchmark module names")
    parser.add_argument("--json", dest="json_out", help="also write all rows to this file")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    failed = []
    for name in modules(args.only):
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            result = importlib.import_module(f"bench.{name}").run()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        for row in result:
            ratio, status = verdict(row)
            target = row.get("target")
            sign = "<=" if row.get("lower_is_better", True) else ">="
            goal = "" if target is None else f"(target {sign} {target} {row['unit']})"
            line = f"  {row['name']:<58} {row['value']:>12.3f} {row['unit']:<8} {goal:<24}"
            print(f"{line} {ratio} {status}")
            rows.append({**row, "module": name, "status": status})
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))
    missed = [r["name"] for r in rows if r["status"] == "MISSED"]
    print(f"\n{len(rows)} figures, {len(missed)} missed targets, {len(failed)} modules failed")
    return 1 if missed or failed else 0


if __name__ == "__main__":
    sys.exit(main())
