"""The dashboard's session cookie: made from the token, never the token, and unforgeable."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from leviathan_control_plane.dashboard import session

TOKEN = b"s3cret-token"
NOW = 1_800_000_000.0


def test_a_fresh_cookie_is_valid_until_it_expires() -> None:
    cookie = session.issue(TOKEN, NOW)
    assert session.is_valid(cookie, TOKEN, NOW)
    assert session.is_valid(cookie, TOKEN, NOW + session.LIFETIME_SECONDS - 1)
    assert not session.is_valid(cookie, TOKEN, NOW + session.LIFETIME_SECONDS)
    assert not session.is_valid(cookie, TOKEN, NOW + 10 * session.LIFETIME_SECONDS)


def test_the_cookie_holds_neither_the_token_nor_a_plain_hash_of_it() -> None:
    cookie = session.issue(TOKEN, NOW)
    assert TOKEN.decode() not in cookie
    assert hashlib.sha256(TOKEN).hexdigest() not in cookie
    assert hmac.new(TOKEN, b"", hashlib.sha256).hexdigest() not in cookie


def test_two_cookies_differ_by_their_random_id() -> None:
    assert session.issue(TOKEN, NOW) != session.issue(TOKEN, NOW)


def test_a_cookie_made_with_another_token_is_refused() -> None:
    """Rotating the token ends every session."""
    assert not session.is_valid(session.issue(b"old-token", NOW), TOKEN, NOW)


def _flip(text: str, index: int) -> str:
    char = text[index]
    other = "0" if char != "0" else "1"
    return text[:index] + other + text[index + 1 :]


@pytest.mark.parametrize("part", [1, 2, 3])
def test_changing_any_part_of_the_cookie_is_refused(part: int) -> None:
    cookie = session.issue(TOKEN, NOW, nonce="A" * 24)
    pieces = cookie.split(".")
    pieces[part] = _flip(pieces[part], len(pieces[part]) - 1)
    assert not session.is_valid(".".join(pieces), TOKEN, NOW)


def test_a_later_expiry_cannot_be_written_in() -> None:
    cookie = session.issue(TOKEN, NOW, nonce="B" * 24)
    version, expiry, nonce, mac = cookie.split(".")
    longer = ".".join([version, str(int(expiry) + 86400 * 365), nonce, mac])
    assert not session.is_valid(longer, TOKEN, NOW + session.LIFETIME_SECONDS + 1)


def test_an_expiry_beyond_one_lifetime_is_refused_even_when_signed() -> None:
    """Only this server makes cookies, and none of them lives longer than one lifetime."""
    cookie = session.issue(TOKEN, NOW, lifetime=10 * session.LIFETIME_SECONDS)
    assert not session.is_valid(cookie, TOKEN, NOW)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "v1",
        "v1...",
        "v2.1800000100.AAAAAAAAAAAAAAAAAAAAAAAA." + "0" * 64,
        "v1.1800000100.AAAAAAAAAAAAAAAAAAAAAAAA." + "0" * 63,
        "v1.-1.AAAAAAAAAAAAAAAAAAAAAAAA." + "0" * 64,
        "v1.1800000100.AAAA/AAAAAAAAAAAAAAAAAAA." + "0" * 64,
        "v1.1800000100.AAAAAAAAAAAAAAAAAAAAAAAA." + "0" * 64 + "\n",
        TOKEN.decode(),
        "v1.1800000100.AAAAAAAAAAAAAAAAAAAAAAAA.ÿ" + "0" * 63,
    ],
)
def test_malformed_values_are_refused(value: str) -> None:
    assert not session.is_valid(value, TOKEN, NOW)


def test_the_mac_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check goes through hmac.compare_digest, whatever the cookie holds."""
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(session.hmac, "compare_digest", spy)
    cookie = session.issue(TOKEN, NOW)
    assert session.is_valid(cookie, TOKEN, NOW)
    assert not session.is_valid(_flip(cookie, len(cookie) - 1), TOKEN, NOW)
    assert len(calls) == 2
