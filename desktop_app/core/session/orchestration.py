"""ChatSession's orchestration: which task and model answer, and the bigger model.

A mixin of ``ChatSession`` (chat_session.py); what happens around a local answer (the
before and after checks) is around_answer.py. Every answer follows a ``Plan``:
- Auto (the chat's task is ``auto``): the task is chosen on the worker thread,
  just before the answer, and its model loaded if it is not the one open
  (``AutoTask``, auto.py); the answer's line says where it went and why.
- "Answer as …" (``answer_as``): another version of an answer, by a task the
  person names.
- "Ask the bigger model" (``escalate``): another version from the organization's
  model through the ``EscalationPort`` (core/escalation builds it from policy and
  settings), after its privacy rules: never when escalation is off, the chat is
  kept on this computer or the task is not allowed; in "ask" mode the first time
  in a chat only after the person has seen what would be sent (ConsentNeededError).
After a local answer the port assesses it (the model's own token log-probabilities,
a repetition loop, an empty or cut-off answer); a weak one is escalated by itself in
"auto" mode (within the share budget) and offered (EscalationSuggested) otherwise.
Every answer's origin is recorded (``EscalationPort.record``) for "where answers
came from".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..chats import UNNAMED_MODEL
from ..conversation import engine_history
from ..engine.contract import Engine
from ..engine.types import Message, ReplyFinished
from ..errors import ConsentNeededError, EscalationRefusedError, ScalpelError, SessionBusyError
from ..presets import Preset
from .auto import Routed, is_auto
from .events import AnswerRouted, ModelLoaded, Notice

log = logging.getLogger(__name__)


class EscalationPort(Protocol):
    """What the session needs of escalation (core/escalation/session_port.py)."""
    mode: str        # "off" | "ask" | "auto"
    endpoint: str
    model: str

    def refusal(self, *, preset_id: str | None, keep_local: bool,
                automatic: bool) -> str | None: ...
    def preview(self, messages: list[Message]) -> str: ...
    def engine(self) -> Engine: ...
    def assess(self, finished: ReplyFinished, text: str) -> Any: ...  # .weak .reasons .to_dict()
    def record(self, *, where: str, model: str, preset_id: str | None, tokens_sent: int,
               tokens_received: int, reason: str | None, chat_id: int | None) -> None: ...


@dataclass(frozen=True)
class Plan:
    """How one answer is to be made (see the module's docstring)."""
    preset: Preset | None = None      # the task; None: the session's
    route: bool = False               # Auto: choose the task on the worker
    remote: bool = False              # the organization's model answers
    reason: str | None = None         # why it went there (for the line and the log)
    automatic: bool = False           # escalated by the session, not by the person


class Orchestration:
    # -- what the person asks -----------------------------------------------------
    def answer_as(self, answer_id: int, preset_id: str) -> bool:
        """Another version of an answer, made by the task ``preset_id``."""
        preset = self._auto.preset(preset_id) if self._auto else None
        if preset is None or is_auto(preset):
            return False
        return self._again(answer_id, Plan(preset=preset, reason="chosen by you"))

    def escalate(self, answer_id: int, *, consent: bool = False,
                 reason: str = "asked by you", automatic: bool = False) -> bool:
        """Another version of an answer from the organization's bigger model. Raises
        EscalationRefusedError with the reason it may not, or ConsentNeededError."""
        with self._lock:
            answer = self._message_in_path(answer_id)
            if answer is None:
                return False
            preset = self._answer_preset(answer)

            def messages() -> list[Message]:
                history = engine_history(self.path[:self.path.index(answer)],
                                         preset_for=self._preset_for)
                return preset.messages(history) if preset else history

            self._check_may_send(preset, automatic=automatic, consent=consent,
                                 messages=messages)
        return self._again(answer_id, Plan(preset=preset, remote=True, reason=reason,
                                           automatic=automatic))

    def set_escalation(self, port: EscalationPort | None) -> None:
        """A new escalation set-up (the settings changed): used from the next answer."""
        with self._lock:
            old, self._escalation = self._escalation, port
        close = getattr(old, "close", None)
        if close is not None and old is not port:
            self._jobs.submit(close)   # after any answer still using it

    @property
    def escalation_mode(self) -> str:
        """"off", "ask" or "auto": whether "Ask the bigger model" can be offered."""
        return self._escalation.mode if self._escalation is not None else "off"

    @property
    def routes_per_message(self) -> bool:
        """Auto is set up: "Answer as …" can offer the other tasks."""
        return self._auto is not None

    @property
    def keep_local(self) -> bool:
        """The chat is marked "Keep on this computer" (never sent to another model)."""
        if self.chat_id is None:
            return self._keep_new_chat_local
        try:
            return self.store.keep_local(self.chat_id)
        except ScalpelError as exc:
            log.warning("could not read the chat's keep-local mark: %s", exc)
            return True   # unknown: the safe answer

    def set_keep_local(self, keep: bool) -> None:
        with self._lock:
            if self.chat_id is None:
                self._keep_new_chat_local = keep
            else:
                self.store.set_keep_local(self.chat_id, keep)

    def _again(self, answer_id: int, plan: Plan) -> bool:
        with self._lock:
            answer = self._message_in_path(answer_id)
            if answer is None:
                return False
            if self._answer is not None:
                raise SessionBusyError("An answer is still being written; stop it first.")
            leaf_before = self._leaf
            self.path = self.path[:self.path.index(answer)]
            self._leaf = answer.parent_id
            self._begin(answer.parent_id, question=None, created=False,
                        leaf_before=leaf_before, plan=plan)
        return True

    def _message_in_path(self, message_id: int):
        found = next((m for m in self.path if m.id == message_id), None)
        return found if found is not None and found.role == "assistant" else None

    def _answer_preset(self, message) -> Preset | None:
        preset = self._preset_for(message.preset_id) if message.preset_id else None
        if preset is None or is_auto(preset):
            preset = self.preset if not is_auto(self.preset) else self._preset_for("general")
        return preset

    # -- on the worker ------------------------------------------------------------
    def _plan_for_send(self, *, text: str | None = None, remote: bool = False,
                       consent: bool = False) -> Plan:
        """How a new message (or a regenerated answer) is answered; ``remote`` checks
        the escalation rules first (raising as ``escalate`` does)."""
        if not remote:
            return Plan(route=is_auto(self.preset) and self._auto is not None)
        preset = self.preset
        if is_auto(preset):
            chosen = self._auto.choose(text or "")[0] if self._auto else None
            preset = chosen or self._preset_for("general")
        self._check_may_send(preset, automatic=False, consent=consent,
                             messages=lambda: (preset.messages if preset else list)(
                                 [*self.history, {"role": "user", "content": text or ""}]))
        return Plan(preset=preset, remote=True, reason="asked by you")

    def _check_may_send(self, preset: Preset | None, *, automatic: bool, consent: bool,
                        messages) -> None:
        """Raise EscalationRefusedError or ConsentNeededError, or remember the consent."""
        port = self._escalation
        refusal = ("Asking a bigger model is not set up on this computer." if port is None
                   else "This chat answers from your documents, which never leave this "
                        "computer." if self.documents
                   else port.refusal(preset_id=preset.id if preset else None,
                                     keep_local=self.keep_local, automatic=automatic))
        if refusal:
            raise EscalationRefusedError(refusal)
        if port.mode == "ask" and not automatic and not consent \
                and self.chat_id not in self._consented:
            raise ConsentNeededError(
                f"This will send the conversation to {port.model} at {port.endpoint}.",
                preview=port.preview(messages()), endpoint=port.endpoint, model=port.model)
        self._consented.add(self.chat_id)

    def _prepare(self, answer) -> None:
        """Before the answer (worker thread): choose the task, bring its model, and
        make the request (the engine, the messages and sampling)."""
        plan: Plan = answer.plan
        if plan.remote:
            port = self._escalation
            answer.engine = port.engine()
            self._set_request(answer, plan.preset)
            answer.routed = Routed(plan.preset.id if plan.preset else "general",
                                   plan.preset.name if plan.preset else "General chat",
                                   _shown_name(port), where="remote", step="escalation",
                                   reason=plan.reason or "asked by you",
                                   escalation_reason=plan.reason)
        elif plan.route:
            question = answer.history[-1]["content"] if answer.history else ""
            preset, decision = self._auto.choose(question)
            preset = preset or self._preset_for("general") or self.preset
            self._bring_model_for(answer, preset, decision)
            self._set_request(answer, preset)
            answer.routed = Routed(preset.id, preset.name, self._model_name(),
                                   step=decision.step, confidence=decision.confidence,
                                   reason=decision.reason, elapsed_ms=decision.elapsed_ms)
        elif plan.preset is not None:
            self._bring_model_for(answer, plan.preset, None)
            self._set_request(answer, plan.preset)
            answer.routed = Routed(plan.preset.id, plan.preset.name, self._model_name(),
                                   reason=plan.reason or "chosen by you")
        if not plan.remote:
            self._ground(answer)
        if not plan.remote and not answer.documents:
            self._check_before(answer, plan.preset or (
                self._preset_for(answer.routed.preset_id) if answer.routed else self.preset))
        if answer.routed is None:
            name = self._model_name()
            if not plan.remote and answer.row.model != name:  # asked while it loaded
                answer.row = self._writer.save(answer, content="", status="partial", model=name)
            return
        answer.row = self._writer.save(answer, content="", status="partial",
                                       model=answer.routed.model,
                                       preset_id=answer.routed.preset_id)
        self._emit(AnswerRouted(answer.chat_id, answer.row.id, answer.routed))

    def _set_request(self, answer, preset: Preset | None) -> None:
        if preset is None:
            answer.messages, answer.params = list(answer.history), self._default_params()
        else:
            answer.messages = preset.messages(answer.history)
            answer.params = preset.generation_params()

    def _model_name(self) -> str:
        return self.model.name if self.model else UNNAMED_MODEL

    def _bring_model_for(self, answer, preset: Preset, decision) -> None:
        """Load the preset's model now unless it is open (a failed load answers with the
        model that is open, and says so)."""
        target = self._auto.model_for(preset) if self._auto else None
        if target is None or (self.model is not None
                              and Path(self.model.path).resolve() == Path(target.path).resolve()):
            return
        self._emit(AnswerRouted(answer.chat_id, answer.row.id,
                                Routed(preset.id, preset.name, target.name,
                                       reason=decision.reason if decision else "chosen by you"),
                                loading=True))
        with self._lock:
            self._loads += 1
        self._settle()
        try:
            info = self.engine.load(target.path, target.options, name=target.name)
        except ScalpelError as exc:
            self._emit(Notice(f"{preset.name} would answer with {target.name}, but it could "
                              f"not be loaded: {exc} The model that is open answers instead."))
            return
        finally:
            with self._lock:
                self._loads -= 1
        with self._lock:
            self.model = info
        self._emit(ModelLoaded(info, tuple(m.name for m in self.engine.loaded_models())))


def _shown_name(port) -> str:
    return getattr(port, "name", None) or port.model
