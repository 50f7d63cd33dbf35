"""One strict JSON reader for every body the control plane takes and every row it serves.

``json.loads`` alone lets through values the rest of the stack cannot carry:
``NaN`` and ``Infinity`` (not JSON; clients and PostgreSQL's jsonb refuse
them), ``1e400`` (silently ``inf``), integers past Python's 4,300-digit
conversion limit (a ValueError, hence a 500) and nesting that pydantic parses
only to 200 levels and serialises only to ~255, so such an event was stored
and then broke every read that held it. Checking all of it here, in one pass
after the C decoder, makes each case a 422 that names the rule at intake, and
lets reads recognise a row an older intake let in instead of failing on it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

# Objects and arrays a request body may nest, the outermost one included (a
# single event and its payload count 2; a batch adds 2 more). Real payloads
# nest a handful of levels; 64 stays far below every parser and serialiser limit.
MAX_JSON_DEPTH: Final = 64
# Rows are served up to this depth (older intakes stored up to ~255 levels);
# a deeper row is shown as unreadable rather than risking the page.
MAX_STORED_DEPTH: Final = 128
# Python refuses to convert longer integers (to or from text) by default.
MAX_INT_DIGITS: Final = 4300
LONE_SURROGATE_HINT = re.compile(r"\\[uU][dD][89a-fA-F]")


class NotJson(ValueError):
    """The text is not UTF-8 JSON at all (the API answers 400)."""


class JsonRefused(ValueError):
    """JSON the control plane will not hold; the message names the rule (the API answers 422)."""


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number; only finite numbers are accepted")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"the number {text[:40]} is out of range for a 64-bit float")
    return value


def _int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise JsonRefused(f"an integer has {digits} digits; at most {MAX_INT_DIGITS} are accepted")
    return int(text)


def _too_deep(value: Any, limit: int) -> bool:
    """Iterative, so no input can exhaust the stack while it is measured."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def read_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode ``raw`` strictly: NotJson for bad text, JsonRefused for a value we will not hold."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotJson(f"is not UTF-8 (invalid byte at offset {exc.start})") from None
    else:
        text = raw
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise NotJson(f"is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JsonRefused(f"nested deeper than {max_depth} levels") from None
    if isinstance(data, dict | list) and _too_deep(data, max_depth):
        raise JsonRefused(f"nested deeper than {max_depth} levels")
    # A "\ud800" escape decodes to a lone surrogate, which no UTF-8 store can hold.
    if LONE_SURROGATE_HINT.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise NotJson("holds a lone UTF-16 surrogate escape") from None
    return data
