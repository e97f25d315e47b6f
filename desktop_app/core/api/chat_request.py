"""OpenAI's chat request, checked field by field and turned into the engine's terms.

Every refusal is a 400 naming the field (``param``) in a sentence. Fields Scalpel
cannot honour are refused rather than ignored (``n`` > 1, ``logprobs``, tools,
images); sampling fields it does not have (``presence_penalty``,
``frequency_penalty``, ``user``, ...) are accepted and have no effect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from ..engine.types import GenerationParams, Message
from ..schema_check import schema_problem
from .errors import ApiError, bad_request

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_STOPS = 4
MAX_MESSAGES = 1000


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    json_schema: str | None = None     # JSON text, from response_format

    def params(self, base: GenerationParams, *, cap: int) -> GenerationParams:
        """``base`` (a preset's or the settings' sampling) with this request's fields."""
        changes: dict[str, Any] = {"max_tokens": min(self.max_tokens or base.max_tokens, cap)}
        for name in ("temperature", "top_p", "seed", "json_schema"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        return replace(base, **changes)


def parse_chat_request(body: Any, *, max_tokens_cap: int) -> ChatRequest:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model", "")
    if not isinstance(model, str):
        raise bad_request("\"model\" must be a model id from GET /v1/models.", "model")
    if body.get("n", 1) != 1:
        raise bad_request("Only one choice per request is supported (\"n\": 1).", "n")
    if body.get("logprobs") or body.get("top_logprobs") is not None:
        raise bad_request("logprobs are not supported by Scalpel's engine; leave out "
                          "\"logprobs\" and \"top_logprobs\".", "logprobs", "unsupported")
    if body.get("tools") or body.get("functions"):
        raise bad_request("Tools and function calls are not supported; leave out \"tools\".",
                          "tools", "unsupported")
    stream = _bool(body, "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise bad_request("\"stream_options\" must be an object.", "stream_options")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        if not _is_int(max_tokens) or not 1 <= max_tokens <= max_tokens_cap:
            raise bad_request(f"\"max_tokens\" must be a whole number from 1 to "
                              f"{max_tokens_cap:,} (this server's limit).", "max_tokens")
    return ChatRequest(
        model=model.strip(), messages=_messages(body.get("messages")), stream=stream,
        include_usage=bool(options.get("include_usage")), max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0), seed=_seed(body.get("seed")),
        stop=_stops(body.get("stop")), json_schema=_response_format(body.get("response_format")))


def _messages(raw: Any) -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise bad_request("\"messages\" must be a non-empty list of {\"role\", \"content\"} "
                          "objects.", "messages")
    if len(raw) > MAX_MESSAGES:
        raise bad_request(f"At most {MAX_MESSAGES} messages per request.", "messages")
    messages = []
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, dict) or item.get("role") not in ROLES:
            raise bad_request(f"{where}: each message needs a \"role\" of system, developer, "
                              "user or assistant (tool messages are not supported).", where)
        messages.append({"role": ROLES[item["role"]], "content": _content(item, where)})
    return tuple(messages)


def _content(item: dict, where: str) -> str:
    content = item.get("content")
    if content is None and item["role"] == "assistant":
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" \
                    or not isinstance(part.get("text"), str):
                raise bad_request(f"{where}.content: only text parts are supported "
                                  "(no images or audio).", f"{where}.content", "unsupported")
            parts.append(part["text"])
        return "".join(parts)
    raise bad_request(f"{where}.content must be text.", f"{where}.content")


def _response_format(raw: Any) -> str | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return json.dumps({"type": "object"})
    if kind == "json_schema":
        spec = raw.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict) or not schema:
            raise bad_request("response_format.json_schema.schema must be a JSON schema "
                              "object.", "response_format")
        if (problem := schema_problem(schema)) is not None:
            raise bad_request(f"The JSON schema cannot be enforced: {problem}.",
                              "response_format")
        return json.dumps(schema)
    raise bad_request("response_format.type must be \"text\", \"json_object\" or "
                      "\"json_schema\".", "response_format")


def _stops(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or len(stops) > MAX_STOPS or not all(
            isinstance(s, str) and s and len(s) <= 200 for s in stops):
        raise bad_request(f"\"stop\" must be a string or a list of at most {MAX_STOPS} "
                          "non-empty strings.", "stop")
    return tuple(stops)


def _seed(raw: Any) -> int | None:
    if raw is None:
        return None
    if not _is_int(raw):
        raise bad_request("\"seed\" must be a whole number.", "seed")
    return raw % 0xFFFFFFFF  # llama.cpp reads 0xFFFFFFFF as "random"


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"\"{name}\" must be a number from {low:g} to {high:g}.", name)
    return float(value)


def _bool(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"\"{name}\" must be true or false.", name)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = ["ApiError", "ChatRequest", "parse_chat_request"]
