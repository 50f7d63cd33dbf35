"""Cut GitHub's REST description down to the operations Leviathan's GitHub fake serves.

GitHub publishes its REST API as an OpenAPI 3.0.3 document, ``api.github.com.json``,
republished on npm by the package ``@octokit/openapi`` (``generated/``). This script
keeps only the operations in ``OPERATIONS`` (those ``tests/support/github_fake.py``
serves and ``GitHubForge`` calls), with their parameters, request bodies and
responses, plus every component they reach through ``$ref``, so that the output is
a self-contained OpenAPI document. Prose (``description`` of schemas and
parameters, ``title``, ``example``/``examples``, ``x-github``/``x-octokit``) is
dropped to keep it small; every constraint stays as GitHub wrote it (including
OpenAPI 3.0's ``nullable``). The top-level ``x-source`` key records the package,
its version and the digest of the file it was cut from.

    python scripts/github_openapi_subset.py --npm 23.0.2        # npm pack, then cut
    python scripts/github_openapi_subset.py octokit-openapi-23.0.2.tgz
    python scripts/github_openapi_subset.py path/to/api.github.com.json
    python scripts/github_openapi_subset.py --check ...          # exit 1 when stale
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[1]
OUT: Final = REPO / "tests/fixtures/github-openapi/subset.json"
PACKAGE: Final = "@octokit/openapi"
MEMBER: Final = "generated/api.github.com.json"

# (path template, method): what the fake serves and the forge calls.
OPERATIONS: Final = (
    ("/repos/{owner}/{repo}", "get"),
    ("/repos/{owner}/{repo}/pulls", "get"),
    ("/repos/{owner}/{repo}/pulls", "post"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}", "get"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}", "patch"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/files", "get"),
    ("/repos/{owner}/{repo}/git/refs/{ref}", "delete"),
    ("/repos/{owner}/{repo}/contents/{path}", "get"),
    ("/repos/{owner}/{repo}/issues", "get"),
    ("/repos/{owner}/{repo}/issues", "post"),
    ("/repos/{owner}/{repo}/issues/{issue_number}", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}", "patch"),
    ("/repos/{owner}/{repo}/collaborators/{username}/permission", "get"),
    ("/app/installations/{installation_id}/access_tokens", "post"),
    ("/repos/{owner}/{repo}/installation", "get"),
    ("/repos/{owner}/{repo}/labels", "get"),
    ("/repos/{owner}/{repo}/labels", "post"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/labels", "post"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", "post"),
)
OPERATION_KEYS: Final = (
    "operationId",
    "summary",
    "externalDocs",
    "parameters",
    "requestBody",
    "responses",
)
PROSE: Final = frozenset({"description", "title", "example", "examples"})
SCHEMA_MAPS: Final = ("properties", "patternProperties", "$defs", "definitions")
SCHEMA_LISTS: Final = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_ONE: Final = ("items", "not", "additionalProperties", "contains")


class SubsetError(RuntimeError):
    """The source lacks something the subset needs."""


def clean_schema(schema: Any) -> Any:
    """A schema without prose; property names are kept whatever they are called."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in PROSE or key.startswith("x-"):
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: clean_schema(sub) for name, sub in value.items()}
        elif key in SCHEMA_LISTS and isinstance(value, list):
            out[key] = [clean_schema(sub) for sub in value]
        elif key in SCHEMA_ONE:
            out[key] = clean_schema(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def clean_content(content: dict[str, Any]) -> dict[str, Any]:
    """Media types of a request body or response: their schemas, without examples."""
    return {
        media: {"schema": clean_schema(body["schema"])} if "schema" in body else {}
        for media, body in content.items()
    }


def clean_headers(headers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, header in headers.items():
        if "$ref" in header:
            out[name] = {"$ref": header["$ref"]}
        else:
            out[name] = {k: clean_schema(v) if k == "schema" else v for k, v in header.items()}
            for key in ("description", "example", "examples"):
                out[name].pop(key, None)
    return out


def clean_response(response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in response:
        return {"$ref": response["$ref"]}
    out: dict[str, Any] = {"description": response.get("description", "")}  # required field
    if "headers" in response:
        out["headers"] = clean_headers(response["headers"])
    if "content" in response:
        out["content"] = clean_content(response["content"])
    return out


def clean_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in parameter:
        return {"$ref": parameter["$ref"]}
    out = {k: v for k, v in parameter.items() if k not in PROSE and not k.startswith("x-")}
    if "schema" in out:
        out["schema"] = clean_schema(out["schema"])
    return out


def clean_request_body(body: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in body:
        return {"$ref": body["$ref"]}
    out: dict[str, Any] = {"content": clean_content(body.get("content", {}))}
    if "required" in body:
        out["required"] = body["required"]
    return out


def clean_operation(operation: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in OPERATION_KEYS:
        if key not in operation:
            continue
        value = operation[key]
        if key == "parameters":
            out[key] = [clean_parameter(p) for p in value]
        elif key == "requestBody":
            out[key] = clean_request_body(value)
        elif key == "responses":
            out[key] = {status: clean_response(r) for status, r in value.items()}
        elif key == "externalDocs":
            out[key] = {"url": value["url"]}
        else:
            out[key] = copy.deepcopy(value)
    return out


CLEANERS: Final = {
    "schemas": clean_schema,
    "responses": clean_response,
    "parameters": clean_parameter,
    "headers": lambda h: clean_headers({"h": h})["h"],
    "requestBodies": clean_request_body,
}


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` string inside ``node``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def split_ref(ref: str) -> tuple[str, str]:
    """``#/components/<kind>/<name>`` -> (kind, name)."""
    parts = ref.split("/")
    if len(parts) != 4 or parts[:2] != ["#", "components"] or parts[2] not in CLEANERS:
        raise SubsetError(f"unsupported $ref {ref!r}")
    return parts[2], parts[3].replace("~1", "/").replace("~0", "~")


def subset(spec: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """The self-contained document for ``OPERATIONS`` out of the full description."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method in OPERATIONS:
        operation = spec.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            raise SubsetError(f"{method.upper()} {path} is not in the source document")
        paths.setdefault(path, {})[method] = clean_operation(operation)
    components: dict[str, dict[str, Any]] = {}
    pending = sorted(set(refs(paths)))
    while pending:
        kind, name = split_ref(pending.pop())
        if name in components.get(kind, {}):
            continue
        found = spec.get("components", {}).get(kind, {}).get(name)
        if found is None:
            raise SubsetError(f"#/components/{kind}/{name} is not in the source document")
        cleaned = CLEANERS[kind](found)
        components.setdefault(kind, {})[name] = cleaned
        pending.extend(sorted(set(refs(cleaned))))
    document = {
        "openapi": spec["openapi"],
        "info": {
            "title": "GitHub REST API: the operations Leviathan's GitHub fake serves",
            "version": str(spec.get("info", {}).get("version", source["version"])),
        },
        "x-source": source,
        "paths": paths,
        "components": {kind: dict(sorted(v.items())) for kind, v in sorted(components.items())},
    }
    dangling = [r for r in refs(document) if not resolves(document, r)]
    if dangling:
        raise SubsetError(f"unresolved $ref in the subset: {sorted(set(dangling))}")
    return document


def resolves(document: dict[str, Any], ref: str) -> bool:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def read_source(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The description's bytes and the package metadata, from a tarball or a JSON file."""
    if path.suffix in (".tgz", ".gz"):
        with tarfile.open(path) as archive:

            def member(name: str) -> bytes:
                handle = archive.extractfile(f"package/{name}")
                if handle is None:
                    raise SubsetError(f"{path} has no package/{name}")
                return handle.read()

            meta = json.loads(member("package.json"))
            return member(MEMBER), {"package": meta["name"], "version": meta["version"]}
    raw = path.read_bytes()
    for folder in (path.parent, path.parent.parent):
        manifest = folder / "package.json"
        if manifest.is_file():
            meta = json.loads(manifest.read_text())
            return raw, {"package": meta["name"], "version": meta["version"]}
    version = json.load(io.BytesIO(raw)).get("info", {}).get("version", "unknown")
    return raw, {"package": PACKAGE, "version": str(version)}


def npm_pack(version: str, folder: Path) -> Path:
    """``npm pack @octokit/openapi@<version>`` into ``folder``; the tarball's path."""
    done = subprocess.run(
        ["npm", "pack", "--silent", f"{PACKAGE}@{version}"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SubsetError(f"npm pack {PACKAGE}@{version} failed: {done.stderr.strip()}")
    return folder / done.stdout.strip().splitlines()[-1]


def render(raw: bytes, meta: dict[str, Any]) -> str:
    spec = json.loads(raw)
    source = {
        **meta,
        "file": MEMBER,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "generator": "scripts/github_openapi_subset.py",
        "dropped": "descriptions, titles, examples and x- extensions; constraints are GitHub's",
    }
    return json.dumps(subset(spec, source), indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("source", nargs="?", type=Path, help="the package tarball or the JSON")
    where.add_argument("--npm", metavar="VERSION", help=f"fetch {PACKAGE}@VERSION with npm pack")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 when --out differs")
    args = parser.parse_args(argv)
    try:
        if args.npm:
            with tempfile.TemporaryDirectory() as tmp:
                raw, meta = read_source(npm_pack(args.npm, Path(tmp)))
        else:
            raw, meta = read_source(args.source)
        text = render(raw, meta)
    except (SubsetError, OSError, KeyError, ValueError, tarfile.TarError) as exc:
        print(f"github_openapi_subset: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is stale: rerun without --check", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(text)} bytes) from {meta['package']}@{meta['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
