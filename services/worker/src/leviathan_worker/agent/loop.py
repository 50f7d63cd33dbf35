"""The tool-call loop: one Chat Completions request per turn, every budget checked.

A turn is one request. Before each, the turns, tokens (the sum of each
response's ``usage``, counted as ``max(total, prompt + completion)`` so a
server that reports a zero total cannot loosen the budget) and wall time
(carried over from earlier runs of the same attempt) are checked; the request's
timeout is what is left of the wall time. The state (conversation and budgets
used) is saved after every turn so a repair run can resume it. The client
retries 429 and 5xx itself (``max_retries``, honouring ``Retry-After``); what
still fails is reported with the endpoint's status, never the request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import openai
from openai import OpenAI
from openai.types.chat import ChatCompletion

from leviathan_worker.agent.tools import TOOLS, Workspace

REQUEST_TIMEOUT: Final = 300.0  # one request at most, whatever wall time is left
MAX_RETRIES: Final = 4


class BudgetExhausted(Exception):
    """A budget of the attempt is spent; the message names which."""


class EndpointFailed(Exception):
    """The endpoint did not answer usably (after the client's retries)."""


@dataclass(frozen=True, slots=True)
class Budgets:
    max_turns: int
    max_tokens: int
    wall_seconds: float


@dataclass(slots=True)
class State:
    """What is saved after every turn (``agent-state.json``)."""

    nonce: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    elapsed_seconds: float = 0.0
    read_bytes: int = 0
    summary: str | None = None

    @property
    def spent(self) -> int:
        return max(self.total_tokens, self.prompt_tokens + self.completion_tokens)

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, data: Any) -> State:
        """A saved state, its types checked (it sits in scratch); ValueError if not."""
        if not isinstance(data, dict) or not isinstance(data.get("nonce"), str):
            raise ValueError("not an agent state")
        messages = data.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ValueError("the saved conversation is not a list of messages")
        counts = {k: data.get(k, 0) for k in ("turns", "prompt_tokens", "completion_tokens",
                                              "total_tokens", "read_bytes")}  # fmt: skip
        elapsed = data.get("elapsed_seconds", 0.0)
        if not all(type(v) is int and v >= 0 for v in counts.values()) or not isinstance(
            elapsed, int | float
        ):
            raise ValueError("the saved budgets are not counts")
        return cls(data["nonce"], messages, **counts, elapsed_seconds=float(elapsed))


@dataclass(frozen=True, slots=True)
class Model:
    client: OpenAI
    name: str
    temperature: float
    endpoint: str  # host:port, for messages


def run(
    model: Model,
    budgets: Budgets,
    workspace: Workspace,
    state: State,
    save: Callable[[State], None],
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Turns until the model finishes; its summary. Raises BudgetExhausted, EndpointFailed."""
    started, before = clock(), state.elapsed_seconds

    def elapsed() -> float:
        return before + clock() - started

    try:
        while True:
            left = _check(budgets, state, elapsed())
            response = _ask(model, state.messages, min(left, REQUEST_TIMEOUT), elapsed, budgets)
            state.turns += 1
            _count(state, response)
            if state.spent > budgets.max_tokens:
                raise BudgetExhausted(
                    f"tokens: {state.spent} used, the budget is {budgets.max_tokens}"
                )
            summary = _act(response, workspace, state, say)
            state.read_bytes = workspace.read_bytes
            if summary is not None:
                state.summary = summary
                return summary
            state.elapsed_seconds = elapsed()
            save(state)
    finally:
        state.elapsed_seconds = elapsed()
        state.read_bytes = workspace.read_bytes
        save(state)


def _check(budgets: Budgets, state: State, elapsed: float) -> float:
    """The seconds left; BudgetExhausted when any budget is spent."""
    if state.turns >= budgets.max_turns:
        raise BudgetExhausted(f"turns: all {budgets.max_turns} used without finishing")
    if state.spent >= budgets.max_tokens:
        raise BudgetExhausted(f"tokens: {state.spent} used, the budget is {budgets.max_tokens}")
    left = budgets.wall_seconds - elapsed
    if left <= 0:
        raise BudgetExhausted(f"wall time: {budgets.wall_seconds:g} s used")
    return left


def _ask(
    model: Model,
    messages: list[dict[str, Any]],
    timeout: float,
    elapsed: Callable[[], float],
    budgets: Budgets,
) -> Any:
    try:
        # The plain JSON body, posted as is: ``chat.completions.create`` would walk
        # the whole conversation again on every turn to transform its params,
        # the loop's largest cost (bench/bench_agent.py); the answer is parsed
        # into the same ChatCompletion, and retries and errors are the client's.
        body = {
            "model": model.name,
            "messages": messages,
            "tools": TOOLS,
            "temperature": model.temperature,
        }
        return model.client.post(
            "/chat/completions", body=body, cast_to=ChatCompletion, options={"timeout": timeout}
        )
    except openai.APITimeoutError:
        if elapsed() >= budgets.wall_seconds:
            raise BudgetExhausted(f"wall time: {budgets.wall_seconds:g} s used") from None
        raise EndpointFailed(f"the model endpoint {model.endpoint} timed out") from None
    except openai.APIStatusError as exc:
        raise EndpointFailed(
            f"the model endpoint {model.endpoint} answered HTTP {exc.status_code}"
            f" (after {MAX_RETRIES} retries for 429 and 5xx)"
        ) from None
    except openai.APIConnectionError:
        raise EndpointFailed(f"cannot connect to the model endpoint {model.endpoint}") from None
    except openai.OpenAIError as exc:
        raise EndpointFailed(f"the model endpoint {model.endpoint}: {type(exc).__name__}") from None


def _count(state: State, response: Any) -> None:
    usage = getattr(response, "usage", None)
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = getattr(usage, name, 0)
        if isinstance(value, int) and value > 0:
            setattr(state, name, getattr(state, name) + value)


def _act(
    response: Any, workspace: Workspace, state: State, say: Callable[[str], None]
) -> str | None:
    """Record the answer, run its tool calls; the summary once the model is done."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        raise EndpointFailed("the model endpoint answered without a choice")
    message = choices[0].message
    calls = list(message.tool_calls or [])
    entry: dict[str, Any] = {"role": "assistant", "content": message.content}
    if calls:
        entry["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in calls
        ]  # fmt: skip
    state.messages.append(entry)
    if not calls:  # a plain answer ends the work, like finish
        say(f"turn {state.turns}: answered without a tool call; done")
        return str(message.content or "")
    summary: str | None = None
    for call in calls:
        name = call.function.name
        result = workspace.call(name, call.function.arguments)
        target = _argument(call.function.arguments, "path")[:120]
        say(f"turn {state.turns}: {name} {target} -> {_brief(result)}")
        state.messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        if name == "finish" and summary is None:
            summary = _argument(call.function.arguments, "summary")
    return summary


def _argument(arguments: str, name: str) -> str:
    """One string argument of a tool call, or "" (the arguments may be anything)."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return ""
    value = args.get(name) if isinstance(args, dict) else None
    return value if isinstance(value, str) else ""


def _brief(result: str) -> str:
    """A tool's answer for the console: its verdict, not the repository's content."""
    if result.startswith("<<<data "):
        return f"{len(result)} characters of data"
    return result.splitlines()[0][:160] if result else ""
