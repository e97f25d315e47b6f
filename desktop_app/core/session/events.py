"""What a ``ChatSession`` reports: its one state, and events in plain data.

Faces (the window, the terminal chat, later the local API) subscribe to these;
none of them keeps conversation state of its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union

from ..chats import StoredMessage
from ..engine.types import ModelInfo, ReplyFinished, ReplyStats
from ..errors import ScalpelError
from .auto import Routed


class SessionState(enum.Enum):
    IDLE = "idle"            # ready for a message
    LOADING = "loading"      # a model is loading (a message sent now waits for it)
    ANSWERING = "answering"  # an answer streams
    STOPPING = "stopping"    # stop was asked; the engine is winding the answer down
    FAILED = "failed"        # the last request failed (``StateChanged.error`` says why)

    @property
    def busy(self) -> bool:
        return self in (SessionState.LOADING, SessionState.ANSWERING, SessionState.STOPPING)


@dataclass(frozen=True)
class StateChanged:
    state: SessionState
    error: str | None = None          # with FAILED: the sentence to show


@dataclass(frozen=True)
class ChatShown:
    """The open chat's branch changed (opened, new, switched, edited, deleted)."""
    chat_id: int | None
    path: tuple[StoredMessage, ...]
    last_stats: ReplyStats | None     # the figures of the branch's last answer, if any


@dataclass(frozen=True)
class QuestionAdded:
    chat_id: int
    message: StoredMessage
    replaced: int | None              # the message this one is a new version of (an edit)


@dataclass(frozen=True)
class AnswerStarted:
    chat_id: int
    message: StoredMessage            # the (partial) answer row, already saved
    model_name: str
    alternative: tuple[int, int]      # (this version, of how many): (2, 2) after a regenerate


@dataclass(frozen=True)
class AnswerText:
    chat_id: int
    text: str


@dataclass(frozen=True)
class AnswerFinished:
    chat_id: int
    message: StoredMessage | None     # None: stopped before its first word, so not kept
    finished: ReplyFinished
    restore_text: str | None = None   # give the question back to the message box


@dataclass(frozen=True)
class AnswerFailed:
    chat_id: int | None
    error: str
    restore_text: str | None = None
    cause: ScalpelError | None = None  # the typed error, for a face to add its own hint


@dataclass(frozen=True)
class AnswerRouted:
    """Where an answer goes and why (Auto's choice, Answer as…, or the bigger model);
    ``loading`` while the chosen task's model is still being loaded."""
    chat_id: int
    message_id: int
    routed: Routed
    loading: bool = False


@dataclass(frozen=True)
class AnswerProgress:
    """What a long answer is doing before its text streams ("Reading part 2 of 5…")."""
    chat_id: int
    message_id: int
    text: str


@dataclass(frozen=True)
class EscalationSuggested:
    """A local answer looks weak (``reasons``); asking the bigger model may help."""
    chat_id: int
    message_id: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ModelLoading:
    path: str
    name: str


@dataclass(frozen=True)
class ModelLoaded:
    info: ModelInfo
    kept: tuple[str, ...]             # names of the models held open


@dataclass(frozen=True)
class ModelLoadFailed:
    path: str
    error: str
    cause: ScalpelError | None = None


@dataclass(frozen=True)
class ModelQueued:
    name: str                         # loads as soon as the answer ends


@dataclass(frozen=True)
class ModelUnloaded:
    pass


@dataclass(frozen=True)
class EngineRestarting:
    model_name: str


@dataclass(frozen=True)
class ChatsChanged:
    """A chat was created, retitled, deleted or updated: lists of chats are stale."""


@dataclass(frozen=True)
class Notice:
    """Something the person should know that is not a failure (a save that failed
    while the answer went on, for example)."""
    text: str


SessionEvent = Union[StateChanged, ChatShown, QuestionAdded, AnswerStarted, AnswerText,
                     AnswerRouted, AnswerProgress, EscalationSuggested, AnswerFinished,
                     AnswerFailed,
                     ModelLoading, ModelLoaded, ModelLoadFailed, ModelQueued, ModelUnloaded,
                     EngineRestarting, ChatsChanged, Notice]
