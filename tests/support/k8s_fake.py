"""A faithful fake of the Kubernetes API parts Leviathan uses, for the real client.

Serves batch/v1 Jobs (create, get, get status, list with label selectors and
pagination, delete) and core/v1 Pods (list, log) with the same paths, Status
bodies and metadata the API server returns, so ``kubernetes.client`` talks to
it unchanged. Tests play the Job controller through the hooks
(``start_job``, ``finish_job``, ``set_job_status``) and inspect ``requests``.

Strict by default: every object it stores or serves (Jobs and their status,
Pods, lists, Status bodies) is held to the Kubernetes OpenAPI schema
(``k8s_objects.schema_problems``). A hook that would store an invalid object
raises SchemaViolation in the test; an answer that would be invalid is
served as a 500 instead, recorded in ``violations``, and leaving the fake's
``with`` block fails the test that got it.

    with KubernetesFake() as k8s:
        api = k8s.batch_api()
"""

from __future__ import annotations

import base64
import copy
import itertools
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from kubernetes import client

from tests.support.k8s_objects import SchemaViolation, require_schema_valid
from tests.support.servers import UvicornThread

Obj = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str, name: str = "", kind: str = "jobs") -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "details": {"name": name, "group": "batch" if kind == "jobs" else "", "kind": kind},
        "code": code,
    }


def selector_matches(labels: dict[str, str], selector: str | None) -> bool:
    """Equality-based selectors: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, comma = AND."""
    for term in (t.strip() for t in (selector or "").split(",")):
        if not term:
            continue
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any


class KubernetesFake:
    """State, hooks and the ASGI app; a context manager serving it with uvicorn."""

    def __init__(self, *, strict: bool = True) -> None:
        self.strict = strict
        self.violations: list[str] = []
        self.lock = threading.RLock()  # answers taken under it may record a violation
        self.jobs: dict[tuple[str, str], Obj] = {}
        self.pods: dict[tuple[str, str], Obj] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.requests: list[RecordedRequest] = []
        self.injected: list[tuple[int, str | None]] = []  # (status, method) for next requests
        self._rv = itertools.count(1000)
        self.app = self._build_app()
        self.server: UvicornThread | None = None

    # -- serving ---------------------------------------------------------------
    def __enter__(self) -> KubernetesFake:
        self.server = UvicornThread(self.app).__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self.server is not None:
            self.server.__exit__(kind, *exc)
        if self.violations and kind is None:
            raise SchemaViolation(
                "the Kubernetes fake served objects that are not schema-valid:\n"
                + "\n".join(self.violations)
            )

    @property
    def url(self) -> str:
        assert self.server is not None, "use the fake as a context manager first"
        return self.server.url

    def batch_api(self) -> client.BatchV1Api:
        configuration = client.Configuration()
        configuration.host = self.url
        return client.BatchV1Api(client.ApiClient(configuration))

    def kubeconfig(self, namespace: str = "default") -> Obj:
        """A kubeconfig document pointing at this fake (for load_kube_config)."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake", "namespace": namespace},
                }
            ],
            "current-context": "fake",
        }

    # -- test hooks --------------------------------------------------------------
    def inject_error(self, status: int, times: int = 1, method: str | None = None) -> None:
        """Answer the next ``times`` requests (of ``method``, if given) with ``status``."""
        with self.lock:
            self.injected += [(status, method)] * times

    def job(self, namespace: str, name: str) -> Obj | None:
        with self.lock:
            found = self.jobs.get((namespace, name))
            return copy.deepcopy(found) if found else None

    def requests_for(self, method: str, path_part: str = "/jobs") -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and path_part in r.path]

    def set_job_status(self, namespace: str, name: str, **status: Any) -> None:
        """Merge raw ``status`` fields (active, succeeded, failed, conditions, ...)."""
        with self.lock:
            job = copy.deepcopy(self.jobs[(namespace, name)])
            job["status"].update(status)
            job["metadata"]["resourceVersion"] = str(next(self._rv))
            self._store_job(namespace, job, "set_job_status")

    def start_job(self, namespace: str, name: str, log: str = "") -> str:
        """Play the Job controller: one Running pod, ``active: 1``; returns the pod name."""
        with self.lock:
            job = copy.deepcopy(self.jobs[(namespace, name)])
            pod_name = f"{name}-{uuid.uuid4().hex[:5]}"
            labels = dict(job["spec"]["template"]["metadata"].get("labels") or {})
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": namespace,
                    "labels": labels,
                    "uid": str(uuid.uuid4()),
                    "creationTimestamp": now(),
                    "resourceVersion": str(next(self._rv)),
                },
                "spec": copy.deepcopy(job["spec"]["template"]["spec"]),
                "status": {"phase": "Running", "startTime": now()},
            }
            self._check(pod, "start_job")
            job["status"].update({"active": 1, "startTime": now()})
            self._store_job(namespace, job, "start_job")
            self.pods[(namespace, pod_name)] = pod
            self.logs[(namespace, pod_name)] = log
        return pod_name

    def finish_job(
        self, namespace: str, name: str, *, succeeded: bool, reason: str = "", message: str = ""
    ) -> None:
        """Play the Job controller: terminal condition, counts and pod phase."""
        kind = "Complete" if succeeded else "Failed"
        reason = reason or ("Completed" if succeeded else "BackoffLimitExceeded")
        condition = {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastProbeTime": now(),
            "lastTransitionTime": now(),
        }
        with self.lock:
            job = copy.deepcopy(self.jobs[(namespace, name)])
            job["status"].pop("active", None)
            job["status"]["succeeded" if succeeded else "failed"] = 1
            job["status"]["conditions"] = [condition]
            if succeeded:
                job["status"]["completionTime"] = now()
            self._store_job(namespace, job, "finish_job")
            for pod in self._pods_of(namespace, name):
                pod["status"]["phase"] = "Succeeded" if succeeded else "Failed"

    # -- schema ------------------------------------------------------------------------
    def _check(self, obj: Obj, where: str) -> None:
        if self.strict:
            require_schema_valid(obj, where)

    def _store_job(self, namespace: str, job: Obj, where: str) -> None:
        """Store ``job`` (the lock held) if it is schema-valid; else raise SchemaViolation."""
        self._check(job, where)
        self.jobs[(namespace, job["metadata"]["name"])] = job

    def _answer(self, body: Obj, status_code: int = 200, where: str = "answer") -> Response:
        """``body`` as JSON if it is schema-valid; else a 500, recorded in ``violations``."""
        try:
            self._check(body, where)
        except SchemaViolation as exc:
            with self.lock:
                self.violations.append(str(exc))
            return PlainTextResponse(f"the fake's answer is not schema-valid: {exc}", 500)
        return JSONResponse(body, status_code=status_code)

    def _status(
        self, code: int, reason: str, message: str, name: str = "", kind: str = "jobs"
    ) -> Response:
        return self._answer(status_body(code, reason, message, name, kind), code, "Status")

    # -- internals -------------------------------------------------------------------
    def _pods_of(self, namespace: str, job_name: str) -> list[Obj]:
        return [
            p
            for (ns, _), p in self.pods.items()
            if ns == namespace and p["metadata"]["labels"].get("job-name") == job_name
        ]

    def _record(self, request: Request, body: Any) -> Response | None:
        with self.lock:
            self.requests.append(
                RecordedRequest(request.method, request.url.path, dict(request.query_params), body)
            )
            for index, (status, method) in enumerate(self.injected):
                if method in (None, request.method):
                    del self.injected[index]
                    reason = {403: "Forbidden", 422: "Invalid", 429: "TooManyRequests"}
                    return self._status(
                        status, reason.get(status, "InternalError"), f"injected {status}"
                    )
        return None

    def _create_job(self, namespace: str, body: Obj) -> Response:
        meta = body.get("metadata") or {}
        name = meta.get("name")
        if not name or not isinstance(body.get("spec"), dict):
            return self._status(
                422, "Invalid", "Job is invalid: metadata.name and spec are required", name or ""
            )
        if meta.get("namespace", namespace) != namespace:
            return self._status(
                400,
                "BadRequest",
                "the namespace of the provided object "
                "does not match the namespace sent on the request",
                name,
            )
        with self.lock:
            if (namespace, name) in self.jobs:
                return self._status(
                    409, "AlreadyExists", f'jobs.batch "{name}" already exists', name
                )
            # The server answers with the kind and version of the path, whatever the body said.
            job = {"apiVersion": "batch/v1", "kind": "Job", **copy.deepcopy(body)}
            uid = str(uuid.uuid4())
            job["metadata"].update(
                {
                    "namespace": namespace,
                    "uid": uid,
                    "generation": 1,
                    "resourceVersion": str(next(self._rv)),
                    "creationTimestamp": now(),
                }
            )
            controller = {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
            template_meta = job["spec"].setdefault("template", {}).setdefault("metadata", {})
            template_meta["labels"] = {**(template_meta.get("labels") or {}), **controller}
            job["spec"].setdefault(
                "selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            )
            job["status"] = {}
            try:
                self._store_job(namespace, job, "create")
            except SchemaViolation as exc:
                # The API server refuses what its schema does not allow; so does the fake,
                # and the test that sent it fails when it leaves the fake.
                self.violations.append(str(exc))
                return self._status(422, "Invalid", f"Job is invalid: {exc}", name)
            return self._answer(copy.deepcopy(job), 201, "create")

    def _list(self, items: list[Obj], kind: str, query: dict[str, str]) -> Response:
        selector = query.get("labelSelector")
        if selector and "(" in selector:
            return self._status(
                400, "BadRequest", "set-based selectors are not supported by this fake"
            )
        chosen = sorted(
            (i for i in items if selector_matches(i["metadata"].get("labels") or {}, selector)),
            key=lambda i: (i["metadata"]["namespace"], i["metadata"]["name"]),
        )
        after = (
            base64.urlsafe_b64decode(query["continue"]).decode() if query.get("continue") else ""
        )
        chosen = [i for i in chosen if i["metadata"]["name"] > after]
        limit = int(query.get("limit") or 0)
        token = None
        if limit and len(chosen) > limit:
            chosen = chosen[:limit]
            token = base64.urlsafe_b64encode(chosen[-1]["metadata"]["name"].encode()).decode()
        meta = {"resourceVersion": str(next(self._rv))}
        if token:
            meta["continue"] = token
        api_version = "batch/v1" if kind == "JobList" else "v1"
        body = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": meta,
            # The server leaves kind and apiVersion out of a list's items.
            "items": [
                {k: v for k, v in copy.deepcopy(i).items() if k not in ("apiVersion", "kind")}
                for i in chosen
            ],
        }
        return self._answer(body, where=f"list {kind}")

    def _build_app(self) -> FastAPI:
        app = FastAPI()
        jobs = "/apis/batch/v1/namespaces/{namespace}/jobs"

        async def body_of(request: Request) -> Any:
            raw = await request.body()
            return (await request.json()) if raw else None

        @app.post(jobs)
        async def create(namespace: str, request: Request) -> Response:
            body = await body_of(request)
            return self._record(request, body) or self._create_job(namespace, body or {})

        @app.get(jobs)
        async def list_jobs(namespace: str, request: Request) -> Response:
            query = dict(request.query_params)
            with self.lock:
                items = [j for (ns, _), j in self.jobs.items() if ns == namespace]
            return self._record(request, None) or self._list(items, "JobList", query)

        @app.get(jobs + "/{name}")
        @app.get(jobs + "/{name}/status")
        async def read(namespace: str, name: str, request: Request) -> Response:
            injected = self._record(request, None)
            found = self.job(namespace, name)
            if injected or found is None:
                return injected or self._status(
                    404, "NotFound", f'jobs.batch "{name}" not found', name
                )
            return self._answer(found, where="read")

        @app.delete(jobs + "/{name}")
        async def delete(namespace: str, name: str, request: Request) -> Response:
            body = await body_of(request)
            injected = self._record(request, body)
            if injected:
                return injected
            with self.lock:
                job = self.jobs.pop((namespace, name), None)
                if job is None:
                    return self._status(404, "NotFound", f'jobs.batch "{name}" not found', name)
                # The REST default for batch/v1 Jobs is to orphan the pods.
                policy = request.query_params.get("propagationPolicy") or (body or {}).get(
                    "propagationPolicy", "Orphan"
                )
                if policy != "Orphan":
                    for pod in self._pods_of(namespace, name):
                        self.pods.pop((namespace, pod["metadata"]["name"]), None)
            details = {
                "name": name,
                "group": "batch",
                "kind": "jobs",
                "uid": job["metadata"]["uid"],
            }
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
            return self._answer(body, where="delete")

        @app.get("/api/v1/namespaces/{namespace}/pods")
        async def list_pods(namespace: str, request: Request) -> Response:
            with self.lock:
                items = [p for (ns, _), p in self.pods.items() if ns == namespace]
            return self._record(request, None) or self._list(
                items, "PodList", dict(request.query_params)
            )

        @app.get("/api/v1/namespaces/{namespace}/pods/{name}/log")
        async def pod_log(namespace: str, name: str, request: Request) -> Response:
            injected = self._record(request, None)
            with self.lock:
                log = self.logs.get((namespace, name))
            if injected or log is None:
                return injected or self._status(
                    404, "NotFound", f'pods "{name}" not found', name, kind="pods"
                )
            return PlainTextResponse(log)

        return app
