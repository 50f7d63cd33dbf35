"""Hold the GitHub fake's answers to GitHub's own REST description.

``tests/fixtures/github-openapi/subset.json`` is GitHub's ``api.github.com.json``
(OpenAPI 3.0.3, from the npm package recorded in its ``x-source``) cut down by
``scripts/github_openapi_subset.py`` to the operations the fake serves. This
module turns it into JSON Schema (2020-12) and checks one answer at a time:

- the request's method and path must be one of those operations (else only
  GitHub's 404 is a right answer);
- the status must be documented for the operation, or be one GitHub gives on
  any operation (``ANY_OPERATION``: authentication, rate limits, repositories
  the token cannot see, outages, unparsable bodies), which GitHub's docs
  describe once for the whole API rather than per operation;
- a JSON body must validate against the schema documented for that status
  (for the statuses of ``ANY_OPERATION``: GitHub's ``basic-error`` with its
  ``message``); a status documented without content, and 204/304, carry none.

OpenAPI 3.0's ``nullable: true`` becomes a JSON Schema type union (or an
``anyOf`` with ``null`` when the schema has no plain type), and the siblings of a
``$ref`` are dropped, as 3.0 ignores them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import referencing
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing.jsonschema import DRAFT202012

SUBSET = Path(__file__).resolve().parents[1] / "fixtures/github-openapi/subset.json"
URN = "urn:leviathan:github-openapi-subset"
_MAPS = ("properties", "patternProperties")
_LISTS = ("allOf", "anyOf", "oneOf")
_ONE = ("items", "not", "additionalProperties")
# Statuses GitHub may answer on any operation, whether or not the operation lists them.
ANY_OPERATION = frozenset({304, 400, 401, 403, 404, 429, 500, 502, 503, 504})
NO_BODY = frozenset({204, 304})
ERROR_SCHEMA = {
    "allOf": [{"$ref": f"{URN}#/components/schemas/basic-error"}, {"required": ["message"]}]
}


class SchemaViolation(AssertionError):
    """An answer GitHub's description does not allow."""


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec.get("operationId") or f"{self.method} {self.template}")

    @property
    def docs(self) -> str:
        return str(self.spec.get("externalDocs", {}).get("url", ""))


def json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema object as JSON Schema 2020-12."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": schema["$ref"]}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key in _MAPS and isinstance(value, dict):
            out[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key in _LISTS and isinstance(value, list):
            out[key] = [json_schema(sub) for sub in value]
        elif key in _ONE:
            out[key] = json_schema(value)
        else:
            out[key] = value
    if schema.get("nullable") is True:
        plain = isinstance(out.get("type"), str) and not any(k in out for k in _LISTS)
        if not plain:
            return {"anyOf": [{"type": "null"}, out]}
        out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _convert(document: dict[str, Any]) -> dict[str, Any]:
    """Every schema in the document (components, parameters, bodies, headers) converted."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: json_schema(value) if key == "schema" else walk(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    converted: dict[str, Any] = walk(document)
    schemas = document.get("components", {}).get("schemas", {})
    converted["components"]["schemas"] = {k: json_schema(v) for k, v in schemas.items()}
    return converted


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class GitHubSchema:
    """The subset as validators: ``check_response`` raises ``SchemaViolation``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.source = document.get("x-source", {})
        self.converted = _convert(document)
        resource = DRAFT202012.create_resource(self.converted)
        self._registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            URN, resource
        )
        self._routes: list[tuple[str, re.Pattern[str], str, dict[str, Any]]] = []
        for template, item in document["paths"].items():
            pattern = re.escape(template)
            for name in re.findall(r"\{(\w+)\}", template):
                part = ".+" if name in ("ref", "path") else "[^/]+"  # refs, paths: slashes
                pattern = pattern.replace(re.escape("{" + name + "}"), part)
            for method, spec in item.items():
                self._routes.append((method.upper(), re.compile(pattern), template, spec))
        self._validators: dict[str, Draft202012Validator] = {}
        self._passed: set[tuple[str, str]] = set()  # (schema, body digest) already valid

    def operation(self, method: str, path: str) -> Operation | None:
        """The documented operation a request is (``path`` without any API prefix)."""
        for verb, pattern, template, spec in self._routes:
            if verb == method.upper() and pattern.fullmatch(path):
                return Operation(verb, template, spec)
        return None

    def validator(self, ref: str) -> Draft202012Validator:
        if ref not in self._validators:
            schema = ERROR_SCHEMA if ref == "error" else {"$ref": f"{URN}#{ref}"}
            self._validators[ref] = Draft202012Validator(schema, registry=self._registry)
        return self._validators[ref]

    def response_schema(self, operation: Operation, status: int) -> str | None:
        """The pointer to the JSON schema of ``status`` (``"error"``: ANY_OPERATION's),
        ``None`` for a documented status without content; SchemaViolation when undocumented."""
        responses = operation.spec.get("responses", {})
        documented = str(status) in responses
        if not documented:
            if status in ANY_OPERATION:
                return None if status in NO_BODY else "error"
            raise SchemaViolation(
                f"{operation.name}: status {status} is not documented "
                f"(documented: {', '.join(sorted(responses))})"
            )
        where = ("paths", operation.template, operation.method.lower(), "responses", str(status))
        response = responses[str(status)]
        if "$ref" in response:
            kind_name = response["$ref"].removeprefix("#/").split("/")
            where, response = tuple(kind_name), self._at(kind_name)
        if "application/json" not in response.get("content", {}):
            return None
        return "/" + _pointer(*where, "content", "application/json", "schema")

    def _at(self, parts: list[str]) -> dict[str, Any]:
        node: Any = self.document
        for part in parts:
            node = node[part]
        return dict(node)

    def request_schema(self, operation: Operation) -> Draft202012Validator | None:
        body = operation.spec.get("requestBody", {})
        if "application/json" not in body.get("content", {}):
            return None
        where = ("paths", operation.template, operation.method.lower(), "requestBody")
        return self.validator("/" + _pointer(*where, "content", "application/json", "schema"))

    def check_response(
        self, method: str, path: str, status: int, body: bytes, content_type: str = ""
    ) -> str:
        """What was checked (``"<operationId> <status>"``); SchemaViolation when wrong."""
        operation = self.operation(method, path)
        if operation is None:
            if status not in (401, 404):
                raise SchemaViolation(f"{method} {path} is no operation of GitHub's, not 404")
            self._check_body("error", method, path, status, body, content_type)
            return f"unknown route {status}"
        ref = self.response_schema(operation, status)
        if status in NO_BODY or ref is None:
            if status in NO_BODY and body.strip():
                raise SchemaViolation(f"{operation.name}: a {status} carries no body")
            return f"{operation.name} {status}"
        self._check_body(ref, operation.name, path, status, body, content_type)
        return f"{operation.name} {status}"

    def _check_body(
        self, ref: str, name: str, path: str, status: int, body: bytes, content_type: str
    ) -> None:
        if content_type and "json" not in content_type:
            raise SchemaViolation(f"{name} {status}: content type {content_type!r}, not JSON")
        key = (ref, hashlib.sha256(body).hexdigest())
        if key in self._passed:  # the same answer again (e.g. a page re-read): valid before
            return
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise SchemaViolation(f"{name} {status}: the body is not JSON ({exc})") from None
        errors = sorted(self.validator(ref).iter_errors(data), key=lambda e: list(e.path))
        if errors:
            shown = "; ".join(
                f"at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message[:200]}"
                for e in errors[:5]
            )
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise SchemaViolation(f"{name} {status} for {path}: {shown}{more}")
        self._passed.add(key)


@cache
def github_schema(path: Path = SUBSET) -> GitHubSchema:
    """The subset, loaded once per process."""
    return GitHubSchema(json.loads(path.read_text()))
