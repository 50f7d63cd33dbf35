"""GitHub's side of GitHub App authentication, for ``tests.support.github_fake``.

``AppAuthority`` holds one App (its id and public key) and its installations.
It checks the JWT an App signs (RS256 with the App's key, ``iss`` the App's
id, ``iat``/``exp`` within GitHub's ten minutes and not expired), mints
installation tokens with an ``expires_at`` an hour (``lifetime``) ahead, and
tells live tokens from expired and unknown ones, as GitHub does with a 401.
``advance(seconds)`` ages the installation tokens (the JWT is still checked
against real time: PyGithub signs it with the real clock).

``AppRoutes`` adds the two App operations to the fake:
``POST /app/installations/{id}/access_tokens`` and
``GET /repos/{o}/{r}/installation``; both take the JWT as a Bearer token.
"""

from __future__ import annotations

import secrets
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response

from tests.support.github_shapes import DOCS, GitHubError, answer, not_found, user_json

if TYPE_CHECKING:
    from tests.support.github_fake import GitHubFake

MAX_JWT_SECONDS = 600  # GitHub refuses a JWT that claims to live longer than ten minutes
_IAT = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
    "was issued"
)


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _unauthorized(message: str) -> GitHubError:
    return GitHubError(401, {"message": message, "documentation_url": DOCS, "status": "401"})


class AppAuthority:
    """One GitHub App as GitHub knows it: its public key, installations and tokens."""

    def __init__(self, app_id: int, public_key_pem: bytes, *, lifetime: float = 3600) -> None:
        self.app_id = app_id
        self.public_key = public_key_pem
        self.lifetime = lifetime
        self.installations: dict[int, set[str]] = {}  # installation id -> repositories
        self.tokens: dict[str, tuple[int, float]] = {}  # token -> (installation, expiry)
        self.jwt_refusals: list[str] = []
        self.offset = 0.0
        self._lock = threading.Lock()

    # ---- switches ----------------------------------------------------------
    def install(self, installation_id: int, *repos: str) -> None:
        with self._lock:
            self.installations.setdefault(installation_id, set()).update(repos)

    def advance(self, seconds: float) -> None:
        """Move the installation tokens' clock (not the JWT's) forward."""
        with self._lock:
            self.offset += seconds

    def now(self) -> float:
        return time.time() + self.offset

    # ---- checks ------------------------------------------------------------
    def check_jwt(self, token: str) -> GitHubError | None:
        """None for a JWT of this App that is valid now, else GitHub's 401."""
        import jwt  # PyJWT: only where an App is configured (the tier's forge image lacks it)

        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"], "verify_iss": False},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            return self._refuse(
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires"
            )
        except jwt.ImmatureSignatureError:
            return self._refuse(_IAT)
        except jwt.PyJWTError:
            return self._refuse("A JSON web token could not be decoded")
        now = time.time()
        if str(claims["iss"]) != str(self.app_id):
            return self._refuse("Integration not found")
        if claims["iat"] > now + 60:
            return self._refuse(_IAT)
        if claims["exp"] - claims["iat"] > MAX_JWT_SECONDS:
            return self._refuse("'Expiration time' claim ('exp') is too far in the future")
        return None

    def _refuse(self, message: str) -> GitHubError:
        with self._lock:
            self.jwt_refusals.append(message)
        return _unauthorized(message)

    def state(self, token: str) -> str:
        """``live``, ``expired`` or ``unknown``."""
        with self._lock:
            found = self.tokens.get(token)
        if found is None:
            return "unknown"
        return "live" if self.now() < found[1] else "expired"

    def accepts(self, token: str) -> bool:
        """For git over HTTP: a live installation token."""
        return self.state(token) == "live"

    def mint(self, installation_id: int) -> tuple[str, float]:
        token = "ghs_" + secrets.token_urlsafe(27)
        expiry = self.now() + self.lifetime
        with self._lock:
            self.tokens[token] = (installation_id, expiry)
        return token, expiry

    def auth_error(self, request: Request, prefix: str, pat: str | None) -> GitHubError | None:
        """App routes take the JWT; every other route a PAT or a live installation token."""
        path = request.url.path.removeprefix(prefix)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if path.startswith("/app/") or path.endswith("/installation"):
            if scheme.lower() != "bearer" or not value:
                return _unauthorized("A JSON web token could not be decoded")
            return self.check_jwt(value)
        if not scheme:
            return GitHubError(401, {"message": "Requires authentication",
                                     "documentation_url": DOCS, "status": "401"})  # fmt: skip
        if scheme.lower() in ("token", "bearer") and pat is not None and value == pat:
            return None
        if scheme.lower() in ("token", "bearer") and self.state(value) == "live":
            return None
        return _unauthorized("Bad credentials")


def installation_json(api: str, web: str, app_id: int, installation: int, owner: str) -> Any:
    """An ``installation`` of the App on an account."""
    return {
        "id": installation,
        "app_id": app_id,
        "app_slug": "leviathan-test-app",
        "client_id": f"Iv1.{app_id:016x}",
        "target_id": 1,
        "target_type": "Organization",
        "single_file_name": None,
        "repository_selection": "selected",
        "access_tokens_url": f"{api}/app/installations/{installation}/access_tokens",
        "html_url": f"{web}/organizations/{owner}/settings/installations/{installation}",
        "repositories_url": f"{api}/installation/repositories",
        "events": [],
        "account": user_json(api, web, owner),
        "permissions": {"contents": "write", "pull_requests": "write", "metadata": "read"},
        "created_at": _stamp(1_700_000_000),
        "updated_at": _stamp(1_700_000_000),
        "suspended_by": None,
        "suspended_at": None,
    }


class AppRoutes:
    """The App operations of ``GitHubFake`` (mixed into it; ``apps`` set by ``use_app``)."""

    apps: AppAuthority | None = None

    def use_app(self: GitHubFake, authority: AppAuthority) -> None:
        """Accept this App's JWTs and installation tokens (beside ``token``, if any)."""
        self.apps = authority
        self.token_kind = "integration"  # GitHub's 403s then say "by integration"

    def _authority(self) -> AppAuthority:
        if self.apps is None:
            raise not_found()
        return self.apps

    async def _mint_token(self: GitHubFake, request: Request, installation_id: int) -> Response:
        def run() -> Response:
            authority = self._authority()
            if installation_id not in authority.installations:
                raise not_found()
            token, expiry = authority.mint(installation_id)
            data = {
                "token": token,
                "expires_at": _stamp(expiry),
                "permissions": {"contents": "write", "pull_requests": "write"},
                "repository_selection": "selected",
            }
            return answer(request, data, 201)

        return self._guard(run)

    def _repo_installation(self: GitHubFake, request: Request, o: str, r: str) -> Response:
        def run() -> Response:
            authority, repo = self._authority(), f"{o}/{r}"
            for installation, repos in sorted(authority.installations.items()):
                if repo in repos and repo in self.repos:
                    api, web = self._urls(request)
                    return answer(
                        request, installation_json(api, web, authority.app_id, installation, o)
                    )
            raise not_found()

        return self._guard(run)


@lru_cache(maxsize=4)
def key_pair(name: str = "app") -> tuple[str, bytes]:
    """(private PEM text, public PEM bytes) of a 2048-bit RSA key, one per ``name``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public
