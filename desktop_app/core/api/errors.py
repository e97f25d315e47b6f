"""Errors the local API answers with, in OpenAI's error body shape.

``{"error": {"message", "type", "param", "code"}}`` with the status code a client
expects; the message is a sentence a person can act on (Scalpel's own errors are
already such sentences and pass through unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import (ContextOverflowError, EngineCrashedError, InsufficientMemoryError,
                      ModelFileError, ModelNotAllowedError, ModelNotFoundError,
                      NoModelLoadedError, ScalpelError)

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error",
          413: "invalid_request_error", 422: "invalid_request_error",
          429: "rate_limit_error", 501: "not_implemented_error", 503: "server_error"}


@dataclass
class ApiError(Exception):
    """A refusal: ``status``, the sentence, and OpenAI's ``param``/``code`` when known."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    @property
    def type(self) -> str:
        return _TYPES.get(self.status, "server_error" if self.status >= 500
                          else "invalid_request_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def from_scalpel_error(exc: ScalpelError) -> ApiError:
    """The status a client should see for one of Scalpel's own errors."""
    text = str(exc)
    if isinstance(exc, ContextOverflowError):
        return ApiError(400, text, "messages", "context_length_exceeded")
    if isinstance(exc, ModelNotAllowedError):
        return ApiError(403, text, "model", "model_not_allowed")
    if isinstance(exc, ModelNotFoundError):
        return ApiError(404, text, "model", "model_not_found")
    if isinstance(exc, NoModelLoadedError):
        return ApiError(503, text, "model", "model_not_loaded")
    if isinstance(exc, (InsufficientMemoryError, EngineCrashedError)):
        return ApiError(503, text, None, "engine_unavailable")
    if isinstance(exc, ModelFileError):
        return ApiError(422, text, "model", "model_unusable")
    return ApiError(500, text, None, "engine_error")


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param, code)
