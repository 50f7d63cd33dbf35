"""``host:port`` endpoints: how ``engine_network`` names what an engine may reach.

One spelling for the list and for a URL's endpoint, so that the agent engine's
check "is my model's endpoint listed?" compares like with like.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

# Dot-separated DNS labels, any case; also matches dotted IPv4 addresses.
HOST_NAME: Final = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")
DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def is_endpoint(entry: str) -> bool:
    """``host:port``: a DNS name, IPv4 or bracketed IPv6 address, and a port 1-65535."""
    host, sep, port = entry.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        return False
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return bool(HOST_NAME.fullmatch(host)) and len(host) <= 253


def url_endpoint(url: str) -> str:
    """The ``host:port`` an http(s) URL connects to (default ports filled in, host lowercase).

    Raises ValueError for a URL without a host or with a bad port.
    """
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    host = parts.hostname.lower()
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def lists_endpoint(entries: list[str], endpoint: str) -> bool:
    """Whether ``entries`` (an ``engine_network`` list) names ``endpoint``, in any case."""
    return endpoint.lower() in {e.lower() for e in entries}
