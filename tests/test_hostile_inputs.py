"""Hostile and odd inputs, each with a defined outcome: the engine, the CLI and the chat store.

The matrix (GUI cases are in test_hostile_inputs_gui.py):

1. empty / whitespace-only prompt: the CLI exits 2 with one usage line; out-of-range
   numeric flags likewise (``--threads 100000`` used to crash llama.cpp; the engine itself
   clamps such a count to 512, GGML_MAX_N_THREADS).
3. invalid UTF-8 (stdin, argv) and lone surrogates (argv, imported chat files): each bad
   sequence becomes U+FFFD, the turn is answered, exit 0.
4. a prompt longer than the context: ``ContextOverflowError``; the CLI exits 1 with one line,
   the REPL says so and goes on.
5. a chat template reaching for Python internals: the sandbox stops it; an embedded template
   that does so is refused at load (ChatML from the vocabulary instead, stated in
   ``ModelInfo.chat_template``); one that turns hostile only on some chats fails that turn with
   an ``EngineError``. Nothing of the interpreter reaches the prompt.
6. absurd metadata (block_count 0 or > 512, context_length >= 2**26): a ``ModelFileError`` from
   gguf_inspect before llama.cpp sees the file (block_count 0 used to abort the process);
   a large but representable context_length loads with the requested n_ctx.
7. the model file renamed or deleted while loaded: replies go on (mmap); loading that path
   again says "model file not found". A file replaced at that path (another inode, size or
   mtime) is read afresh, not served from the pool.
8. several connections / processes on one chat store at once: no "database is locked", no
   "table already exists", integrity ok (the GUI and two-process cases are in the GUI file).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from desktop_app.core.engine import (GenerationParams, LlamaEngine, LoadOptions, ReplyFinished,
                                     TextDelta)
from desktop_app.core.engine.prompt import ChatPromptFormatter, template_problem
from desktop_app.core.engine.templates import FORMATS
from desktop_app.core.errors import (ContextOverflowError, EngineError, ModelFileError,
                                     ModelNotFoundError, ScalpelError)
from gguf_copies import write_gguf_copy

GREEDY = GenerationParams(temperature=0.0, max_tokens=8)
HI = [{"role": "user", "content": "Say hi"}]
CHATML_BODY = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
               "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# What must never appear in a prompt: the fruits of reaching into the interpreter.
LEAKS = ("<class", "subclasses", "uid=", "__", "<function", "object at 0x", "jinja2", "os.")


def scalpel(*args, stdin: bytes | None = None, env: dict | None = None, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], input=stdin,
                          capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})


def decoded(result) -> tuple[str, str]:
    return result.stdout.decode("utf-8", "replace"), result.stderr.decode("utf-8", "replace")


def assert_one_line_failure(result, code: int, *expected: str) -> str:
    """Exit ``code`` with one line on stderr holding ``expected``: no traceback, no crash."""
    _, err = decoded(result)
    assert result.returncode == code, err  # a negative code would be a signal (a crash)
    assert err.strip().count("\n") == 0, err
    assert "Traceback" not in err and "GGML_ASSERT" not in err
    for text in expected:
        assert text in err, err
    return err


def reply(engine, messages, params=GREEDY) -> ReplyFinished:
    events = list(engine.generate(messages, params))
    assert isinstance(events[-1], ReplyFinished)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return events[-1]


# -- 1. empty prompts and out-of-range numbers on the command line -------------------------

@pytest.mark.parametrize("prompt", ["", "   ", "\n\t\u00a0\u2003"])
def test_an_empty_or_blank_cli_prompt_is_a_usage_error(prompt):
    """``scalpel chat ""`` (or only whitespace, Unicode spaces included) exits 2 with one usage
    line "scalpel: error: the prompt is empty", before any model is loaded."""
    result = scalpel("chat", prompt)
    assert_one_line_failure(result, 2, "scalpel: error: the prompt is empty")
    assert result.stdout == b""


@pytest.mark.parametrize("flag, value", [
    ("--threads", "100000"),   # more than GGML_MAX_N_THREADS: llama.cpp segfaulted
    ("--threads", "0"),
    ("--ctx", "-5"),           # llama.cpp: "n_ctx_seq == 0", plus a log line on stderr
    ("--max-tokens", "0"),     # used to answer anyway
    ("--max-tokens", "-1"),
    ("--temperature", "nan"),  # used to sample garbage
    ("--temperature", "-1"),
])
def test_out_of_range_numbers_are_usage_errors(flag, value):
    """Numeric flags outside what the settings allow (threads 1..512, ctx 128..1048576,
    max-tokens >= 1, temperature 0..5) exit 2 with one line naming the flag: never a crash."""
    result = scalpel("chat", flag, value, "hi")
    assert_one_line_failure(result, 2, "scalpel: error:", flag)


THREADS_PROBE = """
import sys
from desktop_app.core.engine import GenerationParams, LlamaEngine, LoadOptions
from desktop_app.core.errors import ScalpelError
try:
    engine = LlamaEngine()
    engine.load(sys.argv[1], LoadOptions(n_ctx=256, n_threads=100000))
    list(engine.generate([{"role": "user", "content": "hi"}],
                         GenerationParams(temperature=0.0, max_tokens=2)))
    print("answered")
except ScalpelError as exc:
    print(f"refused: {exc}")
"""


def test_an_absurd_thread_count_does_not_crash_the_engine(smollm2_path):
    """The engine given 100000 threads answers (clamped to 512) or refuses with a ScalpelError;
    the process survives either way. Run in a child process: it used to be a segfault."""
    result = subprocess.run([sys.executable, "-c", THREADS_PROBE, str(smollm2_path)],
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.returncode
    assert result.stdout.decode().startswith(("answered", "refused: "))


def test_a_thread_override_is_clamped_to_what_llama_cpp_allows(caplog):
    from desktop_app.core import hardware

    cpu = hardware.CpuInfo(logical=2, physical=2, usable=2)
    assert hardware.choose_threads(cpu, 100000) == 512
    assert "n_threads 100000 is outside 1..512; using 512" in caplog.text
    assert hardware.choose_threads(cpu, -3) == 1
    assert hardware.choose_threads(cpu, 512) == 512 and hardware.choose_threads(cpu, 3) == 3


# -- 3. invalid UTF-8 and lone surrogates ------------------------------------------------

def test_invalid_utf8_piped_as_a_single_turn_is_replaced_and_answered(smollm2_path):
    """Bytes that are not UTF-8 on stdin, one line without a newline at the end: the bad
    bytes become U+FFFD, the turn is answered and the REPL exits 0 at end of input.
    (Several turns with a blank line are covered by test_cli.)"""
    result = scalpel("chat", "--model", str(smollm2_path), "--temperature", "0",
                     "--max-tokens", "6", "--json", stdin=b"\xc3\x28 caf\xe9 \xf0\x9f\x98")
    out, err = decoded(result)
    assert result.returncode == 0, err
    assert sum(line.startswith('{"reason"') for line in out.splitlines()) == 1
    assert "Traceback" not in err


def test_invalid_utf8_in_the_arguments_is_replaced_and_answered(smollm2_path):
    """A prompt (and a system prompt) given as bytes that are not UTF-8: Python turns them
    into lone surrogates, which cannot be encoded for llama.cpp (it used to end in a
    UnicodeEncodeError traceback). Now each becomes U+FFFD and the answer comes, exit 0."""
    result = scalpel("chat", "--model", str(smollm2_path), "--temperature", "0",
                     "--max-tokens", "6", "--system", b"Be \xff brief", b"\xff\xfe Say hi")
    out, err = decoded(result)
    assert result.returncode == 0, err
    assert out.strip() and "Traceback" not in err


def test_lone_surrogates_in_messages_become_replacement_characters(engine):
    """The engine is handed text with lone surrogates (as argv or a careless caller may):
    the prompt carries U+FFFD in their place and the reply comes."""
    messages = [{"role": "user", "content": "Say \udcff hi \ud800"}]
    prompt = engine.render_prompt(messages).text
    assert "Say \ufffd hi \ufffd" in prompt
    assert reply(engine, messages).reason in {"stop", "length"}


def test_an_imported_chat_with_lone_surrogate_escapes_is_kept_with_replacements(tmp_path):
    """A chat file whose JSON carries "\\ud800"-style escapes (not text; SQLite refused them
    with a UnicodeEncodeError) imports, each lone surrogate replaced by U+FFFD."""
    import json

    from desktop_app.core.chats import ChatStore
    from desktop_app.core.chats.transfer import import_json

    data = json.loads('{"format": "scalpel-chat", "version": 1, "chat": {"title": "Odd \\udc80"},'
                      ' "messages": [{"id": 1, "parent_id": null, "role": "user",'
                      ' "content": "bad \\ud800 text", "created_at": 1}], "current_leaf_id": 1}')
    store = ChatStore(tmp_path / "chats.sqlite3")
    chat = import_json(store, data)
    assert chat.title == "Odd \ufffd"
    assert [m.content for m in store.path(chat.id)] == ["bad \ufffd text"]
    assert store.integrity_ok()


# -- 4. longer than the context ---------------------------------------------------------

def test_a_cli_prompt_longer_than_the_context_exits_1_with_one_line(smollm2_path):
    """``scalpel chat --ctx 256 <400 words>``: exit 1, one line "The conversation is N tokens
    but the model's context holds 256 ...", nothing on stdout."""
    result = scalpel("chat", "--model", str(smollm2_path), "--ctx", "256", "word " * 400)
    assert_one_line_failure(result, 1, "scalpel: The conversation is", "context holds 256")
    assert result.stdout.strip() == b""


def test_the_repl_reports_an_overlong_turn_and_answers_the_next(smollm2_path):
    """In the REPL an overlong turn prints the same one line and is dropped from the
    history; the next turn is answered and the exit code is 0."""
    stdin = ("word " * 400 + "\nSay hi\n").encode()
    result = scalpel("chat", "--model", str(smollm2_path), "--ctx", "256", "--temperature",
                     "0", "--max-tokens", "6", "--json", stdin=stdin)
    out, err = decoded(result)
    assert result.returncode == 0, err
    assert err.count("context holds 256") == 1 and "Traceback" not in err
    assert sum(line.startswith('{"reason"') for line in out.splitlines()) == 1


def test_an_overlong_prompt_is_a_typed_error_even_with_history(smollm2_path):
    """The newest message alone overflowing is a ContextOverflowError (older turns are
    dropped first, but the newest one is never cut)."""
    engine = LlamaEngine()
    engine.load(smollm2_path, LoadOptions(n_ctx=256))
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
               {"role": "user", "content": "word " * 400}]
    try:
        with pytest.raises(ContextOverflowError) as caught:
            reply(engine, history)
        assert caught.value.context_size == 256 and caught.value.prompt_tokens > 256
        assert "\n" not in str(caught.value)
    finally:
        engine.unload()


# -- 5. chat templates that reach for Python internals -----------------------------------

MRO = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
GLOBALS = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"

HOSTILE_TEMPLATES = {
    # reaching into the interpreter
    "mro": MRO,
    "globals": GLOBALS,
    "attr filter": "{{ cycler|attr('__init__') }}",
    "item": "{{ cycler['__init__'] }}",
    "built name": "{{ (cycler|attr('__in' ~ 'it__'))['__glo' ~ 'bals__'] }}",
    "generator frame": "{{ (messages|map(attribute='role')).gi_frame }}",
    # printing interpreter objects
    "a class": "{{ cycler }}",
    "a function": "{{ raise_exception }}",
    "a template reference": "{{ self }}",
    "concatenated": "{{ '' ~ raise_exception }}",
    "stringified": "{{ ''.strip|string }}",
    "formatted": "{{ '{}'.format(strftime_now) }}",
    # building gigabytes or looping for ever
    "repeat": "{{ 'x' * 10**10 }}",
    "width": "{{ ''.center(10**10) }}",
    "percent width": "{{ '%999999999s' % '' }}",
    "format width": "{{ '{:>999999999}'.format('') }}",
    "doubling": "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
                "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "doubling join": "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
                     "{% set ns.s = [ns.s, ns.s]|join %}{% endfor %}",
    "replace": "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(64) %}"
               "{% set ns.s = ns.s.replace('', ns.s) %}{% endfor %}",
    "nested loops": "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}"
                    "{% endfor %}",
    "huge output": "{% for a in range(100000) %}{% for b in range(1000) %}xxxxxxxxxx"
                   "{% endfor %}{% endfor %}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    # within every size limit, but endless work: stopped by the time limit
    "fan-out": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
               "{{ f(60) }}",
    "quadratic": "{% set ns = namespace(s='') %}{% for i in range(100000) %}"
                 "{% set ns.s = ns.s ~ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{% endfor %}",
    "huge number": "{% set ns = namespace(n=3) %}{% for i in range(40) %}"
                   "{% set ns.n = ns.n * ns.n %}{% endfor %}",
}


@pytest.mark.parametrize("name", list(HOSTILE_TEMPLATES))
def test_a_hostile_template_is_refused_and_stopped(name, monkeypatch):
    """Every hostile template is refused by the vetting (``template_problem`` says why, in
    one line) and, if used anyway, its render raises an EngineError; no Python internals,
    no gigabytes, no endless work. Both run on a worker thread, as in the app."""
    from desktop_app.core.engine import prompt

    monkeypatch.setattr(prompt, "RENDER_SECONDS", 0.5)  # the endless ones end sooner
    template = HOSTILE_TEMPLATES[name] + CHATML_BODY

    def vet_then_render():
        problem = template_problem(template)
        with pytest.raises(EngineError) as caught:
            ChatPromptFormatter(template, bos_token="<s>", eos_token="</s>").render(HI)
        return problem, str(caught.value)

    with ThreadPoolExecutor(max_workers=1) as worker:
        problem, error = worker.submit(vet_then_render).result()
    assert problem and "\n" not in problem
    assert "unsafe" in error and "\n" not in error


def test_the_guarded_sandbox_renders_real_templates_exactly_as_llama_cpp_python(smollm2_path):
    """The tightened sandbox changes nothing for honest templates: every built-in format and
    SmolLM2's own template render byte for byte as llama-cpp-python's Jinja2ChatFormatter."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from desktop_app.core.gguf_inspect import inspect_gguf

    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <3"},
            {"role": "assistant", "content": "Hello! {{ not a template }}"},
            {"role": "user", "content": "Name a colour, e.g. <class 'Blue'>."}]
    templates = {name: f.template for name, f in FORMATS.items()}
    templates["smollm2"] = inspect_gguf(smollm2_path).chat_template
    templates["tools"] = (  # namespace, loop controls, tojson, strftime_now, generation tag
        "{%- set ns = namespace(n=0) -%}{{ strftime_now('%Y')|length }}"
        "{%- for m in messages -%}{%- if m.role == 'system' %}{% continue %}{% endif -%}"
        "{%- set ns.n = ns.n + 1 -%}{{ ns.n }}:{{ m|tojson }}{%- if loop.last %}!{% endif -%}"
        "{% generation %}{{ m.content|trim }}{% endgeneration %}{%- endfor -%}"
        "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join('|') }}")
    for name, template in templates.items():
        expected = Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token="<s>")(
            messages=chat).prompt
        assert template_problem(template) is None, name
        ours = ChatPromptFormatter(template, bos_token="<s>", eos_token="</s>").render(chat)
        assert ours.text == expected, name


@pytest.fixture(scope="module")
def hostile_ggufs(smollm2_path, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-templates")
    templates = {
        "mro": MRO + CHATML_BODY,
        "globals": GLOBALS + CHATML_BODY,
        "prints": "{{ cycler }}{{ raise_exception }}" + CHATML_BODY,
        # honest on a first turn; reaches for the interpreter once a chat has history
        "later": "{% if messages|length > 1 %}{{ (cycler|attr('__in' ~ 'it__')) }}{% endif %}"
                 + CHATML_BODY,
    }
    return {name: write_gguf_copy(smollm2_path, folder / f"{name}.gguf",
                                  set_strings={"tokenizer.chat_template": template})
            for name, template in templates.items()}


@pytest.mark.parametrize("name", ["mro", "globals", "prints"])
def test_a_model_with_a_hostile_template_gets_a_safe_one_and_says_so(hostile_ggufs, name):
    """Loading a GGUF whose template reaches for Python internals (or prints interpreter
    objects) succeeds with ChatML chosen from the vocabulary; ``ModelInfo.chat_template``
    says the file's template was refused as unsafe. The prompt is plain ChatML and the
    model answers."""
    engine = LlamaEngine()
    try:
        info = engine.load(hostile_ggufs[name], LoadOptions(n_ctx=512))
        assert info.chat_template.startswith("chatml (chosen from the model's vocabulary")
        assert "refused as unsafe" in info.chat_template
        prompt = engine.render_prompt(HI).text
        assert prompt == "<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n"
        assert not any(leak in prompt for leak in LEAKS)
        assert reply(engine, HI).text.strip()
    finally:
        engine.unload()


def test_a_template_that_turns_hostile_later_fails_that_turn_safely(hostile_ggufs):
    """A template that is honest on a one-message chat passes the vetting and is used; the
    turn where it reaches for the interpreter raises an EngineError (a ScalpelError with one
    clear line) before anything reaches llama.cpp, and the model stays usable."""
    engine = LlamaEngine()
    try:
        info = engine.load(hostile_ggufs["later"], LoadOptions(n_ctx=512))
        assert info.chat_template == "embedded in the model file"
        first = reply(engine, HI)
        history = [*HI, {"role": "assistant", "content": first.text},
                   {"role": "user", "content": "And again"}]
        with pytest.raises(ScalpelError) as caught:
            reply(engine, history)
        message = str(caught.value)
        assert "chat template was stopped as unsafe" in message and "Python internals" in message
        assert "\n" not in message
        assert reply(engine, HI).text.strip()
    finally:
        engine.unload()


def test_the_cli_answers_with_a_hostile_template_model(hostile_ggufs):
    """``scalpel chat --model <hostile template>``: answered with the safe template, exit 0."""
    result = scalpel("chat", "--model", str(hostile_ggufs["globals"]), "--temperature", "0",
                     "--max-tokens", "6", "Say hi")
    out, err = decoded(result)
    assert result.returncode == 0, err
    assert out.strip() and "Traceback" not in err and "uid=" not in out


# -- 6. absurd metadata ---------------------------------------------------------------

ABSURD = {
    "no-layers": ({"llama.block_count": 0}, "llama.block_count is 0"),
    "too-many-layers": ({"llama.block_count": 600}, "llama.block_count is 600"),
    "context-2-31": ({"llama.context_length": 2**31}, "llama.context_length is 2,147,483,648"),
    "context-max-u32": ({"llama.context_length": 2**32 - 1},
                        "llama.context_length is 4,294,967,295"),
}


@pytest.fixture(scope="module")
def absurd_ggufs(smollm2_path, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("absurd")
    made = {name: write_gguf_copy(smollm2_path, folder / f"{name}.gguf", set_ints=ints)
            for name, (ints, _) in ABSURD.items()}
    made["long-context"] = write_gguf_copy(smollm2_path, folder / "long-context.gguf",
                                           set_ints={"llama.context_length": 2**20})
    return made


@pytest.mark.parametrize("name", list(ABSURD))
def test_absurd_metadata_is_refused_before_llama_cpp_sees_it(absurd_ggufs, name):
    """block_count 0 or above 512 (llama.cpp's GGML_ASSERT aborted the whole process) and a
    context_length of 2**31 or more (it overflows llama.cpp's int32 and breaks tokenizing):
    inspect_gguf and LlamaEngine.load raise a ModelFileError naming the key, in one line."""
    from desktop_app.core.gguf_inspect import inspect_gguf

    path, expected = absurd_ggufs[name], ABSURD[name][1]
    with pytest.raises(ModelFileError) as caught:
        inspect_gguf(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert f"{name}.gguf has a corrupt header" in str(caught.value)
    with pytest.raises(ModelFileError, match=expected):
        LlamaEngine().load(path, LoadOptions(n_ctx=512))


@pytest.mark.parametrize("name", ["no-layers", "context-2-31"])
def test_the_cli_refuses_absurd_metadata_in_one_line(absurd_ggufs, name):
    """``scalpel chat --model <absurd file>``: exit 1, one line naming the key; no abort."""
    result = scalpel("chat", "--model", str(absurd_ggufs[name]), "hi")
    assert_one_line_failure(result, 1, "has a corrupt header", ABSURD[name][1])


def test_a_long_but_possible_trained_context_loads_with_the_requested_size(absurd_ggufs):
    """context_length 2**20 (possible, if unusual) loads with n_ctx as requested (capped),
    reports the trained context as the file says, and answers."""
    engine = LlamaEngine()
    try:
        info = engine.load(absurd_ggufs["long-context"], LoadOptions(n_ctx=512))
        assert info.context_size == 512 and info.trained_context == 2**20
        assert reply(engine, HI).text.strip()
    finally:
        engine.unload()


# -- 7. the model file renamed or deleted while loaded -----------------------------------

@pytest.fixture
def own_copy(smollm2_path, tmp_path) -> Path:
    copy = tmp_path / "models" / "mine.gguf"
    copy.parent.mkdir()
    shutil.copyfile(smollm2_path, copy)
    return copy


@pytest.mark.skipif(sys.platform == "win32", reason="Windows refuses to rename or delete a "
                    "file that is mapped; that outcome is the OS's own message")
def test_renaming_and_deleting_the_loaded_file_keeps_replies_going(own_copy):
    """The file is renamed in the middle of a reply and then deleted: that reply finishes
    and the next one works (llama.cpp maps the file; the mapping outlives the name). Loading
    either path again says "model file not found", and the loaded model stays active."""
    engine = LlamaEngine()
    try:
        info = engine.load(own_copy, LoadOptions(n_ctx=512))
        moved = own_copy.with_name("moved.gguf")
        events = engine.generate(HI, GenerationParams(temperature=0.0, max_tokens=12))
        first = next(events)
        os.rename(own_copy, moved)
        rest = list(events)
        assert isinstance(first, TextDelta) and isinstance(rest[-1], ReplyFinished)
        moved.unlink()
        assert reply(engine, HI).text.strip()
        for path in (own_copy, moved):
            with pytest.raises(ModelNotFoundError, match=f"model file not found: {path.name}"):
                engine.load(path, LoadOptions(n_ctx=512))
        assert engine.model_info is info
        assert reply(engine, HI).text.strip()
    finally:
        engine.unload()


def test_a_file_replaced_while_loaded_is_loaded_afresh(own_copy):
    """A different file put at the loaded model's path (a re-download, or a broken copy) is
    read again on the next load of that path, not served from the pool: here it is cut short,
    so the load says "truncated"."""
    engine = LlamaEngine()
    try:
        engine.load(own_copy, LoadOptions(n_ctx=512))
        replacement = own_copy.with_name("replacement.gguf")
        replacement.write_bytes(own_copy.read_bytes()[:50_000_000])
        os.replace(replacement, own_copy)
        with pytest.raises(ModelFileError, match="truncated"):
            engine.load(own_copy, LoadOptions(n_ctx=512))
    finally:
        engine.unload()


# -- 8. one chat store, many connections ---------------------------------------------------

def test_many_connections_opening_a_new_store_at_once_all_succeed(tmp_path):
    """Windows or processes starting together on a new chat database: each opens it (no
    "database is locked" from the switch to WAL, no "table chats already exists" from two
    migrations racing), writes a chat, and the file is intact."""
    from desktop_app.core.chats import ChatStore

    for trial in range(10):
        path = tmp_path / f"new-{trial}.sqlite3"
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def open_and_write():
            start.wait()
            try:
                ChatStore(path).create_chat(title="together")
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=open_and_write) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        store = ChatStore(path)
        assert store.integrity_ok() and len(store.list_chats()) == 6


def test_a_migration_another_connection_finished_meanwhile_is_not_run_twice(tmp_path,
                                                                            monkeypatch):
    """``migrate`` reads the version again under the write lock: a connection that saw an
    old version before another one migrated skips what is done (deterministic form of the
    race above)."""
    from desktop_app.core.chats import ChatStore, schema

    path = tmp_path / "chats.sqlite3"
    ChatStore(path).create_chat(title="already migrated")
    real, calls = schema.schema_version, []

    def first_read_is_stale(db):
        calls.append(db)
        return 0 if len(calls) == 1 else real(db)

    monkeypatch.setattr(schema, "schema_version", first_read_is_stale)
    connection = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(connection) == schema.LATEST_VERSION
    connection.close()
    assert len(calls) > 1  # the version was read again under the lock
    assert [c.title for c in ChatStore(path).list_chats()] == ["already migrated"]
