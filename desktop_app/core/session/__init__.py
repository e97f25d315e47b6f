"""The conversation core: one open chat and its answers, for every face of Scalpel."""

from .auto import AUTO_PRESET_ID, Routed
from .chat_session import ChatSession
from .events import (AnswerFailed, AnswerFinished, AnswerProgress, AnswerRouted,
                     AnswerStarted, AnswerText,
                     ChatsChanged, ChatShown, EngineRestarting, EscalationSuggested,
                     ModelLoaded, ModelLoadFailed, ModelLoading, ModelQueued, ModelUnloaded,
                     Notice, QuestionAdded, SessionEvent, SessionState, StateChanged)

__all__ = ["AUTO_PRESET_ID", "ChatSession", "AnswerFailed", "AnswerFinished", "AnswerProgress",
           "AnswerRouted",
           "AnswerStarted", "AnswerText", "ChatsChanged", "ChatShown", "EngineRestarting",
           "EscalationSuggested", "ModelLoaded", "ModelLoadFailed", "ModelLoading",
           "ModelQueued", "ModelUnloaded", "Notice", "QuestionAdded", "Routed",
           "SessionEvent", "SessionState", "StateChanged"]
