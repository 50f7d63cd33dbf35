"""The documentation site: it builds strictly, its generated pages are fresh,
every reason code is explained, and nothing points at a file that is not there.

``scripts/gen_docs.py`` writes docs/reference/; the README is the short entry
point and links into docs/ with relative links that also work on GitHub.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import os
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from types import ModuleType

import pytest

from leviathan_core.events import FailureReason
from leviathan_core.guardrails import FACT_SOURCES, CycleReason, unavailable_reason
from leviathan_core.verdicts import TaskReason

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
README_MAX_LINES = 220
SOURCE_DIRS = ("shared", "core", "adapters", "services", "scripts", "bench", "tests")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
DOCS_PATH = re.compile(r"(?<![\w./-])docs/[\w./-]*?\.md\b")


def load_gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen_docs() -> ModuleType:
    return load_gen_docs()


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "-f", str(REPO / "mkdocs.yml"), "-d", str(site)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    # The architecture diagram is a mermaid fence the theme renders, not a code block.
    assert '<pre class="mermaid"><code>flowchart' in (site / "architecture.html").read_text()
    for page in ("reference/configuration.html", "reference/reason-codes.html"):
        assert (site / page).is_file(), page


def test_the_generated_pages_are_fresh(gen_docs: ModuleType) -> None:
    for page, render in gen_docs.PAGES.items():
        committed = (REPO / page).read_text(encoding="utf-8")
        assert committed == render(), f"{page} is stale: run `{gen_docs.REGENERATE}`"


def enum_codes(*enums: type[StrEnum]) -> list[str]:
    return [member.value for enum in enums for member in enum]


def test_every_reason_code_has_its_line() -> None:
    """Read from the enums themselves: a new member without a line fails here."""
    page = (REPO / "docs/reference/reason-codes.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip() for line in page.splitlines() if line.startswith("| `")}
    codes = enum_codes(CycleReason, TaskReason, FailureReason)
    codes += [unavailable_reason(source) for source in FACT_SOURCES]
    missing = [code for code in codes if f"`{code}`" not in rows]
    assert not missing, f"reason codes without a line in reason-codes.md: {missing}"
    # The list the README once kept twice lacked this one.
    assert "`attempt_running`" in rows


def test_the_generator_refuses_a_code_without_explanation(
    gen_docs: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    explained = dict(gen_docs.TASK_REASONS)
    del explained["attempt_running"]
    monkeypatch.setattr(gen_docs, "TASK_REASONS", explained)
    with pytest.raises(
        gen_docs.DocsError, match=r"TASK_REASONS: no explanation for 'attempt_running'"
    ):
        gen_docs.render_reason_codes()
    assert gen_docs.main([]) == 2  # and the command says so instead of writing a page


def test_the_generator_refuses_a_stale_explanation(
    gen_docs: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    explained = {**gen_docs.FAILURE_REASONS, "gone_away": ("worker", "no longer a code")}
    monkeypatch.setattr(gen_docs, "FAILURE_REASONS", explained)
    with pytest.raises(gen_docs.DocsError, match="'gone_away'"):
        gen_docs.render_reason_codes()


def test_the_generator_refuses_a_field_without_description(
    gen_docs: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    described = {name: dict(fields) for name, fields in gen_docs.FIELD_DESCRIPTIONS.items()}
    del described["AutonomyConfig"]["max_open_prs"]
    monkeypatch.setattr(gen_docs, "FIELD_DESCRIPTIONS", described)
    with pytest.raises(gen_docs.DocsError, match=r"AutonomyConfig\.max_open_prs"):
        gen_docs.render_configuration()


def test_the_configuration_page_lists_every_key(gen_docs: ModuleType) -> None:
    page = (REPO / "docs/reference/configuration.md").read_text(encoding="utf-8")
    from leviathan_core.config import AutonomyConfig

    for name in AutonomyConfig.model_fields:
        assert f"| `{name}` |" in page, name
    assert "| `max_open_prs` | strict int ≥ 0 | `1` |" in page
    assert "| `LEVIATHAN_BEAT_RELOAD_SECONDS` | float ≥ 0 | `30.0` |" in page


def test_the_readme_is_short_and_its_links_resolve() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    targets = LINK.findall(readme)
    assert any(target.startswith("docs/") for target in targets)
    broken = []
    for target in targets:
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (REPO / path).exists():
            broken.append(target)
    assert not broken, f"README links to missing files: {broken}"


def docstring_nodes(tree: ast.AST) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                yield first.value


def comments_and_docstrings(source: str) -> Iterator[tuple[int, str]]:
    """The comments and docstrings of one Python file, with their line numbers."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in docstring_nodes(ast.parse(source)):
        yield node.lineno, str(node.value)


def data_strings(source: str) -> str:
    """The file's string literals other than docstrings: paths it uses as data."""
    tree = ast.parse(source)
    docstrings = {id(node) for node in docstring_nodes(tree)}
    return "\n".join(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    )


def python_sources() -> Iterator[Path]:
    for top in SOURCE_DIRS:
        folder = REPO / top
        if folder.is_dir():
            yield from (p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_comment_or_docstring_cites_a_missing_file() -> None:
    """Comments cite pages of this repository's docs/, never a document it does not have."""
    bad = []
    for path in python_sources():
        source = path.read_text(encoding="utf-8")
        try:
            compile(source, str(path), "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
        except SyntaxError as exc:
            pytest.fail(f"{path.relative_to(REPO)} does not parse: {exc}")
        # A docs/ path the file also uses as data names a file of a test target
        # repository (a fixture's README), not a page of this one.
        data = data_strings(source)
        for line, text in comments_and_docstrings(source):
            where = f"{path.relative_to(REPO)}:{line}"
            if "DESIGN.md" in text:
                bad.append(f"{where} cites DESIGN.md")
            bad += [
                f"{where} cites {cited}"
                for cited in DOCS_PATH.findall(text)
                if not (REPO / cited).is_file() and cited not in data
            ]
    assert not bad, "\n".join(bad)
