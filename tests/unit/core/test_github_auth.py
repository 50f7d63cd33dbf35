"""Which GitHub credential a process holds, and the refusals that name what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from leviathan_core.github_auth import GitHubAuthError, auth_mode, read_private_key
from leviathan_core.settings import Settings

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretbody\n-----END RSA PRIVATE KEY-----\n"
KEY = SecretStr(PEM)
NONE: dict[str, object] = {
    "token": None, "app_id": None, "key": None, "key_file": None, "installation_id": None,
}  # fmt: skip


@pytest.mark.parametrize(
    ("given", "mode"),
    [
        ({}, "none"),
        ({"token": SecretStr("ghp_x")}, "token"),
        ({"token": SecretStr("")}, "none"),
        ({"app_id": 1, "key": KEY}, "app"),
        ({"app_id": 1, "key_file": "/k.pem", "installation_id": 3}, "app"),
    ],
)
def test_modes(given: dict[str, object], mode: str) -> None:
    assert auth_mode(**{**NONE, **given}) == mode  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"app_id": 1}, "GITHUB_APP_ID is set but the App's private key is not"),
        ({"key": KEY}, "GITHUB_APP_PRIVATE_KEY set without GITHUB_APP_ID"),
        ({"key_file": "/k", "installation_id": 2},
         "GITHUB_APP_PRIVATE_KEY_FILE, GITHUB_APP_INSTALLATION_ID set without GITHUB_APP_ID"),
        ({"app_id": 1, "key": KEY, "key_file": "/k"}, "both GITHUB_APP_PRIVATE_KEY and"),
        ({"app_id": 1, "key": KEY, "token": SecretStr("ghp_x")},
         "both GITHUB_TOKEN and GITHUB_APP_ID are set"),
    ],
)  # fmt: skip
def test_refusals_name_the_variable(given: dict[str, object], named: str) -> None:
    with pytest.raises(GitHubAuthError, match=named.replace("(", r"\(").replace(")", r"\)")):
        auth_mode(**{**NONE, **given})  # type: ignore[arg-type]


def test_settings_refuse_at_start_without_echoing_the_key_or_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret_token_value")
    monkeypatch.setenv("GITHUB_APP_ID", "12")
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", PEM)
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)  # type: ignore[call-arg]
    text = str(raised.value)
    assert "both GITHUB_TOKEN and GITHUB_APP_ID are set" in text
    assert "ghp_secret_token_value" not in text
    assert "secretbody" not in text


def test_settings_with_an_app_read_the_key_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text(PEM)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, GITHUB_APP_ID=7, GITHUB_APP_PRIVATE_KEY_FILE=str(path)
    )
    app = settings.github_app()
    assert app is not None and (app.app_id, app.installation_id) == (7, None)
    assert app.private_key.get_secret_value() == PEM
    assert "secretbody" not in repr(settings) + repr(app)
    assert Settings(_env_file=None).github_app() is None  # type: ignore[call-arg]


def test_an_unreadable_or_wrong_key_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(GitHubAuthError, match=r"GITHUB_APP_PRIVATE_KEY_FILE=.*missing\.pem"):
        read_private_key(None, str(tmp_path / "missing.pem"))
    (tmp_path / "x.pem").write_text("not a key")
    with pytest.raises(GitHubAuthError, match="not a PEM private key"):
        read_private_key(None, str(tmp_path / "x.pem"))
    with pytest.raises(GitHubAuthError, match="GITHUB_APP_PRIVATE_KEY does not hold a PEM"):
        read_private_key(SecretStr("ghp_not_a_key"), None)


def test_a_key_kept_on_one_line_with_escaped_newlines_is_accepted() -> None:
    one_line = PEM.replace("\n", "\\n")
    assert read_private_key(SecretStr(one_line), None).get_secret_value() == PEM
