"""LEVIATHAN_DEMO_MODEL_URL turns the demo target into an agent target, validly."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from leviathan_core.config import load_config

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
KEPT = """\
target_id: demo
target_repo_url: file:///srv/demo.git
executor: local
forge: local
change_engine: docs-template
"""


@pytest.fixture
def demo_agent(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    return importlib.import_module("demo_agent")


def test_without_the_variable_the_kept_file_runs(demo_agent: ModuleType, tmp_path: Path) -> None:
    kept = tmp_path / "demo.yaml"
    kept.write_text(KEPT)
    assert demo_agent.demo_config(tmp_path, kept, {}) == kept
    assert demo_agent.agent_environment({}) == {}


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("http://127.0.0.1:11434/v1", "127.0.0.1:11434"),
        ("https://models.example/v1/", "models.example:443"),
        ("http://[::1]:8080/v1", "[::1]:8080"),
    ],
)
def test_the_agent_copy_is_a_valid_target_reaching_only_the_server(
    demo_agent: ModuleType, tmp_path: Path, url: str, endpoint: str
) -> None:
    kept = tmp_path / "demo.yaml"
    kept.write_text(KEPT)
    environ = {"LEVIATHAN_DEMO_MODEL_URL": url, "LEVIATHAN_DEMO_MODEL": "qwen2.5-coder"}
    copy = demo_agent.demo_config(tmp_path / "run", kept, environ)
    config = load_config(copy)  # the real validation: agent keys, endpoint listed
    assert (config.change_engine, config.agent_model) == ("agent", "qwen2.5-coder")
    assert config.engine_network == [endpoint]
    assert kept.read_text() == KEPT
    assert demo_agent.agent_environment(environ) == {
        "LEVIATHAN_AGENT_API_KEY": "local-model-server"
    }
    own_key = {**environ, "LEVIATHAN_AGENT_API_KEY": "sk-mine"}
    assert demo_agent.agent_environment(own_key) == {"LEVIATHAN_AGENT_API_KEY": "sk-mine"}


def test_a_url_that_names_no_server_is_refused(demo_agent: ModuleType, tmp_path: Path) -> None:
    kept = tmp_path / "demo.yaml"
    kept.write_text(KEPT)
    with pytest.raises(demo_agent.DemoAgentError, match="LEVIATHAN_DEMO_MODEL_URL='ollama'"):
        demo_agent.demo_config(tmp_path, kept, {"LEVIATHAN_DEMO_MODEL_URL": "ollama"})
