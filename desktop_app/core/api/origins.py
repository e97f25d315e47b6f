"""Web origins and listening addresses for the local API, checked in plain Python.

Shared by the policy reader (``api_origins``, ``api_interfaces``) and the API's own
settings, so a value means the same wherever it is written.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def normalize_origin(text: object) -> str | None:
    """``https://notes.example:8443`` as a browser sends it in ``Origin``, or None when
    ``text`` is not one origin (a wildcard, a path, another scheme)."""
    if not isinstance(text, str) or "*" in text:
        return None
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def interface_problem(host: object) -> str | None:
    """Why ``host`` is not an address the API can listen on, or None."""
    if not isinstance(host, str) or not host.strip():
        return "an address must be an IP address such as 127.0.0.1 or 192.168.1.20"
    if host.strip("[]").lower() == "localhost":
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return f"{host!r} is not an IP address (such as 127.0.0.1 or 192.168.1.20)"
    return None
