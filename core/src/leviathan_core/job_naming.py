"""Kubernetes names derived from an attempt id.

The dispatcher names the Job and the reconciler looks it up again, possibly in
another process, so the mapping must be deterministic and live in one place.
Attempt ids may hold characters Kubernetes refuses (``_``, ``.``, ``:``,
capitals) and may be long; whenever the mapping has to alter or cut the id it
appends a hash of the full id, so two different attempts never share a name.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from leviathan_core.constants import JOB_NAME_PREFIX

MAX_NAME: Final = 63
HASH_LENGTH: Final = 10
# Labels may have to shorten an attempt id; this annotation keeps it whole.
ANNOTATION_ATTEMPT_ID: Final = "leviathan.dev/attempt-id"

_NOT_DNS: Final = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL: Final = re.compile(r"[^A-Za-z0-9._-]+")
DNS_1123_LABEL: Final = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_VALUE: Final = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def _fit(prefix: str, body: str, original: str, exact: bool, strip: str) -> str:
    """``prefix + body``, or, when ``body`` is not exact or too long, cut it and add a hash."""
    if exact and len(prefix) + len(body) <= MAX_NAME:
        return prefix + body
    room = MAX_NAME - len(prefix) - HASH_LENGTH - 1
    head = body[:room].strip(strip)
    return f"{prefix}{head}-{short_hash(original)}" if head else f"{prefix}{short_hash(original)}"


def job_name(attempt_id: str) -> str:
    """``leviathan-worker-<attempt>``: a DNS-1123 label of at most 63 characters."""
    if not attempt_id:
        raise ValueError("attempt_id must not be empty")
    body = _NOT_DNS.sub("-", attempt_id.lower()).strip("-")
    body = re.sub(r"-{2,}", "-", body)
    return _fit(JOB_NAME_PREFIX, body, attempt_id, body == attempt_id, "-")


def label_value(value: str) -> str:
    """A Kubernetes label value for ``value`` (at most 63 characters, safe charset)."""
    body = _NOT_LABEL.sub("-", value).strip("-._")
    return _fit("", body, value, body == value, "-._")
