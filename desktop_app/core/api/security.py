"""The API's front door, as plain ASGI middleware (so streaming passes through it).

In order, for every HTTP request:
1. Host: only loopback names (``127.0.0.1``, ``localhost``, ``[::1]``, any port), plus
   IP literals when the person or policy opened another interface. A web page that
   rebinds its own domain name to 127.0.0.1 (DNS rebinding) sends its own name: 403.
2. Origin: a request from a web page whose origin is not on the allow-list gets 403 and
   no CORS headers; a preflight (``OPTIONS``) from an allowed origin gets the allow
   headers naming that origin (never ``*``; no credentials: the token is a header).
3. Content-Length over the limit: 413 before the body is read (routes count a chunked
   body as they read it).
4. The token: ``Authorization: Bearer <token>`` on everything but ``/health``: 401.
Each finished request is reported to ``on_call`` (the window's "who called recently").
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .errors import ApiError
from .origins import normalize_origin
from .token import ApiToken

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
PUBLIC_PATHS = frozenset({"/health"})
PREFLIGHT_MAX_AGE = "600"


@dataclass(frozen=True)
class Call:
    """One request, as the window lists it."""
    at: float
    client: str
    user_agent: str
    method: str
    path: str
    status: int
    model: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def host_name(header: str) -> str:
    """``localhost:8477`` -> ``localhost``; ``[::1]:8477`` -> ``[::1]``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[:header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_ip_literal(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


class Guard:
    def __init__(self, app, *, token: ApiToken, allowed_origins: tuple[str, ...],
                 open_interface: bool = False, max_body_bytes: int,
                 on_call: Callable[[Call], None] | None = None) -> None:
        self.app = app
        self.token = token
        self.origins = frozenset(allowed_origins)
        self.open_interface = open_interface
        self.max_body_bytes = max_body_bytes
        self.on_call = on_call

    def host_allowed(self, header: str | None) -> bool:
        name = host_name(header or "")
        return name in LOOPBACK_NAMES or (self.open_interface and _is_ip_literal(name))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        status_seen: list[int] = []
        state = scope.setdefault("state", {})
        origin = headers.get("origin")
        cors_origin = normalize_origin(origin) if origin else None
        if cors_origin not in self.origins:
            cors_origin = None

        async def send_with_cors(message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(message["status"])
                if cors_origin is not None:
                    message = {**message, "headers": [*message.get("headers", []),
                                                      *_cors_headers(cors_origin)]}
            await send(message)

        try:
            refusal = self._refusal(scope, headers, origin, cors_origin)
            if refusal is None and scope["method"] == "OPTIONS" and origin is not None:
                await _send_empty(send_with_cors, 204, _preflight_headers())
            elif refusal is not None:
                await send_error(send_with_cors, refusal)
            else:
                await self.app(scope, receive, send_with_cors)
        finally:
            if self.on_call is not None:
                client = scope.get("client") or ("?", 0)
                self.on_call(Call(at=time.time(), client=f"{client[0]}:{client[1]}",
                                  user_agent=headers.get("user-agent", "")[:120],
                                  method=scope["method"], path=scope["path"],
                                  status=status_seen[0] if status_seen else 0,
                                  model=str(state.get("model", "")),
                                  seconds=time.monotonic() - started))

    def _refusal(self, scope, headers: dict[str, str], origin: str | None,
                 cors_origin: str | None) -> ApiError | None:
        if not self.host_allowed(headers.get("host")):
            return ApiError(403, "This server answers only requests addressed to 127.0.0.1 "
                            "or localhost; the Host header names another host.",
                            None, "host_not_allowed")
        if origin is not None and cors_origin is None:
            return ApiError(403, f"Web pages from {origin[:100]} may not call this server; "
                            "the person running Scalpel can add the origin to the API's "
                            "allowed origins.", None, "origin_not_allowed")
        if scope["method"] == "OPTIONS" and origin is not None:
            return None  # an allowed preflight: answered without the token (browsers send none)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return too_large(self.max_body_bytes)
        if scope["path"] not in PUBLIC_PATHS:
            scheme, _, presented = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not presented.strip():
                return ApiError(401, "A token is required: send \"Authorization: Bearer "
                                "<token>\" (the token is in Scalpel's File > Local API menu, "
                                "and `scalpel serve --show-token` prints it).",
                                None, "missing_token", {"WWW-Authenticate": "Bearer"})
            if not self.token.matches(presented.strip()):
                return ApiError(401, "The token is not this Scalpel's API token (it may "
                                "have been rotated); copy the current one.", None,
                                "invalid_token", {"WWW-Authenticate": "Bearer"})
        return None


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"The request body is larger than this server accepts "
                    f"({limit:,} bytes).", None, "body_too_large")


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [(b"access-control-allow-origin", origin.encode("latin-1")),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", b"Retry-After")]


def _preflight_headers() -> list[tuple[bytes, bytes]]:
    return [(b"access-control-allow-methods", b"GET, POST, OPTIONS"),
            (b"access-control-allow-headers", b"Authorization, Content-Type"),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode())]


async def _send_empty(send: Callable[[dict], Awaitable[None]], status: int,
                      headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def send_error(send: Callable[[dict], Awaitable[None]], error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               *[(k.lower().encode("latin-1"), v.encode("latin-1"))
                 for k, v in error.headers.items()]]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
