"""The demo's agent: ``LEVIATHAN_DEMO_MODEL_URL`` points ``make run`` at a model server.

Without the variable the demo target writes each docs task's page from a
template. With it (an OpenAI-compatible base URL, e.g. Ollama's
``http://127.0.0.1:11434/v1`` or llama.cpp's server), the demo runs the
``agent`` engine against that server instead: a copy of the demo target
with the agent's keys is written at every start, so the kept
``autonomy/demo.yaml`` stays as the user left it. ``LEVIATHAN_DEMO_MODEL``
names the model (default ``llama3.1``); a local server needs no key, so the
agent gets a placeholder unless ``LEVIATHAN_AGENT_API_KEY`` is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import yaml

MODEL_URL_ENV: Final = "LEVIATHAN_DEMO_MODEL_URL"
MODEL_ENV: Final = "LEVIATHAN_DEMO_MODEL"
KEY_ENV: Final = "LEVIATHAN_AGENT_API_KEY"
DEFAULT_MODEL: Final = "llama3.1"
PLACEHOLDER_KEY: Final = "local-model-server"


class DemoAgentError(ValueError):
    """The variable does not name a usable server (the message says how to fix it)."""


def endpoint_of(url: str) -> str:
    """``host:port`` of ``url``, the one endpoint the engine's sandbox may reach."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DemoAgentError(f"{MODEL_URL_ENV}={url!r}: expected http(s)://host[:port]/...")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


def demo_config(run_dir: Path, kept: Path, environ: Mapping[str, str]) -> Path:
    """The target file the demo runs with: ``kept``, or its agent copy when the variable is set."""
    url = environ.get(MODEL_URL_ENV, "").strip()
    if not url:
        return kept
    data = yaml.safe_load(kept.read_text())
    data.update(
        change_engine="agent",
        agent_base_url=url.rstrip("/"),
        agent_model=environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL,
        agent_api_key_env=KEY_ENV,
        engine_network=[endpoint_of(url)],
    )
    folder = run_dir / "autonomy-agent"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / kept.name
    header = f"# Written by make run from {kept} and {MODEL_URL_ENV}; rewritten at every start.\n"
    copy.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return copy


def agent_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The key variable the agent reads: the user's, else a placeholder for a local server."""
    if not environ.get(MODEL_URL_ENV, "").strip():
        return {}
    return {KEY_ENV: environ.get(KEY_ENV) or PLACEHOLDER_KEY}
