"""Pick the forge a target's configuration asks for.

The one place that knows which settings each forge needs, so the scheduler,
the reconciler and the worker all talk to the same forge the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leviathan_adapters.forge.base import Forge
from leviathan_adapters.forge.local import LocalForge, local_repo_path
from leviathan_adapters.github_credentials import app_tokens
from leviathan_core.config import AutonomyConfig, ConfigError
from leviathan_core.settings import Settings


def local_store_dir(config: AutonomyConfig, settings: Settings) -> Path:
    """``local_forge_dir`` from the config, else ``<data_dir>/forge/<target_id>``."""
    if config.local_forge_dir:
        return Path(config.local_forge_dir)
    return Path(settings.data_dir) / "forge" / config.target_id


def make_forge(
    config: AutonomyConfig,
    settings: Settings,
    *,
    github: Any = None,
    budget: Any = None,
    shared: Any = None,
) -> Forge:
    """A GitHubForge or LocalForge for ``config``; a ConfigError names the bad key.

    ``github``, ``budget``, ``shared``: a PyGithub client, a rate-limit hold and an
    ETag cache shared by the GitHub targets of one token (the scheduler's ``Runtime``).
    """
    if config.forge == "github":
        repo = config.github_repo
        if repo is None:
            raise ConfigError(
                f"target {config.target_id}: key 'target_repo_url': "
                f"{config.target_repo_url!r} is not an https://<host>/<owner>/<name> URL, "
                "which forge: github needs"
            )
        # Imported here: PyGithub costs seconds of start-up that local targets never need.
        from leviathan_adapters.forge.github import GitHubForge

        tokens = app_tokens(settings, config.github_api_url, repo)
        if tokens is not None:  # a GitHub App (settings refuse an App and a token at once)
            from leviathan_adapters.forge.github_app import GitHubAppForge

            return GitHubAppForge(
                repo,
                tokens,
                api_url=config.github_api_url,
                github=github,
                budget=budget,
                shared=shared,
            )
        return GitHubForge(
            repo,
            settings.github_token,
            api_url=config.github_api_url,
            github=github,
            budget=budget,
            shared=shared,
        )
    try:
        repo_path = local_repo_path(config.target_repo_url)
    except ValueError as exc:
        raise ConfigError(f"target {config.target_id}: key 'target_repo_url': {exc}") from None
    return LocalForge(repo_path, local_store_dir(config, settings))
