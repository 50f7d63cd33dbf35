"""A scripted OpenAI-compatible endpoint: ``POST /v1/chat/completions`` over a real socket.

Each request takes the next scripted answer (a tool-call reply, a final
message, or an error status with ``Retry-After``); when the script is spent,
``default`` answers (None: a 500 that says so). Every request is recorded,
headers and parsed body, so a test can read the prompt the agent sent, the
tool results it quoted, and the key it presented.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-model"


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


_ids = itertools.count(1)


def _completion(message: dict[str, Any], finish: str, usage: tuple[int, int]) -> dict[str, Any]:
    prompt, completion = usage
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion},
    }  # fmt: skip


def call(name: str, usage: tuple[int, int] = (100, 20), **arguments: Any) -> Answer:
    """The model calls one tool."""
    return calls([(name, arguments)], usage)


def calls(tools: list[tuple[str, dict[str, Any]]], usage: tuple[int, int] = (100, 20)) -> Answer:
    """The model calls several tools in one turn."""
    tool_calls = [
        {"id": f"call_{next(_ids)}", "type": "function",
         "function": {"name": name, "arguments": json.dumps(args)}}
        for name, args in tools
    ]  # fmt: skip
    message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
    return Answer(body=_completion(message, "tool_calls", usage))


def final(content: str, usage: tuple[int, int] = (100, 20)) -> Answer:
    """The model answers without a tool call."""
    message = {"role": "assistant", "content": content}
    return Answer(body=_completion(message, "stop", usage))


def error(status: int, retry_after_ms: int | None = 10) -> Answer:
    headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}
    body = {"error": {"message": f"scripted {status}", "type": "server_error", "code": None}}
    return Answer(status, body, headers)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body.get("messages", [])
        return messages


class FakeOpenAI:
    """The server's script and record; serve with ``running()``."""

    def __init__(self) -> None:
        self.script: list[Answer] = []
        self.default: Answer | None = None
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def then(self, *answers: Answer) -> FakeOpenAI:
        self.script.extend(answers)
        return self

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        with self.lock:
            self.requests.append(Recorded(path, headers, body))
            if path != "/v1/chat/completions":
                return Answer(404, {"error": {"message": f"no route {path}"}})
            if self.script:
                return self.script.pop(0)
        return self.default or error(500, None)

    def contents(self) -> str:
        """Every message content of every request, for searching."""
        return json.dumps([r.messages for r in self.requests])


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.answer(self.path, headers, self.rfile.read(length))
            data = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def running(fake: FakeOpenAI | None = None) -> Iterator[FakeOpenAI]:
    """Serve ``fake`` on a free port of 127.0.0.1 in a thread."""
    fake = fake or FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
