"""The agent's tools refuse what the model must not do, and say so in words."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from leviathan_core.config import ConfigError, parse_config
from leviathan_worker.agent.tools import READ_CAP, Workspace
from leviathan_worker.sandbox import env_args


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "checkout"
    (root / "docs" / "guide").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "docs" / "a.md").write_text("alpha\nbeta\n")
    (tmp_path / "secret.txt").write_text("TOKEN")
    os.symlink(tmp_path / "secret.txt", root / "docs" / "leak.md")
    os.symlink(tmp_path, root / "docs" / "out")
    os.symlink("../src", root / "docs" / "guide" / "src")
    return Workspace(root, ["docs/a.md", "docs/new/", "docs/leak.md", "docs/guide/"],
                     ["docs/"], nonce="n0nce")  # fmt: skip


def use(ws: Workspace, name: str, **args: object) -> str:
    return ws.call(name, json.dumps(args))


@pytest.mark.parametrize(
    ("name", "args", "says"),
    [
        ("read_file", {"path": "/etc/passwd"}, "absolute paths are not allowed"),
        ("read_file", {"path": "docs/../../secret.txt"}, "'..' segments are not allowed"),
        ("read_file", {"path": "docs/leak.md"}, "leads outside the repository"),
        ("read_file", {"path": "docs/out/secret.txt"}, "leads outside the repository"),
        ("read_file", {"path": ".git/config"}, ".git is not part"),
        ("list_files", {"path": "docs/out"}, "leads outside the repository"),
        ("write_file", {"path": "src/a.py", "content": "x"}, "outside the task's allowed paths"),
        ("write_file", {"path": "docs/leak.md", "content": "x"}, "is a symlink"),
        ("write_file", {"path": "docs/guide/src/x.md", "content": "x"}, "is a symlink"),
        ("write_file", {"path": ".GIT/config", "content": "x"}, ".git is not part"),
        ("replace_in_file", {"path": "docs/a.md", "old": "zeta", "new": "z"}, "occurs 0 times"),
        ("delete_file", {"path": "docs/new/none.md"}, "is not an existing file"),
        ("search", {"pattern": "(", "regex": True}, "not a valid regular expression"),
    ],
)  # fmt: skip
def test_refusals_are_answers(ws: Workspace, name: str, args: dict[str, object], says: str) -> None:
    answer = use(ws, name, **args)
    assert answer.startswith(("refused: ", "error: ")), answer
    assert says in answer


def test_reads_are_fenced_data_and_budgeted(ws: Workspace) -> None:
    answer = use(ws, "read_file", path="docs/a.md", offset=6)
    head = "<<<data n0nce file docs/a.md bytes 6-11 of 11>>>"
    assert answer == f"{head}\nbeta\n\n<<<end data n0nce>>>"
    assert ws.read_bytes == 5
    listing = use(ws, "list_files", path=".")
    assert "docs/a.md" in listing and ".git" not in listing
    assert "docs/a.md:2: beta" in use(ws, "search", pattern="b.t", regex=True)
    ws.read_bytes = 2 * 1024 * 1024 - 3
    assert use(ws, "read_file", path="docs/a.md").startswith("refused: the read budget")
    assert READ_CAP == 64 * 1024


def test_writes_inside_the_scope(ws: Workspace) -> None:
    assert use(ws, "write_file", path="docs/new/deep/b.md", content="b") == (
        "wrote docs/new/deep/b.md (1 bytes)"
    )
    assert use(ws, "replace_in_file", path="docs/a.md", old="beta", new="gamma").startswith(
        "replaced"
    )
    assert (ws.root / "docs" / "a.md").read_text() == "alpha\ngamma\n"
    assert use(ws, "delete_file", path="docs/a.md") == "deleted docs/a.md"
    assert use(ws, "nope") == "error: there is no tool 'nope'"
    assert use(ws, "write_file", path="docs/a.md").startswith("error: the arguments")


def test_the_agent_needs_its_endpoint_listed() -> None:
    base = {"target_id": "t", "target_repo_url": "/r", "change_engine": "agent",
            "agent_model": "m"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"engine_network to list models\.example:443"):
        parse_config({**base, "agent_base_url": "https://Models.example/v1"}, "f")
    with pytest.raises(ConfigError, match="must not hold credentials"):
        parse_config({**base, "agent_base_url": "https://u:p@m.example/v1"}, "f")
    with pytest.raises(ConfigError, match="agent_api_key_env"):
        parse_config({**base, "agent_api_key_env": "not a name"}, "f")
    config = parse_config(
        {**base, "agent_base_url": "http://[::1]:8080/v1", "engine_network": ["[::1]:8080"]}, "f"
    )
    assert config.agent_max_turns == 20 and config.agent_temperature == 0


def test_the_sandbox_environment_travels_by_pipe() -> None:
    assert env_args({"A": "1", "K": "s k"}) == b"--setenv\0A\0001\0--setenv\0K\0s k\0"
    with pytest.raises(ValueError, match="NUL"):
        env_args({"A": "x\0y"})


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        ("beta", False),
        ("a$", True),  # anchored: scanned line by line
        ("^b", True),
        ("b(?!x)", True),
        ("lph|et", True),
        ("\\Aalpha", True),
        ("nowhere", False),
    ],
)
def test_search_finds_exactly_the_lines_a_line_scan_finds(
    ws: Workspace, pattern: str, regex: bool
) -> None:
    """The whole-file prefilter never hides a line that matches on its own."""
    (ws.root / "docs" / "crlf.md").write_bytes(b"alpha\r\nbeta\r\ngamma a\r\n")
    answer = use(ws, "search", pattern=pattern, path="docs", regex=regex)
    compiled = re.compile(pattern if regex else re.escape(pattern))
    expected = [
        f"docs/{name}:{number}: {line}"
        for name in ("a.md", "crlf.md")
        for number, line in enumerate((ws.root / "docs" / name).read_text().splitlines(), 1)
        if compiled.search(line)
    ]
    found = [line for line in answer.splitlines() if line.startswith("docs/")]
    assert found == expected or (not expected and "(no match)" in answer)
