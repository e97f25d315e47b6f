"""One answer: from the engine's handle to the chat store, saved as it streams.

The answer row is saved as 'partial' when the answer is asked for, updated
every ``save_interval_s`` while text streams, then given its final text and
status. A kill loses at most the last interval. A store that cannot be written
(a full disk) never stops the answer: the text stays on screen, the person is
told once, and the row keeps what was last saved.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..chats import ChatStore, StoredMessage
from ..engine.contract import Generation
from ..engine.types import GenerationParams, Message, ReplyFinished, TextDelta
from ..errors import ScalpelError
from .events import AnswerText, Notice, SessionEvent

log = logging.getLogger(__name__)


@dataclass
class Answer:
    """An answer asked for and not yet ended. Its fields are the session's to change,
    under the session's lock, except ``parts`` (the worker's)."""
    chat_id: int
    row: StoredMessage                     # the 'partial' answer row
    messages: list[Message] | None        # None until the worker has chosen the task
    params: GenerationParams | None
    question: StoredMessage | None         # the question this send added (None: regenerate)
    created_chat: bool                     # this send created the chat
    leaf_before: int | None                # the branch shown before this send
    history: list[Message] = field(default_factory=list)  # the chat before this answer
    plan: Any = None                       # orchestration.Plan
    engine: Any = None                     # the bigger model's engine; None: the session's
    routed: Any = None                     # auto.Routed, once known
    assessment: Any = None                 # the port's assessment of a local answer
    before_reasons: tuple[str, ...] = ()   # why it could have gone to the bigger model first
    documents: tuple[str, ...] = ()        # the collections it answers from (documents.py)
    grounding: dict | None = None          # its mode and sources, once grounded
    stop_requested: bool = False
    handle: Generation | None = None
    parts: list[str] = field(default_factory=list)
    save_failed: bool = False
    started: threading.Event = field(default_factory=threading.Event)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class AnswerWriter:
    """Streams one ``Answer`` from a handle into the store and out as events."""

    def __init__(self, store: ChatStore, emit: Callable[[SessionEvent], None], *,
                 save_interval_s: float) -> None:
        self._store = store
        self._emit = emit
        self.interval = save_interval_s

    def stream(self, answer: Answer, handle: Generation) -> ReplyFinished:
        """Read ``handle`` to its end; raises what the engine raised."""
        saved_at = time.monotonic()
        saved_len = 0
        for event in handle:
            if isinstance(event, TextDelta):
                answer.parts.append(event.text)
                self._emit(AnswerText(answer.chat_id, event.text))
                now = time.monotonic()
                if now - saved_at >= self.interval:
                    text = answer.text
                    if len(text) != saved_len:
                        self.save(answer, content=text, status="partial")
                        saved_len = len(text)
                    saved_at = now
            else:
                return event
        raise ScalpelError("The engine ended the answer without finishing it; try again.")

    def save(self, answer: Answer, **fields) -> StoredMessage:
        """Update the answer row; on a store failure say so once and go on. Returns the
        row as it should be shown (as saved, or as it would have been)."""
        try:
            self._store.update_message(answer.row.id, **fields)
        except (ScalpelError, OSError) as exc:
            log.warning("could not save answer %d: %s", answer.row.id, exc)
            if not answer.save_failed:
                answer.save_failed = True
                self._emit(Notice(f"{exc} This answer stays on screen but is not saved "
                                  "in full."))
        return dataclasses.replace(answer.row, **fields)
