"""GitHub App credentials with the real PyGithub against the fake: JWT, tokens, refresh.

The fake holds the App's public key and checks every JWT's RS256 signature,
issuer and lifetime; it has no personal access token, so every API call below
succeeds only with an installation token it minted and that has not expired.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr
from tests.support.github_app_fake import AppAuthority, key_pair
from tests.support.github_fake import GitHubFake
from tests.support.servers import UvicornThread

from leviathan_adapters.forge.base import ForgeUnavailable
from leviathan_adapters.forge.github_app import GitHubAppError, GitHubAppForge, InstallationTokens
from leviathan_core.github_auth import GitHubApp

APP_ID = 4242
INSTALLATION = 77
REPO = "acme/site"


@dataclass
class Clock:
    """The client's clock, moved by the test together with the fake's token clock."""

    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class AppSetup:
    fake: GitHubFake
    authority: AppAuthority
    url: str
    clock: Clock

    def tokens(
        self, key: str | None = None, installation: int | None = INSTALLATION, **kwargs: Any
    ) -> InstallationTokens:
        app = GitHubApp(APP_ID, SecretStr(key or key_pair()[0]), installation)
        return InstallationTokens(app, api_url=self.url, now=self.clock.now, **kwargs)

    def advance(self, seconds: float) -> None:
        self.authority.advance(seconds)
        self.clock.offset += timedelta(seconds=seconds)

    def minted(self) -> int:
        return sum(1 for r in self.fake.requests if r.path.endswith("/access_tokens"))


@pytest.fixture
def app() -> Iterator[AppSetup]:
    fake = GitHubFake()  # no personal access token: only the App's tokens open it
    fake.add_repo(REPO)
    fake.push_branch(REPO, "agent/x", [{"filename": "docs/x.md", "status": "added"}])
    authority = AppAuthority(APP_ID, key_pair()[1])
    authority.install(INSTALLATION, REPO)
    fake.use_app(authority)
    with UvicornThread(fake.app) as server:
        yield AppSetup(fake, authority, server.url, Clock())


def test_a_token_is_minted_once_and_shared_until_it_nears_expiry(app: AppSetup) -> None:
    tokens = app.tokens()
    forge = GitHubAppForge(REPO, tokens, api_url=app.url)

    assert forge.open_agent_prs() == []
    first = tokens.token().get_secret_value()
    pr = forge.create_pull_request(branch="agent/x", base="main", title="t", body="b")
    assert forge.pull_request_files(pr.number) == ["docs/x.md"]

    assert app.minted() == 1
    assert app.authority.state(first) == "live"
    assert tokens.issued == [first]
    assert first.startswith("ghs_")
    sent = [r for r in app.fake.requests if not r.path.endswith("/access_tokens")]
    assert all(r.status < 400 for r in sent)


def test_an_expired_token_is_replaced_before_use(app: AppSetup) -> None:
    tokens = app.tokens()
    forge = GitHubAppForge(REPO, tokens, api_url=app.url)
    forge.open_agent_prs()
    old = tokens.issued[-1]

    app.advance(3600 + 1)  # the hour is over, on both sides
    assert app.authority.state(old) == "expired"
    forge.create_pull_request(branch="agent/x", base="main", title="t", body="b")

    assert app.minted() == 2
    new = tokens.issued[-1]
    assert new != old and app.authority.state(new) == "live"
    creates = [r for r in app.fake.requests if r.method == "POST" and r.path.endswith("/pulls")]
    assert [r.status for r in creates] == [201]


def test_a_token_is_renewed_inside_the_margin_while_still_live(app: AppSetup) -> None:
    tokens = app.tokens()
    first = tokens.token().get_secret_value()
    app.advance(3600 - 60)  # a minute left: less than the five-minute margin
    assert app.authority.state(first) == "live"
    assert tokens.token().get_secret_value() != first
    assert app.minted() == 2


def test_the_fake_refuses_expired_and_unknown_tokens_with_githubs_401(app: AppSetup) -> None:
    token = app.tokens().token().get_secret_value()
    url = f"{app.url}/repos/{REPO}"
    assert httpx.get(url, headers={"Authorization": f"token {token}"}).status_code == 200
    app.authority.advance(3601)
    for value in (token, "ghs_unknown_token"):
        answer = httpx.get(url, headers={"Authorization": f"token {value}"})
        assert answer.status_code == 401
        assert answer.json()["message"] == "Bad credentials"
    assert httpx.get(url).status_code == 401


def test_a_wrong_key_is_refused_with_a_clear_error_that_names_no_secret(app: AppSetup) -> None:
    wrong = key_pair("not-the-app")[0]
    tokens = app.tokens(wrong)
    forge = GitHubAppForge(REPO, tokens, api_url=app.url)

    with pytest.raises(ForgeUnavailable) as raised:
        forge.open_agent_prs()

    message = str(raised.value)
    assert isinstance(raised.value, GitHubAppError)
    assert "GitHub answered 401" in message
    assert "GitHub refused the App's signed JWT; check GITHUB_APP_ID" in message
    assert app.authority.jwt_refusals == ["A JSON web token could not be decoded"]
    assert "PRIVATE KEY" not in message and wrong.splitlines()[1] not in message
    assert tokens.issued == []


def test_a_wrong_app_id_is_refused(app: AppSetup) -> None:
    tokens = InstallationTokens(
        GitHubApp(APP_ID + 1, SecretStr(key_pair()[0]), INSTALLATION), api_url=app.url
    )
    with pytest.raises(GitHubAppError, match="check GITHUB_APP_ID"):
        tokens.token()
    assert app.authority.jwt_refusals == ["Integration not found"]


@pytest.mark.parametrize(
    ("claims", "refusal"),
    [
        ({"exp": -30, "iat": -90}, "'Expiration time' claim ('exp') must be a numeric value"),
        ({"exp": 900, "iat": -60}, "'Expiration time' claim ('exp') is too far in the future"),
        ({"exp": 400, "iat": 300}, "'Issued at' claim ('iat') must be an Integer"),
        ({"exp": 300, "iat": -60, "iss": "999"}, "Integration not found"),
    ],
)
def test_the_fake_honours_the_jwt_claims(
    app: AppSetup, claims: dict[str, int | str], refusal: str
) -> None:
    now = int(datetime.now(UTC).timestamp())
    payload = {"iss": str(APP_ID), **claims}
    for name in ("exp", "iat"):
        payload[name] = now + int(payload[name])
    signed = jwt.encode(payload, key_pair()[0], algorithm="RS256")
    answer = httpx.post(
        f"{app.url}/app/installations/{INSTALLATION}/access_tokens",
        headers={"Authorization": f"Bearer {signed}"},
    )
    assert answer.status_code == 401
    assert answer.json()["message"].startswith(refusal)


def test_the_installation_is_looked_up_from_the_repository(app: AppSetup) -> None:
    tokens = app.tokens(installation=None, repo=REPO)
    assert tokens.token().get_secret_value() in app.authority.tokens
    assert tokens.installation_id == INSTALLATION
    assert [r.path for r in app.fake.requests][:2] == [
        f"/repos/{REPO}/installation",
        f"/app/installations/{INSTALLATION}/access_tokens",
    ]


def test_an_app_not_installed_on_the_repository_says_so(app: AppSetup) -> None:
    app.fake.add_repo("acme/other")
    tokens = app.tokens(installation=None, repo="acme/other")
    with pytest.raises(GitHubAppError, match="GitHub App 4242 is not installed on acme/other"):
        tokens.token()


def test_output_is_scrubbed_of_the_key_lines_and_the_tokens(app: AppSetup) -> None:
    tokens = app.tokens()
    token = tokens.token().get_secret_value()
    key_line = key_pair()[0].splitlines()[3]
    text = tokens.scrub(f"token {token} and a piece of the key: {key_line}")
    assert token not in text and key_line not in text
    assert text == "token *** and a piece of the key: ***"
