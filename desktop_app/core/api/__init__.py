"""The local OpenAI-compatible API: safe by default, on the one engine.

Modules: ``config`` (options, policy), ``token`` (the bearer token file),
``origins`` (origin and address checks), ``security`` (Host, Origin/CORS, body size,
token), ``limits`` (the queue and 429s), ``chat_request`` / ``chat_response``
(OpenAI's shapes <-> GenerationParams and engine events), ``engine_host`` (which
model answers), ``generation_run`` (the engine's blocking handle read from the event
loop), ``routes`` (the Starlette app) and ``server`` (uvicorn on a thread).

Importing this package loads neither Starlette nor uvicorn: ``server`` does, when an
API is started.
"""

from .config import ApiNotAllowedError, ApiOptions, options_for, read_person_settings
from .token import ApiToken

__all__ = ["ApiNotAllowedError", "ApiOptions", "ApiToken", "options_for",
           "read_person_settings"]
