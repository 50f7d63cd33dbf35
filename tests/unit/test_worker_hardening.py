"""The worker hides its environment (tokens) from the change command it starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux")


def test_worker_process_becomes_undumpable() -> None:
    code = (
        "from leviathan_worker.hardening import is_dumpable, make_undumpable\n"
        "before = is_dumpable()\n"
        "assert make_undumpable()\n"
        "print(before, is_dumpable())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_environ_of_an_undumpable_process_is_root_owned() -> None:
    code = (
        "import os, sys\n"
        "from leviathan_worker.hardening import make_undumpable\n"
        "make_undumpable()\n"
        "st = os.stat(f'/proc/{os.getpid()}/environ')\n"
        "print(st.st_uid)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
