"""The ``agent`` change engine's program: a coding agent on an OpenAI-compatible endpoint.

It runs as ``python -I -m leviathan_worker.agent <agent-task.json>`` inside
the command engine's sandbox (``leviathan_worker.engines.agent`` starts it),
so the model's tools act on the checkout with the sandbox's rights at most,
and the tools' own checks narrow that to reads in the checkout and writes in
the task's ``allowed_paths``. There is no shell tool.

Why the official ``openai`` client rather than an agent framework such as
pydantic-ai: it is one small dependency (httpx and pydantic, which the worker
has anyway); the tool-call loop is ours, so every budget (turns, tokens from
each response's ``usage``, wall time) is checked exactly where it must be and
the conversation can be saved after every turn and resumed for repair turns;
and Chat Completions with ``tools`` is what every OpenAI-compatible server
(vLLM, llama.cpp, Ollama, LiteLLM and the hosted APIs) speaks.

This module only names the files and variables the worker and the program
share, so the worker can import it without importing the client.
"""

from __future__ import annotations

from typing import Final

# The only secret-bearing variable inside the sandbox, whatever agent_api_key_env names.
ENV_API_KEY: Final = "LEVIATHAN_AGENT_API_KEY"
# Set (by the quality gate) to a file in scratch: resume the saved conversation with it.
ENV_FEEDBACK: Final = "LEVIATHAN_AGENT_FEEDBACK"

# In the engine's scratch folder.
TASK_FILE: Final = "agent-task.json"  # the task and the settings, written by the worker
STATE_FILE: Final = "agent-state.json"  # the conversation and budgets used, after every turn
REPORT_FILE: Final = "agent-report.json"  # summary, model and usage, for the PR body
OUTCOME_FILE: Final = "agent-outcome.json"  # how the run ended (leviathan_worker.outcome)
