"""Turning messages into a prompt, and spotting stop strings in a stream.

The chat template embedded in the GGUF is rendered with llama-cpp-python's
``Jinja2ChatFormatter`` (a sandboxed Jinja environment). A GGUF without a
template gets ChatML, and the engine says so in ``ModelInfo.chat_template``;
llama-cpp-python's own default for that case is a silent llama-2 format.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import EngineError
from .types import Message

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_STOPS = ("<|im_end|>", "<|im_start|>")

VALID_ROLES = {"system", "user", "assistant"}


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    stop_strings: tuple[str, ...]


class ChatPromptFormatter:
    """Renders a message list with one chat template."""

    def __init__(self, template: str, *, bos_token: str, eos_token: str,
                 extra_stops: tuple[str, ...] = ()) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            self._formatter = Jinja2ChatFormatter(
                template=template, eos_token=eos_token, bos_token=bos_token)
        except Exception as exc:  # jinja2 syntax errors and the like
            raise EngineError(f"the model's chat template is broken: {exc}") from exc
        stops = [s for s in (eos_token, *extra_stops) if s]
        self.stop_strings = tuple(dict.fromkeys(stops))

    def render(self, messages: list[Message]) -> RenderedPrompt:
        check_messages(messages)
        try:
            result = self._formatter(messages=messages)
        except Exception as exc:
            raise EngineError(f"the model's chat template failed on this chat: {exc}") from exc
        return RenderedPrompt(result.prompt, self.stop_strings)


def check_messages(messages: list[Message]) -> None:
    if not messages:
        raise EngineError("there is nothing to answer: the chat has no messages")
    for message in messages:
        if message.get("role") not in VALID_ROLES or not isinstance(message.get("content"), str):
            raise EngineError(f"a chat message is malformed: {message!r:.80}")


class StopMatcher:
    """Feeds streamed text through, holding back what may be a stop string's start.

    ``feed`` returns the text that is safe to show now and whether a stop
    string was hit (the stop string itself is never shown).
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        if not self._stops:
            return text, False
        buffer = self._held + text
        cut = min((i for i in (buffer.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            return buffer[:cut], True
        keep = self._partial_suffix_length(buffer)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _partial_suffix_length(self, buffer: str) -> int:
        longest = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:n]):
                    longest = n
                    break
        return longest
