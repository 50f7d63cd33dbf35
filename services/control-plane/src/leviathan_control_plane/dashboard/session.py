"""The dashboard's session cookie: proof that its holder once pasted the token.

The cookie is ``v1.<expiry>.<random id>.<mac>``, where the mac is an
HMAC-SHA256 over the rest under a key derived from the control-plane token.
It holds no secret: a stolen cookie gives no token, it expires on its own,
and rotating the token ends every session at once. The server keeps no
session table, so checking one is pure (a function of cookie, token and time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

COOKIE_NAME: Final = "leviathan_dashboard"
LIFETIME_SECONDS: Final = 8 * 3600
VERSION: Final = "v1"
_SHAPE: Final = re.compile(r"^v1\.([0-9]{1,12})\.([A-Za-z0-9_-]{16,64})\.([0-9a-f]{64})$")
_PURPOSE: Final = b"leviathan dashboard session v1"


def _key(token: bytes) -> bytes:
    """A key of its own, so a mac made here is never a value the token signs elsewhere."""
    return hmac.new(token, _PURPOSE, hashlib.sha256).digest()


def _mac(token: bytes, body: str) -> str:
    return hmac.new(_key(token), body.encode("ascii"), hashlib.sha256).hexdigest()


def issue(
    token: bytes, now: float, *, lifetime: int = LIFETIME_SECONDS, nonce: str | None = None
) -> str:
    """A fresh cookie value valid for ``lifetime`` seconds from ``now``."""
    expiry = int(now) + lifetime
    body = f"{VERSION}.{expiry}.{nonce or secrets.token_urlsafe(18)}"
    return f"{body}.{_mac(token, body)}"


def is_valid(value: str, token: bytes, now: float, *, lifetime: int = LIFETIME_SECONDS) -> bool:
    """True only for an untampered cookie made with ``token`` that has not expired.

    The mac is compared in constant time; an expiry further ahead than one
    lifetime is refused too (no cookie this server made can carry one).
    """
    match = _SHAPE.fullmatch(value)
    if match is None:
        return False
    expiry, mac = int(match.group(1)), match.group(3)
    body = value[: -len(mac) - 1]
    if not hmac.compare_digest(mac, _mac(token, body)):
        return False
    return now < expiry <= now + lifetime
