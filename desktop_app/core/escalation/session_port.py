"""Escalation as a chat session sees it (core/session/orchestration.py's EscalationPort).

One object per session face, built by ``Services.escalation_port``: the effective
configuration (policy over settings), its privacy rules (privacy.decide), the bigger
model's engine (made on first use only: with escalation off or unconfigured nothing
is ever built, so nothing can connect), the weak-answer assessment with the
configured thresholds, and the usage log every answer's origin goes to.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from ..engine.contract import Engine
from ..engine.types import Message, ReplyFinished
from ..errors import EscalationRefusedError
from ..presets import Preset
from .config import EscalationConfig
from .privacy import decide, preview
from .usage_log import UsageLog
from .weak_answer import Assessment, assess, before_answer

log = logging.getLogger(__name__)


class SessionEscalation:
    def __init__(self, config: EscalationConfig, *, usage: UsageLog,
                 make_engine: Callable[[], Engine | None],
                 preset_for: Callable[[str], Preset | None] = lambda _id: None) -> None:
        self.config = config
        self.mode = config.mode if config.configured else "off"
        self.endpoint = str(config.endpoint or "")
        self.model = str(config.model or "")          # the id the server knows it by
        self.name = display_name(self.model)          # what a person reads
        self.usage = usage
        self._make_engine = make_engine
        self._preset_for = preset_for
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def refusal(self, *, preset_id: str | None, keep_local: bool,
                automatic: bool) -> str | None:
        """None when the request may go; else the sentence saying why not."""
        preset = self._preset_for(preset_id) if preset_id else None
        decision = decide(self.config, preset_id=preset_id, asked=not automatic,
                          keep_local=keep_local,
                          remote_share=self.usage.remote_share(30) if automatic else 0.0,
                          chat_previewed=True,
                          preset_escalate=preset.escalate if preset else None)
        if decision.allowed:
            return None
        return decision.reason[:1].upper() + decision.reason[1:] + "."

    def preview(self, messages: list[Message]) -> str:
        return preview(messages, self.config)

    def engine(self) -> Engine:
        """The bigger model's engine, made and checked (the server lists the model) on
        first use; EscalationRefusedError if there is none, the engine's own typed error
        if the server cannot be reached. Runs on the session's worker thread."""
        with self._lock:
            if self._engine is None:
                self._engine = self._make_engine()
            if self._engine is None:
                raise EscalationRefusedError("Asking a bigger model is not set up on this "
                                             "computer.")
            if self._engine.model_info is None:
                self._engine.load(None, name=self.name)
            return self._engine

    def assess(self, finished: ReplyFinished, text: str) -> Assessment:
        return assess(finished, text, self.config.thresholds)

    def before(self, messages: list[Message], *, context_size: int, reply_tokens: int,
               preset: Preset | None) -> Assessment:
        """Checks before a local answer: the request does not fit the local context, or
        the task always goes to the bigger model (token count estimated from the text)."""
        characters = sum(len(m.get("content", "")) for m in messages)
        return before_answer(prompt_tokens=characters // 4, context_size=context_size,
                             reply_tokens=reply_tokens,
                             preset_escalate=preset.escalate if preset else None,
                             preset_name=preset.name if preset else None, estimated=True)

    def record(self, *, where: str, model: str, preset_id: str | None, tokens_sent: int,
               tokens_received: int, reason: str | None, chat_id: int | None) -> None:
        self.usage.record(where=where, model=model, preset_id=preset_id,
                          endpoint=self.endpoint or None, tokens_sent=tokens_sent,
                          tokens_received=tokens_received, reason=reason, chat_id=chat_id)

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.unload()


def display_name(model: str) -> str:
    """A model id for people: llama.cpp's servers name a model started without an alias by
    its file path, shown as the file's name."""
    if model.lower().endswith(".gguf") and ("/" in model or "\\" in model):
        return model.replace("\\", "/").rsplit("/", 1)[-1]
    return model
