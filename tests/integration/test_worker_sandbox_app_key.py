"""A GitHub App's key file stays out of the command engine's sandbox (real bwrap)."""

from __future__ import annotations

import pytest
from tests.integration.test_worker_sandbox import (  # noqa: F401 (fixtures)
    CANARY,
    Attempt,
    _sandbox_here,
    attempt,
)

from leviathan_core.settings import Settings
from leviathan_worker.cli import private_paths


def test_the_apps_key_file_is_hidden(
    attempt: Attempt,  # noqa: F811 (the fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = attempt.root / "keys"
    keys.mkdir()
    key_file = keys / "github-app.pem"
    key_file.write_text(
        f"-----BEGIN RSA PRIVATE KEY-----\n{CANARY}\n-----END RSA PRIVATE KEY-----\n"
    )
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_APP_ID", "7")
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY_FILE", str(key_file))
    settings = Settings(_env_file=None, data_dir=str(attempt.root / "data"))  # type: ignore[call-arg]
    hidden = private_paths(settings, attempt.root / "workspace")
    assert keys in hidden

    out = attempt.run(f"cat {key_file} 2>&1; echo keys: $(ls -A {keys})", hidden=hidden)

    assert CANARY not in "\n".join(out)
    assert "keys:" in out  # the folder is there, empty
    without = attempt.run(f"cat {key_file}", hidden=[p for p in hidden if p != keys])
    assert CANARY in "\n".join(without)  # the check can fail: unhidden, the key is readable
