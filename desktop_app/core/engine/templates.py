"""Chat formats, and choosing the right one for a GGUF.

A GGUF normally carries its chat template (``tokenizer.chat_template``). When it
does not, llama-cpp-python silently falls back to llama-2, which is wrong for
most models. ``choose_chat_template`` decides instead, in this order:

1. an override from the model catalog (a ``FORMATS`` name);
2. the template embedded in the file, unless ``template_problem`` refuses it as
   unsafe (it reaches for Python internals or breaks the sandbox's limits): then
   the steps below choose, and the note says the file's template was refused;
3. the vocabulary's special tokens (SmolLM2 is architecture "llama" but ChatML);
4. ``general.architecture``;
5. ChatML, and the note says plainly that it is a guess.

Templates are Jinja2 in the Hugging Face style (``messages``,
``add_generation_prompt``, ``bos_token``, ``eos_token``). Formats without a
system role fold a leading system message into the first user turn; any other
system message becomes a user turn, so nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .prompt import template_problem


@dataclass(frozen=True)
class ChatFormat:
    name: str
    template: str
    stops: tuple[str, ...]   # end-of-turn strings, beyond the model's EOS token


@dataclass(frozen=True)
class TemplateChoice:
    template: str
    stops: tuple[str, ...]   # extra stop strings (beyond the model's EOS token)
    format: str | None       # a FORMATS name, or None when the embedded template is used
    source: str              # "embedded" | "catalog" | "vocabulary" | "architecture" | "default"
    note: str                # one line for the model details


# Formats without a system role: a leading system message (when something follows it)
# is held apart and folded into the first turn; lone or later ones become user turns.
_SPLIT_SYSTEM = (
    "{%- if messages[0]['role'] == 'system' and messages|length > 1 -%}"
    "{%- set system_message = messages[0]['content'] -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system_message = none -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
)
_FIRST_WITH_SYSTEM = "(system_message if loop.first and system_message is not none else none)"

_CHATML = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

_LLAMA_3 = (  # Meta-Llama-3-*-Instruct
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif -%}"
)

_LLAMA_2 = _SPLIT_SYSTEM + (  # Llama-2-*-chat: <<SYS>> inside the first [INST]
    "{%- for message in loop_messages -%}"
    "{%- set content = message['content'] -%}"
    "{%- if " + _FIRST_WITH_SYSTEM + " is not none -%}"
    "{%- set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + content -%}"
    "{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ ' ' + content | trim + ' ' + eos_token }}"
    "{%- else -%}"
    "{{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

_MISTRAL = _SPLIT_SYSTEM + (  # Mistral tokenizer v3 (v0.3, Mixtral 8x22B, Codestral)
    "{{ bos_token }}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ ' ' + message['content'] | trim + eos_token }}"
    "{%- else -%}"
    "{%- set prefix = " + _FIRST_WITH_SYSTEM + " -%}"
    "{{ '[INST] ' + (prefix + '\\n\\n' if prefix is not none else '')"
    " + message['content'] + '[/INST]' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

_GEMMA = _SPLIT_SYSTEM + (  # Gemma 1-3 instruction-tuned
    "{{ bos_token }}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else 'user' -%}"
    "{%- set prefix = " + _FIRST_WITH_SYSTEM + " -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (prefix + '\\n\\n' if prefix is not none else '')"
    " + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)

_PHI_3 = (  # Phi-3 / Phi-3.5 instruct
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' and message['content'] -%}"
    "{{ '<|system|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{%- elif message['role'] == 'user' -%}{{ '<|user|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '<|assistant|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- else -%}{{ eos_token }}{%- endif -%}"
)

_PHI_4 = (  # Phi-4 (14B): ChatML markers with <|im_sep|>, no newlines
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant<|im_sep|>' }}{%- endif -%}"
)

_ZEPHYR = (  # HuggingFaceH4/zephyr-7b-beta
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{ '<|user|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{%- elif message['role'] == 'system' -%}"
    "{{ '<|system|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"
)

_DEEPSEEK_R1 = (  # DeepSeek-R1 and its distills; earlier reasoning is not sent back
    "{{ bos_token }}"
    "{{ messages | selectattr('role', 'equalto', 'system') | map(attribute='content')"
    " | join('\\n\\n') }}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{ '<｜User｜>' + message['content'] }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '<｜Assistant｜>' + message['content'].split('</think>')[-1] + '<｜end▁of▁sentence｜>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<｜Assistant｜><think>\\n' }}{%- endif -%}"
)

FORMATS: dict[str, ChatFormat] = {f.name: f for f in (
    ChatFormat("chatml", _CHATML, ("<|im_end|>", "<|im_start|>")),
    ChatFormat("llama-3", _LLAMA_3, ("<|eot_id|>", "<|start_header_id|>")),
    ChatFormat("llama-2", _LLAMA_2, ("[INST]",)),
    ChatFormat("mistral", _MISTRAL, ("[INST]",)),
    ChatFormat("gemma", _GEMMA, ("<end_of_turn>", "<start_of_turn>")),
    ChatFormat("phi-3", _PHI_3, ("<|end|>", "<|user|>")),
    ChatFormat("phi-4", _PHI_4, ("<|im_end|>", "<|im_start|>")),
    ChatFormat("zephyr", _ZEPHYR, ("<|user|>", "<|system|>")),
    ChatFormat("deepseek-r1", _DEEPSEEK_R1, ("<｜end▁of▁sentence｜>", "<｜User｜>")),
)}

# Vocabulary tests, most specific first: (format, tokens that must exist, tokens that must not).
# DeepSeek-R1-Distill-Llama keeps Llama 3's <|start_header_id|>, and Phi-4 has ChatML's
# <|im_start|>, so both are tested before the formats they borrow from.
_VOCABULARY_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("deepseek-r1", ("<｜User｜>",), ()),
    ("phi-4", ("<|im_sep|>", "<|im_start|>"), ()),
    ("chatml", ("<|im_start|>",), ()),
    ("llama-3", ("<|start_header_id|>",), ()),
    ("gemma", ("<start_of_turn>",), ()),
    ("phi-3", ("<|end|>", "<|user|>", "<|assistant|>"), ()),
    ("zephyr", ("<|user|>",), ("<|end|>",)),
    ("mistral", ("[INST]",), ()),
)

# GGUF general.architecture -> format, for files whose vocabulary says nothing.
ARCHITECTURE_FORMATS: dict[str, str] = {
    "qwen": "chatml", "qwen2": "chatml", "qwen2moe": "chatml", "qwen2vl": "chatml",
    "qwen3": "chatml", "qwen3moe": "chatml",
    "gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "gemma3n": "gemma",
    "phi3": "phi-3",
    "llama": "llama-2",
    "mistral": "mistral",
    "olmoe": "zephyr",
}

DEFAULT_FORMAT = "chatml"
_NO_TEMPLATE = "the file has no chat template"

# Every known end-of-turn marker, in a stable order, for embedded templates.
_KNOWN_STOPS: tuple[str, ...] = tuple(dict.fromkeys(s for f in FORMATS.values() for s in f.stops))


def stops_for_template(template: str) -> tuple[str, ...]:
    """The known end-of-turn markers that occur in a template's text."""
    return tuple(stop for stop in _KNOWN_STOPS if stop in template)


def choose_chat_template(*, embedded: str | None, architecture: str | None,
                         has_token: Callable[[str], bool],
                         override: str | None = None) -> TemplateChoice:
    """Pick the chat template for a model; see the module docstring for the order."""
    if override is not None:
        if override not in FORMATS:
            raise ValueError(f"unknown chat format {override!r}; known formats: "
                             f"{', '.join(FORMATS)}")
        return _choice(override, "catalog", f"{override} (set by the model catalog)")
    why = _NO_TEMPLATE
    if embedded and embedded.strip():
        problem = template_problem(embedded)
        if problem is None:
            return TemplateChoice(embedded, stops_for_template(embedded), None, "embedded",
                                  "embedded in the model file")
        why = f"the file's chat template was refused as unsafe: {problem}"
    for name, needed, absent in _VOCABULARY_RULES:
        if all(has_token(t) for t in needed) and not any(has_token(t) for t in absent):
            return _choice(name, "vocabulary",
                           f"{name} (chosen from the model's vocabulary; {why})")
    name = ARCHITECTURE_FORMATS.get((architecture or "").lower())
    if name is not None:
        return _choice(name, "architecture",
                       f"{name} (chosen from architecture {architecture!r}; {why})")
    known = f"architecture {architecture!r} is not known" if architecture \
        else "the architecture is not recorded"
    return _choice(DEFAULT_FORMAT, "default", f"{DEFAULT_FORMAT} (a guess: {why} and {known})")


def _choice(name: str, source: str, note: str) -> TemplateChoice:
    fmt = FORMATS[name]
    return TemplateChoice(fmt.template, fmt.stops, name, source, note)

