"""The conversation core: one open chat and its answers, for every face of Scalpel."""

from .chat_session import ChatSession
from .events import (AnswerFailed, AnswerFinished, AnswerStarted, AnswerText, ChatsChanged,
                     ChatShown, EngineRestarting, ModelLoaded, ModelLoadFailed, ModelLoading,
                     ModelQueued, ModelUnloaded, Notice, QuestionAdded, SessionEvent,
                     SessionState, StateChanged)

__all__ = ["ChatSession", "AnswerFailed", "AnswerFinished", "AnswerStarted", "AnswerText",
           "ChatsChanged", "ChatShown", "EngineRestarting", "ModelLoaded", "ModelLoadFailed",
           "ModelLoading", "ModelQueued", "ModelUnloaded", "Notice", "QuestionAdded",
           "SessionEvent", "SessionState", "StateChanged"]
