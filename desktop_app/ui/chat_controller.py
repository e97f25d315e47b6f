"""The chat's state and flow: history, sending, streaming, stopping.

It owns the message history (plain dicts, the engine's input), the chat's
task preset and model, and drives the conversation view from the bridge's
signals. The preset supplies the system prompt (sent first, never stored in
the history, so a switch applies to the next answer), the input template and
the sampling. Errors go to ``report_error``, the window's single place for
messages.
"""

from __future__ import annotations

import json
from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

from ..core.engine import GenerationParams, Message, ModelInfo, ReplyFinished
from ..core.errors import ScalpelError
from ..core.presets import Preset
from .conversation_view import ConversationView
from .engine_bridge import EngineBridge

STOPPED_NOTE = "Stopped."
CUT_NOTE = "The answer reached its length limit."
CONTEXT_NOTE = "The answer filled the model's context window."


class ChatController(QObject):
    answering_changed = Signal(bool)
    reply_stats = Signal(object)  # ReplyStats

    def __init__(self, bridge: EngineBridge, view: ConversationView, *,
                 params: Callable[[], GenerationParams],
                 report_error: Callable[[str], None],
                 restore_prompt: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._view = view
        self._params = params
        self._report_error = report_error
        self._restore_prompt = restore_prompt
        self.history: list[Message] = []
        self.model: ModelInfo | None = None
        self.preset: Preset | None = None
        self.answering = False
        self._typed = ""  # the person's text of the turn being answered, to give back
        bridge.text_ready.connect(self._on_text)
        bridge.reply_finished.connect(self._on_finished)
        bridge.reply_failed.connect(self._on_failed)

    def set_model(self, info: ModelInfo | None) -> None:
        self.model = info

    def set_preset(self, preset: Preset | None) -> None:
        self.preset = preset

    def request(self) -> tuple[list[Message], GenerationParams]:
        """The messages and parameters the next answer is generated from."""
        if self.preset is None:
            return list(self.history), self._params()
        return self.preset.messages(self.history), self.preset.generation_params()

    def can_send(self) -> bool:
        return self.model is not None and not self.answering and not self._bridge.busy

    def send(self, text: str) -> bool:
        """Start answering ``text``. Returns False (and says why) if it cannot."""
        if not text.strip():
            return False
        if self.model is None:
            self._report_error("Choose a model first: pick one above or use “Open model file…”.")
            return False
        if not self.can_send():
            return False
        content = self.preset.user_content(text) if self.preset else text
        self.history.append({"role": "user", "content": content})
        try:
            messages, params = self.request()
        except ScalpelError as exc:
            self.history.pop()
            self._report_error(str(exc))
            return False
        self._typed = text
        self._view.add_user_message(text)
        self._view.begin_answer(self.model.name)
        self._set_answering(True)
        self._bridge.generate(messages, params)
        return True

    def stop(self) -> None:
        if self.answering:
            self._bridge.stop()

    def new_chat(self) -> None:
        if self.answering:
            self._bridge.stop()
        self.history.clear()
        self._view.clear_conversation()

    def _set_answering(self, answering: bool) -> None:
        self.answering = answering
        self.answering_changed.emit(answering)

    @Slot(str)
    def _on_text(self, text: str) -> None:
        self._view.append_answer_text(text)

    @Slot(object)
    def _on_finished(self, finished: ReplyFinished) -> None:
        notes = {"cancelled": STOPPED_NOTE, "length": CUT_NOTE, "context_full": CONTEXT_NOTE}
        self._view.finish_answer(self._as_markdown(finished.text), note=notes.get(finished.reason))
        if finished.text.strip():
            self.history.append({"role": "assistant", "content": finished.text})
        elif self.history and self.history[-1]["role"] == "user":
            # Stopped before any word: the turn leaves the history, its text
            # goes back to the message box so nothing typed is lost.
            self.history.pop()
            self._restore_prompt(self._typed)
        self._set_answering(False)
        self.reply_stats.emit(finished.stats)

    def _as_markdown(self, text: str) -> str:
        """JSON answers of a JSON-schema task are shown indented, in a code block."""
        if self.preset is None or self.preset.json_schema is None:
            return text
        try:
            data = json.loads(text)
        except ValueError:
            return text
        return f"```json\n{json.dumps(data, indent=2, ensure_ascii=False)}\n```"

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._view.finish_answer("", note=f"Not answered: {message}")
        if self.history and self.history[-1]["role"] == "user":
            self.history.pop()
            self._restore_prompt(self._typed)  # lose nothing typed
        self._set_answering(False)
        self._report_error(message)
