"""What went wrong with the organization's model server, as one sentence a person can act on.

Every failure of the remote engine becomes a ``RemoteEngineError`` (errors.py) with a
``kind`` for code and a ``str()`` for people. HTTP answers are read by status; transport
failures by the OS error under httpx2's exception (a DNS failure, a refused connection
and a certificate that is not trusted are all ``ConnectError`` at the top).
"""

from __future__ import annotations

import email.utils
import socket
import ssl
import time

from ..errors import RemoteAnswerCutError, RemoteEngineError, RemoteModelNotFoundError

SETTINGS = "the escalation settings (or ask IT, if your organization's policy sets them)"


def _where(host: str) -> str:
    return f"The organization's model at {host}"


def http_failure(status: int, *, host: str, model: str, path: str, detail: str = "",
                 retry_after: str | None = None) -> RemoteEngineError:
    """An HTTP error answer (before any text streamed). ``path`` is what was asked for
    ("/models" or "/chat/completions"); ``detail`` the server's own message, if any."""
    where = _where(host)
    said = f" (it said: {detail})" if detail else ""
    if status in (401, 403):
        verb = "refused the key" if status == 401 else "does not allow this key"
        return RemoteEngineError(f"{where} {verb} ({status}): check the API key in {SETTINGS}.",
                                 kind="auth", host=host, status=status)
    if status == 404 and path == "/models":
        return RemoteEngineError(
            f"{host} has no OpenAI-compatible API at that address (404 for /models): check the "
            f"endpoint in {SETTINGS}; it usually ends in /v1.", kind="endpoint", host=host,
            status=status)
    if status == 404:
        return RemoteModelNotFoundError(
            f"{where} has no model named '{model}' (404){said}: check the model name in "
            f"{SETTINGS}.", host=host, model=model, status=status)
    wait = retry_after_seconds(retry_after)
    if status == 429:
        when = f"in {_seconds(wait)}" if wait is not None else "in a minute"
        error = RemoteEngineError(f"{where} is busy and asked Scalpel to slow down (429): try "
                                  f"again {when}.", kind="rate_limited", host=host,
                                  status=status, retry_after=wait)
        return error
    if status >= 500:
        when = f" in {_seconds(wait)}" if wait is not None else " later"
        return RemoteEngineError(f"{where} failed with a server error ({status}){said}: try "
                                 f"again{when}, or tell whoever runs that server.",
                                 kind="server", host=host, status=status, retry_after=wait)
    return RemoteEngineError(f"{where} refused the request ({status}){said}: the server may "
                             "not support this kind of request; try another task or tell IT.",
                             kind="rejected", host=host, status=status)


def transport_failure(exc: BaseException, *, host: str, first_byte_s: float,
                      proxy: str | None) -> RemoteEngineError:
    """A failure before the server answered: no connection, no trust, no first byte."""
    import httpx2

    where = _where(host)
    if isinstance(exc, httpx2.ProxyError) or (proxy and isinstance(exc, httpx2.ConnectError)
                                              and _cause(exc, ConnectionRefusedError)):
        return RemoteEngineError(f"The proxy your organization set ({proxy}) did not pass the "
                                 f"request on to {host}: check the proxy or the network.",
                                 kind="proxy", host=host)
    if _cause(exc, socket.gaierror):
        return RemoteEngineError(f"{where} could not be found (no such host name): check the "
                                 f"endpoint in {SETTINGS}, or your network.", kind="dns",
                                 host=host)
    if _cause(exc, ssl.SSLError):
        return RemoteEngineError(f"{where} has a certificate this computer does not trust, so "
                                 "nothing was sent: if your organization uses its own "
                                 "certificate authority, its CA bundle must be set in the "
                                 "policy.", kind="tls", host=host)
    if _cause(exc, ConnectionRefusedError):
        return RemoteEngineError(f"{where} refused the connection: the server is not running "
                                 "at that address; try again later or check the endpoint in "
                                 f"{SETTINGS}.", kind="refused", host=host)
    if isinstance(exc, httpx2.ReadTimeout):
        return RemoteEngineError(f"{where} sent nothing for {_seconds(first_byte_s)}: it may "
                                 "be overloaded; try again later.", kind="timeout", host=host)
    if isinstance(exc, (httpx2.TimeoutException, httpx2.NetworkError)):
        return RemoteEngineError(f"{where} could not be reached ({_plain(exc)}): check your "
                                 "network and the endpoint.", kind="unreachable", host=host)
    return RemoteEngineError(f"{where} could not be reached ({_plain(exc)}): check the "
                             f"endpoint in {SETTINGS}.", kind="unreachable", host=host)


def answer_cut(kind: str, *, host: str, partial_text: str, detail: str = "",
               silent_s: float = 0.0) -> RemoteAnswerCutError:
    """The stream stopped after it began. ``kind``: "cut" (closed early), "timeout" (went
    silent), "malformed" (a piece Scalpel cannot read), "server" (an error inside it)."""
    why = {"cut": "the connection closed before the end",
           "timeout": f"it sent nothing for {_seconds(silent_s)}",
           "malformed": f"it sent something that is not a chat answer: {detail}",
           "server": f"it reported an error: {detail}"}[kind]
    got = "what arrived is kept, marked as incomplete; " if partial_text else ""
    return RemoteAnswerCutError(f"{_where(host)} stopped part-way through the answer ({why}): "
                                f"{got}ask again for a full answer.", kind=kind, host=host,
                                partial_text=partial_text)


def not_a_stream(*, host: str, content_type: str) -> RemoteEngineError:
    return RemoteEngineError(f"{_where(host)} did not answer as a chat-completions stream "
                             f"(it sent {content_type or 'no content type'}): check that the "
                             f"endpoint in {SETTINGS} is an OpenAI-compatible API.",
                             kind="malformed", host=host)


def grammar_unsupported(*, host: str) -> RemoteEngineError:
    return RemoteEngineError(f"{_where(host)} cannot follow this task's grammar (GBNF "
                             "grammars work only with local models): use a local model for "
                             "this task.", kind="unsupported", host=host)


def bad_ca_bundle(path: str, exc: BaseException, *, host: str) -> RemoteEngineError:
    reason = getattr(exc, "strerror", None) or str(exc)
    return RemoteEngineError(f"The CA bundle your organization's policy names ({path}) cannot "
                             f"be used ({reason}), so nothing was sent to {host}: tell IT.",
                             kind="ca_bundle", host=host)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110); None when unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _seconds(value: float) -> str:
    value = max(1, round(value))
    return "1 second" if value == 1 else f"{value:,} seconds"


def _cause(exc: BaseException | None, kind: type) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _plain(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:120]
