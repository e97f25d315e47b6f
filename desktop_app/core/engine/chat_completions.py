"""The OpenAI chat-completions wire format, as the remote engine speaks it.

Plain functions, no HTTP: the endpoint's URLs, the request body made from Scalpel's
``GenerationParams``, and each streamed SSE ``data:`` payload read into a ``Chunk``.
Only the standard OpenAI fields are sent (model, messages, stream, stream_options,
max_tokens, temperature, top_p, seed, response_format): cloud endpoints refuse unknown
ones, so llama.cpp's own knobs (top_k, min_p, repeat_penalty) are left to the server's
defaults, and GBNF grammars are refused before anything is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..json_files import MAX_DEPTH, nesting_depth
from .types import GenerationParams, Message

DONE = "[DONE]"


def base_url(endpoint: str) -> str:
    """The URL the API's paths hang from. ``https://host`` and ``https://host/`` get
    ``/v1`` added (the usual OpenAI-compatible layout); any other path is kept as given
    (``https://host/v1``, ``http://host:11434/v1``, a gateway's own prefix)."""
    endpoint = endpoint.strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {endpoint!r}")
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + "/v1"
    return endpoint.rstrip("/")


def host_of(endpoint: str) -> str:
    """host[:port] as a person would recognise it (no credentials, no path)."""
    parts = urlsplit(endpoint)
    host = parts.hostname or endpoint
    return f"{host}:{parts.port}" if parts.port else host


def request_body(model: str, messages: list[Message], params: GenerationParams, *,
                 include_usage: bool = True) -> dict:
    """The JSON body of one streamed ``POST /chat/completions``."""
    body: dict = {
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "stream": True,
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    if params.seed is not None:
        body["seed"] = params.seed
    if params.json_schema:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": json.loads(params.json_schema), "strict": True}}
    return body


def json_object_body(body: dict) -> dict:
    """The same request with its schema in the older form some servers take instead of
    ``json_schema`` (llama-cpp-python's server: ``{"type": "json_object", "schema": ...}``)."""
    schema = body["response_format"]["json_schema"]["schema"]
    return {**body, "response_format": {"type": "json_object", "schema": schema}}


def finish_reason(value: str | None) -> str:
    """The server's finish_reason as a ``ReplyFinished.reason``: "length" stays, any other
    end (stop, eos, content_filter, tool_calls, none given) is a "stop"."""
    return "length" if value == "length" else "stop"


@dataclass(frozen=True)
class Chunk:
    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None       # from ``usage`` (include_usage's last chunk)
    completion_tokens: int | None = None
    error: str | None = None               # an error object sent inside the stream


class MalformedChunk(ValueError):
    """A ``data:`` payload that is not a chat-completions chunk."""


def read_chunk(data: str) -> Chunk:
    """One SSE ``data:`` payload (not ``[DONE]``) -> its text, end and usage."""
    if nesting_depth(data) > MAX_DEPTH:  # a server's text is untrusted: no deep recursion
        raise MalformedChunk(f"nested too deeply: {data[:60]!r}")
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise MalformedChunk(f"not JSON: {data[:60]!r}") from exc
    if not isinstance(payload, dict):
        raise MalformedChunk(f"not a JSON object: {data[:60]!r}")
    if "error" in payload:
        error = payload["error"]
        message = error.get("message") if isinstance(error, dict) else error
        return Chunk(error=str(message or "unknown error")[:200])
    usage = payload.get("usage") or {}
    if not isinstance(usage, dict):
        raise MalformedChunk("'usage' is not an object")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise MalformedChunk("no 'choices' list")
    text, reason = "", None
    if choices:
        choice = choices[0]
        if not isinstance(choice, dict):
            raise MalformedChunk("a choice is not an object")
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise MalformedChunk("'delta' is not an object")
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            raise MalformedChunk("'content' is not text")
        text, reason = content or "", choice.get("finish_reason")
    return Chunk(text=text, finish_reason=reason,
                 prompt_tokens=_count(usage.get("prompt_tokens")),
                 completion_tokens=_count(usage.get("completion_tokens")))


def model_entries(payload: object) -> list[dict]:
    """``GET /models``'s list of models; raises MalformedChunk for anything else."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise MalformedChunk("no 'data' list of models")
    return [entry for entry in data if isinstance(entry, dict) and isinstance(entry.get("id"), str)]


def server_context(entry: dict) -> int | None:
    """The context length a ``/models`` entry states, when it states one: vLLM's
    ``max_model_len``, OpenRouter/LM Studio's ``context_length``, llama-server's
    ``meta.n_ctx_train``. llama-cpp-python's server says nothing."""
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    for value in (entry.get("max_model_len"), entry.get("context_length"),
                  entry.get("max_context_length"), meta.get("n_ctx_train")):
        count = _count(value)
        if count:
            return count
    return None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
