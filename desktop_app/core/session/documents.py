"""ChatSession's documents: answers grounded on the person's own files.

A mixin of ``ChatSession`` (chat_session.py). A chat may use document collections
(``set_documents``; saved with the chat). Before a local answer, on the worker
thread, the ``DocumentsPort`` (core/documents/session_port.py) grounds the question:
- whole / passages / none: the documents (or numbered passages, or a note that none
  matched) go into the system message, with the instruction to cite [n] markers and to
  say so when the documents do not support an answer;
- map_reduce: the documents do not fit and the question asks for the whole
  ("summarize", "list every …"): each part is answered in turn (AnswerProgress says
  "Reading part 2 of 5…"), the notes are combined, and the last combination streams
  as the answer.
The sources are kept in the answer's stats (``stats["grounding"]``). Documents never
leave the computer: a chat that uses them is never escalated.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, Sequence

from ..engine.types import GenerationParams, Message, TextDelta
from ..errors import ScalpelError
from .events import AnswerProgress

log = logging.getLogger(__name__)

MAP_TOKENS = 384                 # the most one part's notes may take


class DocumentsPort(Protocol):
    def refusal(self) -> str | None: ...
    def ground(self, question: str, collections: Sequence[str], *, context_tokens: int,
               count_tokens: Any, answer_tokens: int | None = None) -> Any: ...


def count_tokens(text: str) -> int:
    """A cautious token estimate for fitting text (three characters a token; English
    averages about four with the models Scalpel ships)."""
    return len(text) // 3 + 1


class DocumentAnswers:
    @property
    def documents(self) -> tuple[str, ...]:
        """The collections the open chat answers from."""
        if self.chat_id is None:
            return self._new_chat_documents
        try:
            return tuple(self.store.chat_documents(self.chat_id))
        except ScalpelError as exc:
            log.warning("could not read the chat's documents: %s", exc)
            return ()

    def set_documents(self, names: Sequence[str]) -> None:
        names = tuple(dict.fromkeys(n for n in names if n))
        with self._lock:
            if self.chat_id is None:
                self._new_chat_documents = names
            else:
                self.store.set_chat_documents(self.chat_id, list(names))

    def _remember_new_chat_documents(self) -> None:
        """A chat just created takes the documents chosen before its first message."""
        if self._new_chat_documents and self.chat_id is not None:
            self.store.set_chat_documents(self.chat_id, list(self._new_chat_documents))
            self._new_chat_documents = ()

    # -- on the worker ----------------------------------------------------------------
    def _ground(self, answer) -> None:
        """Put the documents in front of the model (see the module's docstring)."""
        names = answer.documents
        if not names or self._documents is None or self.model is None:
            return
        refusal = self._documents.refusal()
        if refusal:
            raise ScalpelError(refusal[:1].upper() + refusal[1:] + ".")
        question = next((m["content"] for m in reversed(answer.history)
                         if m.get("role") == "user"), "")
        reply = answer.params.max_tokens if answer.params else 512
        grounding = self._documents.ground(
            question, names, context_tokens=self.model.context_size,
            count_tokens=count_tokens,
            answer_tokens=max(256, min(reply, self.model.context_size // 4)))
        answer.grounding = {"mode": grounding.mode, "collections": list(names),
                            "sources": [s.to_dict() for s in grounding.sources]}
        if grounding.mode == "map_reduce":
            combined = self._map_reduce(answer, grounding.plan)
            if combined is not None:
                answer.messages = _with_last_user(answer.messages, combined)
            return
        answer.messages = _with_context(answer.messages, grounding.context)

    def _map_reduce(self, answer, plan) -> str | None:
        """Answer each part, then combine; returns the last combine prompt (the answer
        streams from it), or None when stopped."""
        notes: list[str] = []
        total = len(plan.parts)
        # each part's notes get an equal share of one combine prompt, so that one round of
        # combining usually does (and every round shrinks the notes: see _shortened)
        share = max(48, min(MAP_TOKENS, plan.budget_tokens // (total + 1)))
        for part in plan.parts:
            self._emit(AnswerProgress(answer.chat_id, answer.row.id,
                                      f"Reading part {part.index} of {total}…"))
            text = self._complete(answer, part.prompt, max_tokens=share)
            if text is None:
                return None
            notes.append(text)
        prompts = plan.combine_prompts(notes, count_tokens)
        while len(prompts) > 1:
            self._emit(AnswerProgress(answer.chat_id, answer.row.id,
                                      f"Combining {len(prompts)} sets of notes…"))
            combined = []
            for prompt in prompts:
                text = self._complete(answer, prompt, max_tokens=share)
                if text is None:
                    return None
                combined.append(text)
            if len(combined) >= len(notes):   # no fewer notes than before: cut them to fit
                combined = _shortened(combined, plan.budget_tokens)
            notes = combined
            prompts = plan.combine_prompts(notes, count_tokens)
        self._emit(AnswerProgress(answer.chat_id, answer.row.id,
                                  f"Writing the answer from {total} parts…"))
        return prompts[0] if prompts else None

    def _complete(self, answer, prompt: str, *, max_tokens: int = MAP_TOKENS) -> str | None:
        """One non-streamed local answer to ``prompt`` (a map or combine step); None
        when the person stopped the answer."""
        if answer.stop_requested:
            return None
        params = GenerationParams(temperature=0.0, max_tokens=max_tokens,
                                  token_confidence=False)
        with self._lock:
            if answer.stop_requested:
                return None
            handle = answer.handle = self.engine.generate(
                [{"role": "user", "content": prompt}], params)
        parts = []
        with handle:
            for event in handle:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif event.reason == "cancelled":
                    return None
        with self._lock:
            answer.handle = None
        return "".join(parts)


def _shortened(notes: list[str], budget_tokens: int) -> list[str]:
    """Notes cut to equal shares of one prompt, so that combining always ends (a model
    whose notes do not get shorter would otherwise combine for ever)."""
    characters = max(80, (budget_tokens * 3) // (len(notes) + 1))
    return [n if len(n) <= characters else n[:characters].rstrip() + " …" for n in notes]


def _with_context(messages: list[Message], context: str) -> list[Message]:
    """The grounding context joined to the system message (one system message: some
    chat templates accept no other)."""
    messages = [dict(m) for m in messages]
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = f"{messages[0]['content']}\n\n{context}".strip()
    else:
        messages.insert(0, {"role": "system", "content": context})
    return messages


def _with_last_user(messages: list[Message], content: str) -> list[Message]:
    messages = [dict(m) for m in messages]
    for message in reversed(messages):
        if message.get("role") == "user":
            message["content"] = content
            break
    return messages
