"""The local inference engine (llama.cpp) behind a message-shaped API."""

from .llama_engine import LlamaEngine
from .types import (EngineEvent, GenerationParams, LoadOptions, Message, ModelInfo,
                    ReplyFinished, ReplyStats, TextDelta, event_from_dict)

__all__ = ["LlamaEngine", "EngineEvent", "GenerationParams", "LoadOptions", "Message",
           "ModelInfo", "ReplyFinished", "ReplyStats", "TextDelta", "event_from_dict"]
