"""ChatSession's escalation around a local answer: before it and after it.

A mixin of ``ChatSession`` (chat_session.py), beside ``Orchestration``. Before a
local answer (``_check_before``): a request that cannot fit the local model's context,
or a task that always goes to the bigger model, goes there at once in "auto" mode.
After it (``_answer_notes``, ``_after_finished``): the answer is assessed by its own
signals and its origin logged; a weak one is escalated by itself in "auto" mode
(within the rules and the share budget) and offered otherwise (EscalationSuggested).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from ..engine.types import Message, ReplyFinished
from ..errors import ScalpelError
from ..presets import Preset
from .auto import Routed
from .events import EscalationSuggested

log = logging.getLogger(__name__)


class AroundAnswer:
    def _check_before(self, answer, preset: Preset | None) -> None:
        """Before a local answer: a request that cannot fit the local model's context, or
        a task that always goes to the bigger model, goes there now in "auto" mode (when
        the rules allow); otherwise the reasons are offered after the local answer."""
        port = self._escalation
        if port is None or port.mode == "off" or self.model is None:
            return
        reply = answer.params.max_tokens if answer.params else 0
        verdict = port.before(answer.messages or [], context_size=self.model.context_size,
                              reply_tokens=min(reply, self.model.context_size // 4),
                              preset=preset)
        if not verdict.weak:
            return
        answer.before_reasons = tuple(verdict.reasons)
        if port.mode != "auto" or port.refusal(preset_id=preset.id if preset else None,
                                               keep_local=self.keep_local, automatic=True):
            return
        try:
            answer.engine = port.engine()
        except ScalpelError as exc:
            log.info("no escalation before answering: %s", exc)
            return
        reason = "; ".join(verdict.reasons)
        answer.plan = replace(answer.plan, preset=preset, remote=True, reason=reason,
                              automatic=True)
        answer.routed = Routed(preset.id if preset else "general",
                               preset.name if preset else "General chat",
                               getattr(port, "name", None) or port.model,
                               where="remote", step="escalation", reason=reason,
                               escalation_reason=reason)

    def _answer_notes(self, answer, finished: ReplyFinished, text: str) -> dict[str, Any]:
        """What the answer's stats keep of its route and its assessment."""
        notes: dict[str, Any] = {}
        if answer.routed is not None:
            notes["routed"] = answer.routed.to_dict()
        if answer.grounding is not None:
            notes["grounding"] = answer.grounding
        if self._escalation is not None and answer.engine is None:
            try:
                answer.assessment = self._escalation.assess(finished, text)
                notes["assessment"] = answer.assessment.to_dict()
            except Exception:  # noqa: BLE001 - an assessment bug must not lose the answer
                log.exception("the answer could not be assessed")
        return notes

    def _after_finished(self, answer, finished: ReplyFinished, text: str,
                        shown_id: int | None) -> None:
        port = self._escalation
        if port is None or shown_id is None:
            return
        remote = answer.engine is not None
        stats = finished.stats
        try:
            port.record(where="remote" if remote else "local",
                        model=answer.routed.model if answer.routed else self._model_name(),
                        preset_id=answer.routed.preset_id if answer.routed else self._preset_id,
                        tokens_sent=stats.prompt_tokens or _estimate_tokens(answer.messages),
                        tokens_received=stats.completion_tokens,
                        reason=answer.plan.reason if remote else None, chat_id=answer.chat_id)
        except Exception:  # noqa: BLE001 - the log never stops an answer
            log.exception("could not record where the answer came from")
        weak = answer.assessment
        reasons = (*answer.before_reasons, *(weak.reasons if weak is not None else ()))
        if remote or finished.reason == "cancelled" or not reasons or answer.documents:
            return
        reason = "the local answer looked weak: " + ", ".join(reasons)
        if port.mode == "auto" and not port.refusal(
                preset_id=answer.routed.preset_id if answer.routed else self._preset_id,
                keep_local=self.keep_local, automatic=True):
            try:
                self.escalate(shown_id, reason=reason, automatic=True)
                return
            except ScalpelError as exc:
                log.info("no automatic escalation: %s", exc)
        if port.mode in ("ask", "auto"):
            self._emit(EscalationSuggested(answer.chat_id, shown_id, tuple(reasons)))


def _estimate_tokens(messages: list[Message] | None) -> int:
    """About four characters a token, when the server reported no count."""
    return sum(len(m.get("content", "")) for m in messages or []) // 4
