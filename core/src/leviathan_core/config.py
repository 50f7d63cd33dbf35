"""Target configuration (``ops/autonomy/*.yaml``) and process settings (env).

The seed's file must load unchanged, so every addition has a default; unknown
keys and bad values are refused with an error naming the file and the key,
because a typo in a guardrail setting must never silently loosen it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from leviathan_core.endpoints import is_endpoint, lists_endpoint, url_endpoint
from leviathan_core.job_contract import (
    ENV_ATTEMPT,
    ENV_ATTEMPT_NUMBER,
    ENV_CONFIG,
    ENV_CONTROL_PLANE_TOKEN,
    ENV_CONTROL_PLANE_URL,
    ENV_CREATED_EVENT,
    ENV_FENCE,
    ENV_GITHUB_TOKEN,
    ENV_TARGET,
    ENV_TASK,
    ENV_WORKSPACE_DIR,
)
from leviathan_core.pr_options import PullRequestOptions
from leviathan_core.scope import ScopeError, normalize_prefix

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Kubernetes' names for a Secret (a DNS-1123 subdomain) and for a key inside one.
_DNS_PART = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SECRET_NAME = re.compile(rf"^(?=.{{1,253}}$){_DNS_PART}(\.{_DNS_PART})*$")
SECRET_KEY = re.compile(r"^(?!\.{1,2}$)[-._a-zA-Z0-9]{1,253}$")
# The worker's own variables: the agent's key must not be read from (or, in a Job,
# be set as) one of them: a token among them would be sent to the endpoint.
WORKER_VARIABLES = frozenset(
    {
        ENV_ATTEMPT, ENV_ATTEMPT_NUMBER, ENV_CONFIG, ENV_CONTROL_PLANE_TOKEN,
        ENV_CONTROL_PLANE_URL, ENV_CREATED_EVENT, ENV_FENCE, ENV_GITHUB_TOKEN, ENV_TARGET,
        ENV_TASK, ENV_WORKSPACE_DIR, "LEVIATHAN_DATA_DIR", "LEVIATHAN_CACHE_DIR",
        "HOME", "TMPDIR", "PATH", "LANG", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
    }
)  # fmt: skip
CONFIG_SIZE_CAP = 1024 * 1024

NonNegative = Annotated[StrictInt, Field(ge=0)]
Positive = Annotated[StrictInt, Field(ge=1)]


def _matching(pattern: re.Pattern[str], value: str, what: str) -> str:
    """``value`` when it fits ``pattern``; else the error "'value' is not <what>"."""
    if not pattern.fullmatch(value):
        raise ValueError(f"{value!r} is not {what}")
    return value


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names file and key."""


class AutonomyConfig(BaseModel):
    """One target: what to watch, which paths may change, and the caps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_id: str
    target_repo_url: str = Field(min_length=1)
    target_branch: str = Field(default="main", min_length=1)
    allowed_path_prefixes: list[str] = Field(default_factory=lambda: [".leviathan/", "docs/"])
    max_open_prs: NonNegative = 1
    max_running_attempts: NonNegative = 1
    max_attempts_per_task: Positive = 2
    circuit_breaker_failures: Positive = 2
    schedule_cron: str = "*/5 * * * *"
    schedule_spread_seconds: NonNegative = 300
    backlog_read: Literal["auto", "api", "git"] = "auto"
    attempt_timeout_seconds: Positive = 1800
    control_plane_url: str = "http://127.0.0.1:8000"
    worker_image: str = "leviathan-worker:local"
    worker_namespace: str = "leviathan"
    workspace_dir: str = "/workspace"
    # Additions beyond the seed's keys; each has a default.
    autonomy_enabled: StrictBool = True
    allow_completed_dependencies: StrictBool = False
    executor: Literal["kubernetes", "local"] = "kubernetes"
    forge: Literal["github", "local"] = "github"
    github_api_url: str = "https://api.github.com"
    change_engine: Literal["backlog-propose", "docs-template", "command", "agent"] = (
        "backlog-propose"
    )
    change_command: list[str] | None = None
    change_command_timeout_seconds: Positive = 600
    # The quality gate: a command run on the engine's tree after it wrote its change,
    # in the same sandbox (no secret); a failure is checks_failed, after up to
    # verify_repair_turns repairs by an engine that can repair. None: no gate.
    verify_command: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, min_length=1
    )
    verify_timeout_seconds: Positive = 300
    verify_repair_turns: NonNegative = 2
    # The command engine runs in a bubblewrap sandbox; where none can be made it
    # refuses to run unless this is true (then it runs as the worker's user).
    allow_unsandboxed_engine: StrictBool = False
    # host:port endpoints the engine must reach (e.g. a model). Empty: no network.
    # Locally only on/off is enforced; on Kubernetes it is meant for egress policy.
    engine_network: list[str] = Field(default_factory=list)
    # change_engine: agent, a model on an OpenAI-compatible endpoint (which
    # engine_network must list). The key is read from the worker's variable named
    # here, never from this file. Budgets are per attempt, repair turns included.
    agent_base_url: str | None = None
    agent_model: str | None = Field(default=None, min_length=1)
    agent_api_key_env: str = "LEVIATHAN_AGENT_API_KEY"
    # On Kubernetes the Job's engine container, and no other, gets the key as that
    # variable by secretKeyRef to this Secret's key; the Secret is never read here.
    agent_api_key_secret: str = "leviathan-agent"  # noqa: S105 - a name, not a value
    agent_api_key_secret_key: str = "api-key"  # noqa: S105 - a name, not a value
    agent_temperature: Annotated[StrictFloat, Field(ge=0, le=2)] = 0.0
    agent_max_turns: Positive = 20
    agent_max_tokens: Positive = 200_000
    agent_wall_seconds: Positive = 600
    local_forge_dir: str | None = None
    attempt_grace_seconds: NonNegative = 120
    reconcile_interval_seconds: Positive = 60
    job_ttl_seconds: NonNegative = 3600
    # Half-open breaker: this long after the last failure, one probe attempt may
    # run; it closes the breaker by succeeding. None: only a manual reset closes it.
    breaker_probe_after_seconds: Positive | None = None
    # Model tokens the target may spend per UTC day (leviathan_core.budgets);
    # None: no limit. Reached, no attempt starts until the next day.
    daily_token_budget: NonNegative | None = None
    # The dashboard issue (leviathan_core.dashboard): one GitHub issue, found by this label.
    dashboard_issue: StrictBool = False
    dashboard_label: str = Field(default="leviathan-dashboard", pattern=r"^[^,\s][^,]{0,49}$")
    pull_request: PullRequestOptions = Field(default_factory=PullRequestOptions)

    @field_validator("target_id", "worker_namespace")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        return _matching(
            DNS_LABEL,
            value,
            "DNS-safe: use 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )

    @field_validator("allowed_path_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one prefix is needed (e.g. docs/)")
        try:
            return [normalize_prefix(p) for p in value]
        except ScopeError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value) or len(value.split()) != 5:
            raise ValueError(f"{value!r} is not a 5-field cron expression (e.g. '*/5 * * * *')")
        return value

    @field_validator("control_plane_url", "github_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("agent_base_url")
    @classmethod
    def _agent_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url_endpoint(value)  # an http(s) URL with a host and a valid port
        if "@" in urlsplit(value).netloc:
            raise ValueError("must not hold credentials: the key comes from agent_api_key_env")
        return value.rstrip("/")

    @field_validator("agent_api_key_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        _matching(ENV_NAME, value, "an environment variable name (e.g. MY_KEY)")
        if value in WORKER_VARIABLES:
            raise ValueError(f"{value!r} is one of the worker's own variables: name another")
        return value

    @field_validator("agent_api_key_secret")
    @classmethod
    def _secret_name(cls, value: str) -> str:
        return _matching(
            SECRET_NAME,
            value,
            "a Secret name (a DNS-1123 subdomain: lowercase letters, "
            "digits, '-' and '.', at most 253 characters, e.g. leviathan-agent)",
        )

    @field_validator("agent_api_key_secret_key")
    @classmethod
    def _secret_key(cls, value: str) -> str:
        return _matching(
            SECRET_KEY,
            value,
            "a key of a Secret (letters, digits, '-', '_' and '.', "
            "at most 253 characters, e.g. api-key)",
        )

    @field_validator("engine_network")
    @classmethod
    def _endpoints(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not is_endpoint(entry):
                raise ValueError(
                    f"{entry!r} is not host:port (a DNS name, an IPv4 address or "
                    "[IPv6], and a port 1-65535, e.g. api.openai.com:443)"
                )
        return value

    @field_validator("target_repo_url")
    @classmethod
    def _repo_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://", "file://", "/")):
            raise ValueError(f"{value!r} must be an https:// or file:// URL or an absolute path")
        return value

    @model_validator(mode="after")
    def _backlog_read_fits(self) -> AutonomyConfig:
        """The contents API exists only on GitHub."""
        if self.backlog_read == "api" and self.forge != "github":
            raise ValueError("backlog_read 'api' needs forge 'github' (use 'auto' or 'git')")
        return self

    @model_validator(mode="after")
    def _agent_ready(self) -> AutonomyConfig:
        """The agent engine needs its endpoint and model, and the network to reach it."""
        if self.change_engine != "agent":
            return self
        if self.agent_base_url is None or self.agent_model is None:
            raise ValueError("change_engine 'agent' needs agent_base_url and agent_model")
        endpoint = url_endpoint(self.agent_base_url)
        if not lists_endpoint(self.engine_network, endpoint):
            raise ValueError(
                f"change_engine 'agent' needs engine_network to list {endpoint} "
                f"(the endpoint of agent_base_url {self.agent_base_url})"
            )
        return self

    @model_validator(mode="after")
    def _dashboard_forge(self) -> AutonomyConfig:
        if self.dashboard_issue and self.forge != "github":
            raise ValueError(
                "dashboard_issue: true needs forge: github (a local forge has no issues)"
            )
        return self

    @property
    def github_repo(self) -> str | None:
        """``owner/name`` for a GitHub-style https URL, else None."""
        match = re.match(r"^https?://[^/]+/([^/]+)/([^/]+?)(?:\.git)?/?$", self.target_repo_url)
        return f"{match.group(1)}/{match.group(2)}" if match else None


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(document)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; docs/reference/configuration.md lists the keys)"
        lines.append(f"{source}: key '{key}': {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str) -> AutonomyConfig:
    """Validate an already loaded mapping, naming ``source`` in every error."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    try:
        return AutonomyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None


def load_config(path: str | Path) -> AutonomyConfig:
    """Load one target file."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read configuration: {exc.strerror or exc}") from None
    if len(raw) > CONFIG_SIZE_CAP:
        raise ConfigError(f"{file}: configuration larger than {CONFIG_SIZE_CAP} bytes")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{file}: not valid YAML{where}: {exc}") from None
    return parse_config(data, str(file))


def load_configs(path: str | Path) -> dict[str, AutonomyConfig]:
    """Every target under ``path`` (``target_files``); a ConfigError lists every problem."""
    from leviathan_core.target_files import load_target_set  # it builds on this module

    return load_target_set(path).require_valid()
