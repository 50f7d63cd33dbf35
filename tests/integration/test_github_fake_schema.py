"""The GitHub fake held to GitHub's published REST description, and refusing what GitHub refuses.

``tests/fixtures/github-openapi/subset.json`` is GitHub's own ``api.github.com.json``
(from the npm package named in its ``x-source``), cut to the operations the fake
serves by ``scripts/github_openapi_subset.py``. A strict fake checks each answer
against it; here the fake is driven through the real PyGithub and through raw
httpx (so the wire itself is checked), every answer must have been checked, and
the check is shown to catch answers that are wrong.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from github import Auth, Github
from tests.support import github_fake, github_shapes
from tests.support.github_fake import GitHubFake, SwappableApp
from tests.support.github_schema import (
    SUBSET,
    GitHubSchema,
    SchemaViolation,
    github_schema,
    json_schema,
)
from tests.support.servers import UvicornThread

TOKEN = "ghp_fake_token_for_the_schema"
REPO = "acme/site"
ROOT = Path(__file__).resolve().parents[2]
CREATE = f"/repos/{REPO}/pulls"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "github_openapi_subset", ROOT / "scripts/github_openapi_subset.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def swappable() -> Iterator[tuple[SwappableApp, UvicornThread]]:
    app = SwappableApp()
    with UvicornThread(app) as server:
        yield app, server


@pytest.fixture
def fake(swappable: tuple[SwappableApp, UvicornThread]) -> GitHubFake:
    fake = GitHubFake(token=TOKEN, strict=True)
    fake.add_repo(REPO)
    fake.push_branch(REPO, "agent/fix-docs")
    swappable[0].app = fake.app
    return fake


@pytest.fixture
def http(fake: GitHubFake, swappable: tuple[SwappableApp, UvicornThread]) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"token {TOKEN}", "Accept": "application/vnd.github+json"}
    with httpx.Client(base_url=swappable[1].url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def gh(fake: GitHubFake, swappable: tuple[SwappableApp, UvicornThread]) -> Github:
    return Github(
        base_url=swappable[1].url,
        auth=Auth.Token(TOKEN),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def all_checked(fake: GitHubFake) -> list[str]:
    """What each request's answer was checked as; fails on an unchecked answer or a violation."""
    assert fake.violations == []
    unchecked = [r for r in fake.requests if not r.checked]
    assert unchecked == []
    return [r.checked for r in fake.requests]


def refusal(response: httpx.Response, status: int) -> dict[str, Any]:
    """GitHub's error shape on the wire: JSON with ``message`` and ``documentation_url``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert body["documentation_url"].startswith("https://docs.github.com/")
    return body


# ---- the subset ----------------------------------------------------------------------
def test_the_subset_names_its_source_and_holds_every_operation_served() -> None:
    document = json.loads(SUBSET.read_text())
    source = document["x-source"]
    assert source["package"] == "@octokit/openapi"
    assert source["version"] == document["info"]["version"]
    assert source["file"] == "generated/api.github.com.json"
    assert len(source["sha256"]) == 64
    assert document["openapi"] == "3.0.3"
    served = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == set(load_script().OPERATIONS)
    assert SUBSET.stat().st_size < 200_000  # the operations' own components, not the API


def test_every_route_of_the_fake_is_a_documented_operation() -> None:
    schema = github_schema()
    sample = {
        "{o}": "acme",
        "{r}": "site",
        "{n}": "1",
        "{branch:path}": "agent/x",
        "{path:path}": "docs",
    }
    operations = set()
    for method, template, _ in GitHubFake.ROUTES:
        path = template
        for placeholder, value in sample.items():
            path = path.replace(placeholder, value)
        operation = schema.operation(method, path)
        assert operation is not None, (method, template)
        operations.add((operation.template, method.lower()))
    assert operations == set(load_script().OPERATIONS)


def test_the_fakes_request_rules_are_githubs() -> None:
    """github_shapes.REQUEST_RULES (used without jsonschema, e.g. in the container tier)."""
    document = json.loads(SUBSET.read_text())
    bodies = {
        "pulls/create": document["paths"]["/repos/{owner}/{repo}/pulls"]["post"],
        "pulls/update": document["paths"]["/repos/{owner}/{repo}/pulls/{pull_number}"]["patch"],
    }
    for name, operation in bodies.items():
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        rules = github_shapes.REQUEST_RULES[name]
        assert set(rules["required"]) == set(schema.get("required", []))
        assert rules["types"] == {k: v["type"] for k, v in schema["properties"].items()}
        enums = {k: tuple(v["enum"]) for k, v in schema["properties"].items() if "enum" in v}
        assert rules["enums"] == enums
    docs = {
        github_shapes.DOCS_CREATE_PULL: bodies["pulls/create"],
        github_shapes.DOCS_UPDATE_PULL: bodies["pulls/update"],
        github_shapes.DOCS_DELETE_REF: document["paths"]["/repos/{owner}/{repo}/git/refs/{ref}"][
            "delete"
        ],
    }
    for url, operation in docs.items():
        assert operation["externalDocs"]["url"] == url


def test_the_script_cuts_a_self_contained_document() -> None:
    script = load_script()
    paths: dict[str, dict[str, Any]] = {}
    for path, method in script.OPERATIONS:
        paths.setdefault(path, {})[method] = {
            "operationId": f"{method} {path}",
            "description": "prose",
            "x-github": {"category": "x"},
            "responses": {"200": {"$ref": "#/components/responses/ok"}},
        }
    spec = {
        "openapi": "3.0.3",
        "info": {"version": "1.0.0"},
        "paths": paths,
        "components": {
            "responses": {
                "ok": {
                    "description": "OK",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/thing"},
                            "examples": {"default": {"$ref": "#/components/examples/big"}},
                        }
                    },
                }
            },
            "schemas": {
                "thing": {
                    "title": "Thing",
                    "type": "object",
                    "required": ["description"],
                    "properties": {
                        "description": {"type": "string", "description": "kept: a property"},
                        "owner": {"$ref": "#/components/schemas/user"},
                    },
                },
                "user": {"type": "object", "nullable": True, "example": {"login": "x"}},
                "unused": {"type": "string"},
            },
            "examples": {"big": {"value": "x" * 1000}},
        },
    }
    source = {"package": "@octokit/openapi", "version": "1.0.0"}
    cut = script.subset(spec, source)
    assert cut["x-source"] == source
    assert set(cut["components"]) == {"responses", "schemas"}
    assert set(cut["components"]["schemas"]) == {"thing", "user"}
    assert cut["components"]["schemas"]["thing"] == {
        "type": "object",
        "required": ["description"],
        "properties": {
            "description": {"type": "string"},
            "owner": {"$ref": "#/components/schemas/user"},
        },
    }
    assert cut["components"]["schemas"]["user"] == {"type": "object", "nullable": True}
    operation = cut["paths"]["/repos/{owner}/{repo}"]["get"]
    assert "description" not in operation and "x-github" not in operation
    del paths["/repos/{owner}/{repo}/pulls"]
    with pytest.raises(script.SubsetError, match=r"GET /repos/\{owner\}/\{repo\}/pulls "):
        script.subset(spec, source)


# ---- OpenAPI 3.0 semantics ---------------------------------------------------------------
def test_nullable_becomes_a_type_union() -> None:
    assert json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert json_schema({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    wrapped = json_schema({"allOf": [{"$ref": "#/x"}], "nullable": True})
    assert wrapped == {"anyOf": [{"type": "null"}, {"allOf": [{"$ref": "#/x"}]}]}
    assert json_schema({"$ref": "#/x", "description": "ignored in 3.0"}) == {"$ref": "#/x"}
    assert json_schema({"type": "string"}) == {"type": "string"}  # not nullable: no null
    converted = github_schema().converted["components"]["schemas"]
    assert converted["nullable-simple-user"]["type"] == ["object", "null"]
    assert converted["simple-user"]["type"] == "object"


# ---- every answer is checked ---------------------------------------------------------------
def test_pygithub_calls_are_all_checked(fake: GitHubFake, gh: Github) -> None:
    fake.add_pull(REPO, "agent/old", state="closed", merged=True)
    fake.add_pull(
        REPO,
        "feature/rename",
        files=[{"filename": "b.md", "status": "renamed", "previous_filename": "a.md"}],
    )
    repo = gh.get_repo(REPO)
    assert repo.full_name == REPO
    assert len(list(repo.get_pulls(state="all"))) == 2
    created = repo.create_pull(base="main", head="agent/fix-docs", title="Fix docs", body="B")
    pull = repo.get_pull(created.number)
    assert pull.update() is False  # a conditional GET: 304
    assert [f.filename for f in repo.get_pull(2).get_files()] == ["b.md"]
    pull.edit(state="closed")
    assert pull.merged is False and pull.state == "closed"
    assert repo.get_pull(1).merged is True
    gh.requester.requestJsonAndCheck("DELETE", f"/repos/{REPO}/git/refs/heads/agent/fix-docs")
    checked = all_checked(fake)
    assert {c.split()[0] for c in checked} == {
        "repos/get",
        "pulls/list",
        "pulls/create",
        "pulls/get",
        "pulls/list-files",
        "pulls/update",
        "git/delete-ref",
    }
    assert "pulls/get 304" in checked and "pulls/create 201" in checked


def test_raw_answers_and_refusals_are_checked(fake: GitHubFake, http: httpx.Client) -> None:
    for n in range(5):
        fake.add_pull(REPO, f"agent/t-{n}")
    assert len(http.get(CREATE, params={"per_page": 2, "page": 2}).json()) == 2
    assert http.get(f"{CREATE}/1/files").status_code == 200
    assert http.get(f"/repos/{REPO}").json()["full_name"] == REPO
    refusal(http.get(f"{CREATE}/99"), 404)
    refusal(http.delete(f"/repos/{REPO}/git/refs/heads/nope"), 422)
    refusal(http.get(CREATE, headers={"Authorization": "token wrong"}), 401)
    anonymous = http.build_request("GET", CREATE)
    del anonymous.headers["Authorization"]
    assert refusal(http.send(anonymous), 401)["message"] == "Requires authentication"
    fake.set_access(REPO, "read")
    refusal(http.patch(f"{CREATE}/1", json={"title": "x"}), 403)
    refusal(http.delete(f"/repos/{REPO}/git/refs/heads/agent/t-1"), 403)
    fake.set_access(REPO, "none")
    refusal(http.get(f"{CREATE}/1/files"), 404)
    for kind, status in (("primary", 403), ("secondary", 403), ("abuse429", 429)):
        fake.inject(kind)  # type: ignore[arg-type]
        refusal(http.get(CREATE), status)
    fake.inject("server_error", status=503)
    assert http.get(f"{CREATE}/1").status_code == 503
    fake.inject("malformed")
    assert http.get(f"/repos/{REPO}").json() == {"message": "under maintenance"}
    checked = [r.checked for r in fake.requests]
    assert checked[-1].startswith("skipped: the malformed fault")
    assert fake.violations == []
    assert all(checked)
    assert "git/delete-ref 403" in checked  # not listed for the operation: GitHub's anywhere


# ---- the check catches wrong answers -------------------------------------------------------
def test_the_validator_refuses_wrong_answers(fake: GitHubFake) -> None:
    schema: GitHubSchema = github_schema()
    api, web = "http://127.0.0.1:1", "http://127.0.0.1:1"
    pull = github_shapes.FakePull(1, "agent/x", "main", "T", None)
    good = github_shapes.pull_json(api, web, REPO, pull)
    path = f"/repos/{REPO}/pulls/1"

    def check(status: int, body: Any, method: str = "GET", where: str = path) -> str:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return schema.check_response(method, where, status, raw, "application/json")

    assert check(200, good) == "pulls/get 200"
    wrong: list[tuple[int, Any, str, str]] = [
        (200, {k: v for k, v in good.items() if k != "head"}, "GET", path),  # required field
        (200, {**good, "state": "merged"}, "GET", path),  # GitHub's state: open or closed
        (200, {**good, "number": "1"}, "GET", path),  # wrong type
        (200, {**good, "user": None}, "GET", path),  # simple-user is not nullable
        (200, [good], "GET", path),  # a list where one object is documented
        (200, b"not json", "GET", path),
        (201, good, "PATCH", path),  # a status the operation does not document
        (418, {"message": "teapot"}, "GET", path),
        (204, b"{}", "DELETE", f"/repos/{REPO}/git/refs/heads/x"),  # a 204 has no body
        (422, {"message": "Validation Failed"}, "POST", f"/repos/{REPO}/pulls"),  # no docs url
        (404, {"detail": "Not Found"}, "GET", "/nowhere"),  # FastAPI's shape, not GitHub's
        (200, {"message": "hi"}, "GET", "/nowhere"),  # an unknown route answering 200
    ]
    for status, body, method, where in wrong:
        with pytest.raises(SchemaViolation):
            check(status, body, method, where)
    assert check(200, {**good, "milestone": None, "body": None}) == "pulls/get 200"  # nullable


def test_a_strict_fake_records_a_wrong_answer_and_the_test_would_fail(
    fake: GitHubFake, gh: Github, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        data = github_shapes.repo_json(*args, **kwargs)
        del data["owner"]
        return {**data, "private": "no"}

    monkeypatch.setattr(github_fake, "repo_json", broken)
    assert gh.get_repo(REPO).full_name == REPO  # PyGithub itself does not mind
    assert len(fake.violations) == 1
    assert "repos/get 200" in fake.violations[0] and "'owner' is a required" in fake.violations[0]
    assert fake.requests[-1].checked.startswith("violation:")
    # What tests/conftest.py's autouse fixture reads after every test (and fails on):
    assert github_fake.unreported() == fake.violations
    assert github_fake.unreported() == []  # reported once


def test_a_lenient_fake_checks_nothing(swappable: tuple[SwappableApp, UvicornThread]) -> None:
    lenient = GitHubFake(strict=False)
    lenient.add_repo(REPO)
    swappable[0].app = lenient.app
    response = httpx.get(f"{swappable[1].url}/repos/{REPO}")
    assert response.status_code == 200
    assert [r.checked for r in lenient.requests] == [""]


# ---- GitHub's refusals, on the wire ----------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "field", "resource"),
    [
        ({"base": "main", "title": "T"}, "head", "PullRequest"),
        ({"head": "agent/fix-docs", "title": "T"}, "base", "PullRequest"),
        ({"head": "agent/fix-docs", "base": "main"}, "title", "Issue"),
        ({"head": "agent/fix-docs", "base": "main", "title": ""}, "title", "Issue"),
    ],
)
def test_create_without_a_required_field_is_422(
    fake: GitHubFake, http: httpx.Client, payload: dict[str, Any], field: str, resource: str
) -> None:
    body = refusal(http.post(CREATE, json=payload), 422)
    assert body["message"] == "Validation Failed"
    assert body["errors"] == [{"resource": resource, "field": field, "code": "missing_field"}]
    assert body["documentation_url"] == github_shapes.DOCS_CREATE_PULL
    assert fake.pulls[REPO] == []
    all_checked(fake)


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("POST", CREATE, {"head": "agent/fix-docs", "base": "main", "title": 7}, "title"),
        ("POST", CREATE, {"head": ["agent/fix-docs"], "base": "main", "title": "T"}, "head"),
        (
            "POST",
            CREATE,
            {"head": "agent/fix-docs", "base": "main", "title": "T", "draft": 1},
            "draft",
        ),
        ("PATCH", f"{CREATE}/1", {"state": "merged"}, "state"),
        ("PATCH", f"{CREATE}/1", {"state": "reopened"}, "state"),
        ("PATCH", f"{CREATE}/1", {"body": 5}, "body"),
    ],
)
def test_values_githubs_description_refuses_are_422(
    fake: GitHubFake,
    http: httpx.Client,
    method: str,
    path: str,
    payload: dict[str, Any],
    field: str,
) -> None:
    fake.add_pull(REPO, "agent/open")
    body = refusal(http.request(method, path, json=payload), 422)
    assert body["message"].startswith("Invalid request.")
    assert body["errors"] == [{"resource": "PullRequest", "field": field, "code": "invalid"}]
    assert http.get(f"{CREATE}/1").json()["state"] == "open"  # nothing changed
    assert len(fake.pulls[REPO]) == 1
    all_checked(fake)


def test_patch_to_merged_is_refused_but_closing_works(fake: GitHubFake, http: httpx.Client) -> None:
    fake.add_pull(REPO, "agent/open")
    body = refusal(http.patch(f"{CREATE}/1", json={"state": "merged"}), 422)
    assert "'properties/state'" in body["message"] and '"merged"' in body["message"]
    assert body["documentation_url"] == github_shapes.DOCS_UPDATE_PULL
    closed = http.patch(f"{CREATE}/1", json={"state": "closed"})
    assert closed.status_code == 200
    assert (closed.json()["state"], closed.json()["merged"]) == ("closed", False)
    all_checked(fake)


def test_a_body_over_githubs_limit_is_422(fake: GitHubFake, http: httpx.Client) -> None:
    limit = github_shapes.MAX_BODY
    payload = {"head": "agent/fix-docs", "base": "main", "title": "T", "body": "x" * (limit + 1)}
    body = refusal(http.post(CREATE, json=payload), 422)
    assert body["errors"][0]["field"] == "body" and body["errors"][0]["code"] == "custom"
    assert http.post(CREATE, json={**payload, "body": "x" * limit}).status_code == 201
    all_checked(fake)


@pytest.mark.parametrize(
    ("method", "path", "raw", "message"),
    [
        ("POST", CREATE, b'{"head": "agent/fix-docs", ', "Problems parsing JSON"),
        ("PATCH", f"{CREATE}/1", b"state=closed", "Problems parsing JSON"),
        ("POST", CREATE, b'["agent/fix-docs", "main"]', "Body should be a JSON object"),
        ("PATCH", f"{CREATE}/1", b'"closed"', "Body should be a JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(
    fake: GitHubFake, http: httpx.Client, method: str, path: str, raw: bytes, message: str
) -> None:
    fake.add_pull(REPO, "agent/open")
    headers = {"Content-Type": "application/json"}
    body = refusal(http.request(method, path, content=raw, headers=headers), 400)
    assert body["message"] == message
    assert len(fake.pulls[REPO]) == 1 and fake.pulls[REPO][0].state == "open"
    all_checked(fake)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("GET", f"/repos/{REPO}/releases"),
        ("POST", f"/repos/{REPO}/pulls/1/merge"),
        ("PUT", f"{CREATE}/1"),  # a known path, a method it does not have
        ("DELETE", CREATE),
        ("GET", f"{CREATE}/abc"),  # a pull number that is no number
        ("GET", "/openapi.json"),  # FastAPI's own pages are not GitHub's
        ("GET", "/docs"),
    ],
)
def test_unknown_routes_are_githubs_404(
    fake: GitHubFake, http: httpx.Client, method: str, path: str
) -> None:
    fake.add_pull(REPO, "agent/open")
    body = refusal(http.request(method, path), 404)
    assert body == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }
    all_checked(fake)
