"""``make run`` with ``LEVIATHAN_DEMO_MODEL_URL``: the demo's agent does the task.

The variable points the demo at an OpenAI-compatible server; here the
scripted one the agent tests use, over a real socket, so the whole stack
(beat, dispatcher, worker, the agent in its sandbox, the local forge) runs
as a user with a local model server would run it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from leviathan_worker.sandbox import sandbox_unavailable
from tests.e2e.test_make_run import start_supervisor, wait_for
from tests.support.openai_fake import MODEL, call, final, running
from tests.support.servers import free_port

PAGE = "# Getting started\n\nInstall with `make install`, run with `make run`.\n"


@pytest.mark.timeout(240)
def test_the_demo_agent_writes_the_page_on_a_model_server(tmp_path: Path) -> None:
    if reason := sandbox_unavailable():
        pytest.skip(f"no sandbox here: {reason}")
    with running() as fake:
        fake.then(
            call("write_file", path="docs/getting-started.md", content=PAGE),
            call("finish", summary="Wrote the getting-started guide."),
        )
        fake.default = final("Nothing more to do.")
        port, log = free_port(), tmp_path / "devrun.log"
        run_dir = tmp_path / ".leviathan-run"
        proc, _ = start_supervisor(
            tmp_path,
            run_dir,
            log,
            port=port,
            schedule_seconds="3",
            new_session=False,
            extra_env={"LEVIATHAN_DEMO_MODEL_URL": fake.base_url, "LEVIATHAN_DEMO_MODEL": MODEL},
        )
        try:
            wait_for(lambda: "✅ Worker Complete" in log.read_text(errors="replace"), 180,
                     "the agent's PR", log)  # fmt: skip
            headers = {"Authorization": "Bearer dev-token"}
            attempts = httpx.get(
                f"http://127.0.0.1:{port}/v1/attempts",
                params={"target": "demo"},
                headers=headers,
                timeout=10,
            ).json()["attempts"]
            (done,) = [a for a in attempts if a["status"] == "succeeded"]
            page = subprocess.run(
                ["git", "--git-dir", str(run_dir / "demo/origin.git"), "show",
                 f"{done['branch']}:docs/getting-started.md"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            assert page == PAGE
            assert fake.requests[0].body["model"] == MODEL
            kept = (run_dir / "autonomy/demo.yaml").read_text()
            assert "change_engine: docs-template" in kept  # the user's file is left alone
        finally:
            proc.terminate()
            proc.wait(30)
