"""Turning messages into a prompt, and spotting stop strings in a stream.

A chat template comes from the model file, so it is untrusted code. It is
rendered in Jinja2's ``ImmutableSandboxedEnvironment`` (as Hugging Face and
llama-cpp-python do), tightened so that a hostile template fails safe:

* reaching for Python internals (``''.__class__``, ``cycler.__init__.__globals__``)
  stops the render at once with a ``SecurityError``; the sandbox alone would
  quietly print an empty string for some of them;
* printing a Python object (a function, a class, a method) is refused, and a
  prompt that shows a Python ``repr`` the chat itself did not contain is refused,
  so nothing of the interpreter leaks into the prompt;
* loops, texts, lists, numbers handed to filters and calls, the prompt itself and
  the time one render takes have generous limits, so a template cannot build
  gigabytes (``*``, ``**``, ``~``, ``%``, ``replace``, ``join``, widths) or loop or
  recurse for ever. The time limit is checked at every loop step and every call,
  which is where unbounded work has to pass; a single operation is bounded by the
  size limits.

``template_problem`` vets a template before use (a scan of its text for names of
Python internals, plus one render of a short chat): ``choose_chat_template`` passes over an embedded
template it refuses, and says so in the template note. A template that turns
hostile only on some chats fails that render with an ``EngineError``.

A GGUF without a template gets ChatML, and the engine says so in
``ModelInfo.chat_template``; llama-cpp-python's own default for that case is a
silent llama-2 format.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from datetime import datetime
from typing import Any

from jinja2 import BaseLoader, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.ext import Extension, loopcontrols
from jinja2.runtime import Undefined
from jinja2.sandbox import (UNSAFE_ASYNC_GENERATOR_ATTRIBUTES, UNSAFE_COROUTINE_ATTRIBUTES,
                            UNSAFE_FUNCTION_ATTRIBUTES, UNSAFE_GENERATOR_ATTRIBUTES,
                            UNSAFE_METHOD_ATTRIBUTES, ImmutableSandboxedEnvironment)
from jinja2.visitor import NodeTransformer

from ..errors import EngineError
from .types import Message, RenderedPrompt

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_STOPS = ("<|im_end|>", "<|im_start|>")

VALID_ROLES = {"system", "user", "assistant"}

# Limits for one render. Real chat templates stay orders of magnitude below them.
MAX_LOOP_ITEMS = 1_000_000         # loop iterations, all loops of one render together
MAX_NUMBER_ARGUMENT = 1_000_000    # an integer handed to a filter or call (widths, counts)
MAX_ITEMS = 1_000_000              # items in one list, tuple or dict a template builds
MAX_INT_BITS = 100_000             # size of an integer a template computes
BASE_TEXT_LIMIT = 4_000_000        # characters: any one text, and the prompt, may hold this
TEXT_LIMIT_PER_INPUT_CHAR = 4      # ... plus this many times the chat's own characters
RENDER_SECONDS = 5.0               # one render; honest templates take milliseconds

PROBE_CHAT: list[Message] = [{"role": "user", "content": "Hello"}]


class TemplateLimitError(SecurityError):
    """A template went beyond what one render may do (see the limits above)."""


# -- the guarded environment ---------------------------------------------------

class _RenderState(threading.local):
    text_limit = BASE_TEXT_LIMIT
    loops_left = MAX_LOOP_ITEMS
    deadline = float("inf")


_state = _RenderState()

_PLAIN_SCALARS = (str, int, float, bool, type(None), Undefined)
# Reprs of interpreter objects: "<function f at 0x...>", "<class 'x.Y'>", "<module 'os'>", ...
_PYTHON_REPR = re.compile(
    r"\bobject at 0x[0-9a-fA-F]+|\bat 0x[0-9a-fA-F]{6,}>"
    r"|<(?:class|module|function|built-in function|built-in method|bound method|method-wrapper"
    r"|slot wrapper|method|code object|frame|cell|traceback) ['\w.<]")
# Widths and precisions in %-formats and str.format fields.
_PERCENT_NUMBER = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d*))?")
_BRACE_NUMBERS = re.compile(r"\{[^{}]*\}")


def _limit(reason: str) -> TemplateLimitError:
    return TemplateLimitError(f"it {reason}")


def _check_plain(value: Any, depth: int = 0) -> None:
    """Refuse printing anything but text, numbers, booleans, none and containers of them."""
    if isinstance(value, _PLAIN_SCALARS):
        return
    if depth < 8 and isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, depth + 1)
        return
    if depth < 8 and isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, depth + 1)
            _check_plain(item, depth + 1)
        return
    raise SecurityError(f"it prints a Python object (a {type(value).__name__})")


def _finalize(value: Any) -> Any:
    _check_plain(value)
    return value


def _check_size(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _state.text_limit:
        raise _limit(f"builds a text of {len(value):,} characters")
    if isinstance(value, (list, tuple, dict)) and len(value) > MAX_ITEMS:
        raise _limit(f"builds a list of {len(value):,} items")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _limit("computes an enormous number")
    return value


def _check_numbers(args: tuple, kwargs: dict) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) \
                and abs(value) > MAX_NUMBER_ARGUMENT:
            raise _limit(f"passes the number {value:,} (at most {MAX_NUMBER_ARGUMENT:,} is "
                         "allowed)")


def _check_time() -> None:
    if time.monotonic() > _state.deadline:
        raise _limit(f"takes more than {RENDER_SECONDS:g} seconds to render")


def _check_format(text: Any) -> None:
    """Refuse %-formats and format fields with enormous widths or precisions."""
    if not isinstance(text, str):
        return
    numbers = [n for match in _PERCENT_NUMBER.finditer(text) for n in match.groups() if n]
    numbers += [n for field in _BRACE_NUMBERS.findall(text) for n in re.findall(r"\d+", field)]
    if any(len(n) > 6 for n in numbers):
        raise _limit("formats text wider than a million characters")


def _text_length(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = len(text) + 1 if not old else text.count(old)
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        if len(text) + hits * len(new) > _state.text_limit:
            raise _limit("builds an enormous text by replacing")


def _check_join(separator: Any, items: Any) -> None:
    if isinstance(separator, str) and isinstance(items, (list, tuple)):
        total = sum(_text_length(i) for i in items) + len(separator) * len(items)
        if total > _state.text_limit:
            raise _limit("builds an enormous text by joining")


def _loop_guard(iterable: Any):
    """Wraps every ``{% for %}`` iterable: all loops of a render share one budget."""
    for item in iterable:
        _state.loops_left -= 1
        if _state.loops_left < 0:
            raise _limit(f"loops more than {MAX_LOOP_ITEMS:,} times")
        _check_time()
        yield item


def _text_guard(value: Any) -> Any:
    """Wraps every ``~`` concatenation."""
    return _check_size(value)


class _GuardLoopsAndConcat(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "scalpel_loop_guard", [], [], None, None,
                                 lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, "scalpel_text_guard", [], [], None, None, lineno=node.lineno)


class _GuardedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame=None) -> None:
        super().visit_Template(_GuardLoopsAndConcat().visit(node), frame)


class _IgnoreGenerationTags(Extension):
    """Pass-through for Hugging Face's ``{% generation %}`` chat-template tag."""

    tags = {"generation"}

    def parse(self, parser):
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    """As Transformers renders ``tojson`` in chat templates."""
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def _guarded_filter(name: str, func):
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def guarded(*args, **kwargs):
        _check_numbers(args[skip + 1:], kwargs)
        value = args[skip] if len(args) > skip else None
        if name == "format":
            _check_format(value)
        elif name == "replace" and len(args) >= skip + 3:
            _check_replace(value, *args[skip + 1:skip + 4])
        elif name == "join" and isinstance(value, (list, tuple)):
            _check_join(args[skip + 1] if len(args) > skip + 1 else kwargs.get("d", ""), value)
        return _check_size(func(*args, **kwargs))

    return guarded


class GuardedTemplateEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox for chat templates; see the module docstring."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(loader=BaseLoader(), trim_blocks=True, lstrip_blocks=True,
                         extensions=[_IgnoreGenerationTags, loopcontrols], finalize=_finalize)
        self.filters["tojson"] = _tojson
        self.filters = {name: _guarded_filter(name, f) for name, f in self.filters.items()}
        self.filters["scalpel_loop_guard"] = _loop_guard
        self.filters["scalpel_text_guard"] = _text_guard

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"it reaches for Python internals ({attribute!r} of a "
                            f"{type(obj).__name__} object)")

    def wrap_str_format(self, value: Any):
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format(value.__self__)
        return wrapped

    def call(__self, __context, __obj, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_time()  # every call passes here: macros recursing or fanning out, too
        _check_numbers(args, kwargs)
        name, owner = getattr(__obj, "__name__", None), getattr(__obj, "__self__", None)
        if isinstance(owner, str) and name == "replace" and len(args) >= 2:
            _check_replace(owner, *args[:3])
        elif isinstance(owner, str) and name == "join" and args:
            _check_join(owner, args[0])
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        ints = (isinstance(left, int) and not isinstance(left, bool)
                and isinstance(right, int) and not isinstance(right, bool))
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) \
                        and len(seq) * times > (_state.text_limit if isinstance(seq, str)
                                                else MAX_ITEMS):
                    raise _limit("repeats a text or list enormously")
        elif operator == "+" and isinstance(left, (str, list, tuple)) \
                and isinstance(right, (str, list, tuple)):
            if len(left) + len(right) > _state.text_limit:
                raise _limit("builds an enormous text")
        elif operator == "**" and ints and abs(left) > 1 \
                and right * left.bit_length() > MAX_INT_BITS:
            raise _limit("computes an enormous number")
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
            if "*" in left:  # widths taken from the arguments
                _check_numbers(right if isinstance(right, tuple) else (right,), {})
        return _check_size(super().call_binop(context, operator, left, right))


# Attribute names that only lead into the interpreter: dunders, and what Jinja's sandbox
# calls internal (function globals and code, frames of generators and coroutines, mro).
_INTERNAL_NAMES = frozenset().union(
    UNSAFE_FUNCTION_ATTRIBUTES, UNSAFE_METHOD_ATTRIBUTES, UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES, UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    {"mro", "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame"})


def _is_internal(name: object) -> bool:
    return isinstance(name, str) and (name.startswith("__") or name in _INTERNAL_NAMES)


def _internal_names(tree: nodes.Template) -> list[str]:
    """Names of interpreter internals the template's text asks for (``x.__class__``,
    ``x['__globals__']``, ``x|attr('__init__')``). ``_private`` keys of a dict are fine."""
    found = [n.attr for n in tree.find_all(nodes.Getattr) if _is_internal(n.attr)]
    found += [n.arg.value for n in tree.find_all(nodes.Getitem)
              if isinstance(n.arg, nodes.Const) and _is_internal(n.arg.value)]
    found += [n.args[0].value for n in tree.find_all(nodes.Filter)
              if n.name == "attr" and n.args and isinstance(n.args[0], nodes.Const)
              and _is_internal(n.args[0].value)]
    return list(dict.fromkeys(found))


def _internals_reason(names: list[str]) -> str:
    return f"it reaches for Python internals ({', '.join(repr(n) for n in names[:3])})"


_environment_lock = threading.Lock()
_environment: GuardedTemplateEnvironment | None = None


def guarded_environment() -> GuardedTemplateEnvironment:
    global _environment
    with _environment_lock:
        if _environment is None:
            _environment = GuardedTemplateEnvironment()
        return _environment


def template_problem(template: str, *, bos_token: str = "<s>",
                     eos_token: str = "</s>") -> str | None:
    """Why ``template`` must not be used, or None.

    Refused: a template whose text names Python internals (dunder attributes and
    the like) or that breaks the sandbox or its limits on a one-message chat. A template that
    merely fails on that chat (a syntax error, its own ``raise_exception``) is
    not refused here; it fails with a clear message when used.
    """
    env = guarded_environment()
    try:
        names = _internal_names(env.parse(template))
    except TemplateSyntaxError:
        return None
    if names:
        return _internals_reason(names)
    try:
        _render(env.from_string(template), PROBE_CHAT, bos_token=bos_token,
                eos_token=eos_token, source=template)
    except (SecurityError, RecursionError, MemoryError, OverflowError) as exc:
        return _reason(exc)
    except Exception:  # noqa: BLE001 - the template's own failures are reported on use
        return None
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SecurityError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "it recurses without end"
    return "it goes beyond what one render may do"


def _raise_exception(message: str):
    raise ValueError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _render(compiled, messages: list[Message], *, bos_token: str, eos_token: str,
            source: str) -> str:
    """Render with fresh limits; refuse a prompt that shows Python reprs the chat lacks."""
    contents = "\n".join(str(m.get("content", "")) for m in messages)
    _state.text_limit = BASE_TEXT_LIMIT + TEXT_LIMIT_PER_INPUT_CHAR * len(contents)
    _state.loops_left = MAX_LOOP_ITEMS
    _state.deadline = time.monotonic() + RENDER_SECONDS
    parts: list[str] = []
    length = 0
    try:
        for part in compiled.generate(
                messages=messages, bos_token=bos_token, eos_token=eos_token,
                add_generation_prompt=True, raise_exception=_raise_exception,
                strftime_now=_strftime_now, functions=None, function_call=None, tools=None,
                tool_choice=None):
            length += len(part)
            if length > _state.text_limit:
                raise _limit(f"makes a prompt of more than {_state.text_limit:,} characters")
            parts.append(part)
    finally:
        _state.deadline = float("inf")
    text = "".join(parts)
    allowed = f"{contents}\n{bos_token}\n{eos_token}\n{source}"
    if any(m.group(0) not in allowed for m in _PYTHON_REPR.finditer(text)):
        raise SecurityError("it writes a description of a Python object into the prompt")
    return text


class ChatPromptFormatter:
    """Renders a message list with one chat template, in the guarded sandbox."""

    def __init__(self, template: str, *, bos_token: str, eos_token: str,
                 extra_stops: tuple[str, ...] = ()) -> None:
        env = guarded_environment()
        try:
            self._template = env.from_string(template)
        except Exception as exc:  # jinja2 syntax errors and the like
            raise EngineError(f"the model's chat template is broken: {exc}") from exc
        names = _internal_names(env.parse(template))
        if names:
            raise EngineError(f"the model's chat template was refused as unsafe: "
                              f"{_internals_reason(names)}; choose another model")
        self._source, self._bos, self._eos = template, bos_token, eos_token
        stops = [s for s in (eos_token, *extra_stops) if s]
        self.stop_strings = tuple(dict.fromkeys(stops))

    def render(self, messages: list[Message]) -> RenderedPrompt:
        check_messages(messages)
        messages = [_clean_message(m) for m in messages]
        try:
            text = _render(self._template, messages, bos_token=self._bos, eos_token=self._eos,
                           source=self._source)
        except (SecurityError, RecursionError, MemoryError, OverflowError) as exc:
            raise EngineError(f"the model's chat template was stopped as unsafe: "
                              f"{_reason(exc)}; choose another model") from exc
        except Exception as exc:
            raise EngineError(f"the model's chat template failed on this chat: {exc}") from exc
        return RenderedPrompt(text, self.stop_strings)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean_message(message: Message) -> Message:
    """Lone surrogates (undecodable bytes smuggled into a str, e.g. from argv) cannot be
    encoded as UTF-8 for llama.cpp: each becomes U+FFFD, as invalid input bytes do."""
    content = message["content"]
    if _LONE_SURROGATE.search(content) is None:
        return message
    return {**message, "content": _LONE_SURROGATE.sub("\ufffd", content)}


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
