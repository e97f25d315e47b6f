"""The local inference engine (llama.cpp) behind a message-shaped API.

``LlamaEngine`` is imported on first use: the GUI process only talks to the
engine process and never needs it (nor jinja2, which it pulls in).
"""

from .types import (EngineEvent, GenerationParams, LoadOptions, Message, ModelInfo,
                    ReplyFinished, ReplyStats, TextDelta, event_from_dict)

__all__ = ["LlamaEngine", "RemoteEngine", "EngineEvent", "GenerationParams", "LoadOptions",
           "Message", "ModelInfo", "ReplyFinished", "ReplyStats", "TextDelta", "event_from_dict"]


def __getattr__(name: str):
    if name == "LlamaEngine":
        from .llama_engine import LlamaEngine

        return LlamaEngine
    if name == "RemoteEngine":  # the organization's server (OpenAI-compatible), over HTTP
        from .remote import RemoteEngine

        return RemoteEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
