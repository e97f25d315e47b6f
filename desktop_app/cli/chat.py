"""``scalpel chat``: a terminal face of the chat session (one-shot or turn by turn).

The same ``ChatSession`` as the window: the chat is saved (``--no-save`` for
scripts) and shows in the window's sidebar, and llama.cpp runs in the engine
process, so a damaged or truncated model ends in one line and exit 1, never a
crash of the command itself.
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import sys
from dataclasses import replace
from pathlib import Path

from ..core.chats import ChatStore, StoredMessage
from ..core.errors import (ConsentNeededError, EscalationRefusedError, ExitCode, ScalpelError,
                           UsageError)
from ..core.models import ModelRef
from ..core.presets import Preset, Sampling
from ..core.services import Services
from ..core.session import (AnswerFailed, AnswerFinished, AnswerRouted, AnswerText,
                            ChatSession, EscalationSuggested, Notice, Routed, SessionEvent)
from ..core.task_models import choose_model_for

POLL_S = 0.1  # how often the main thread looks up from waiting, so Ctrl+C lands at once


def add_chat_arguments(chat: argparse.ArgumentParser) -> None:
    chat.add_argument("prompt", nargs="?", help="the prompt; omit it for an interactive chat")
    chat.add_argument("--model", dest="chat_model", metavar="ID|PATH", help="model id or GGUF file")
    chat.add_argument("--preset", metavar="ID|NAME",
                      help="task preset: its system prompt, template, sampling and model")
    chat.add_argument("--system", help="system prompt (replaces the preset's)")
    chat.add_argument("--max-tokens", type=int, help="longest answer, in tokens")
    chat.add_argument("--temperature", type=float, help="0 for greedy (repeatable) answers")
    chat.add_argument("--seed", type=int, help="sampling seed")
    chat.add_argument("--threads", type=int, help="CPU threads (default: chosen for this machine)")
    chat.add_argument("--ctx", type=int, help="context size in tokens")
    chat.add_argument("--json", action="store_true", help="print the reply's stats as JSON at the end")
    chat.add_argument("--no-save", action="store_true",
                      help="keep this chat out of the chat history (for scripts)")
    chat.add_argument("--docs", action="append", metavar="COLLECTION", default=[],
                      help="answer from this document collection (scalpel docs add); "
                           "repeat for several")
    chat.add_argument("--escalate", action="store_true",
                      help="ask the organization's bigger model directly (when escalation "
                           "is set up and allowed)")


def run_chat(args: argparse.Namespace, services: Services, *, model: str | None) -> int:
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("the prompt is empty")
    problem = _number_problem(args)
    if problem:
        raise UsageError(problem)
    preset = services.presets.find(args.preset) if args.preset else None
    ref = _choose_model(services, model, preset)
    options = services.load_options(ref, preset)
    if args.threads and not _locked(services, "n_threads", "--threads", "the thread count"):
        options = replace(options, n_threads=_threads(args.threads, services))
    if args.ctx and not _locked(services, "n_ctx", "--ctx", "the context size"):
        options = replace(options, n_ctx=args.ctx)
    engine = services.new_engine_process()
    store = ChatStore(Path(":memory:")) if args.no_save else None
    try:
        engine.load(ref.path, options, name=ref.name)
        session = services.new_session(engine, store=store)
        if store is None and services.chat_store_opening and services.chat_store_opening.problem:
            print(f"scalpel: note: {services.chat_store_opening.problem}", file=sys.stderr)
        session.set_preset(_terminal_preset(args, services, preset))
        if args.docs:
            _check_collections(services, args.docs)
            session.set_documents(args.docs)
        terminal = _Terminal(session)
        if args.prompt is not None:
            finished = terminal.answer(args.prompt, remote=args.escalate)
            if finished is None:
                return ExitCode.FAILURE
            if args.json:
                print(json.dumps({"reason": finished.reason, "model": ref.id,
                                  "preset": preset.id if preset else None,
                                  "chat_id": None if args.no_save else session.chat_id,
                                  **finished.stats.to_dict(),
                                  **answer_origin(terminal.last_message, ref.name)}))
            return ExitCode.OK
        return terminal.repl(as_json=args.json)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return ExitCode.INTERRUPTED
    finally:
        engine.unload()
        if store is not None:
            store.close()


class _Terminal:
    """Prints a session's answers as they stream; Ctrl+C stops one."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self.last_message: StoredMessage | None = None  # the last answer, as saved
        self.suggested: tuple[str, ...] = ()
        self._events: queue.Queue[SessionEvent] = queue.Queue()
        session.subscribe(self._events.put)

    def answer(self, text: str, *, remote: bool = False):
        """Send ``text`` and stream the answer; its ReplyFinished, or None if it failed
        (the reason is printed). Ctrl+C stops the answer and keeps what it wrote.
        ``remote``: the organization's bigger model answers (--escalate)."""
        try:
            self.session.send(text, remote=remote)
        except ConsentNeededError as needed:
            if not _consent(needed):
                raise EscalationRefusedError("nothing was sent; the question stays on this "
                                             "computer") from None
            self.session.send(text, remote=remote, consent=True)
        stopped = False
        while True:
            try:
                event = self._events.get(timeout=POLL_S)
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                self.session.stop()
                stopped = True
                continue
            if isinstance(event, AnswerText):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, AnswerRouted) and not event.loading:
                print(f"[{event.routed.line()}]", file=sys.stderr)
            elif isinstance(event, EscalationSuggested):
                self.suggested = event.reasons
            elif isinstance(event, Notice):
                print(f"\nscalpel: note: {event.text}", file=sys.stderr)
            elif isinstance(event, AnswerFinished):
                self.last_message = event.message
                print()
                if stopped or event.finished.reason == "cancelled":
                    print("[stopped]", file=sys.stderr)
                elif event.finished.reason == "repetition":
                    print("[stopped: the model kept repeating itself; ask again, or use a "
                          "bigger model]", file=sys.stderr)
                return event.finished
            elif isinstance(event, AnswerFailed):
                print(f"\nscalpel: {event.error}", file=sys.stderr)
                return None

    def repl(self, *, as_json: bool) -> int:
        if sys.stdin.isatty():
            print("Chatting offline. Empty line: skip. Ctrl+D: quit. Ctrl+C: stop an answer.",
                  file=sys.stderr)
        while (line := _read_line("> ")) is not None:
            if not line.strip():
                continue
            finished = self.answer(line)
            self.session.wait_idle()
            if finished is not None and as_json:
                print(json.dumps({"reason": finished.reason, **finished.stats.to_dict()}))
        return ExitCode.OK


def answer_origin(message: StoredMessage | None, model_name: str) -> dict:
    """What ``--json`` adds about where the answer went: the task Auto chose and why, the
    model and whether it ran here, why it was escalated, and the weak-answer signals with
    their thresholds."""
    stats = (message.stats if message else None) or {}
    routed = Routed.from_dict(stats.get("routed"))
    return {"routed_to": routed.preset_id if routed else None,
            "routing_step": routed.step if routed else None,
            "routing_confidence": routed.confidence if routed else None,
            "routing_reason": routed.reason if routed else None,
            "answered_by": {"model": routed.model if routed else model_name,
                            "where": routed.where if routed else "local"},
            "escalation_reason": routed.escalation_reason if routed else None,
            "assessment": stats.get("assessment"),
            **({"grounding": (stats.get("grounding") or {}).get("mode"),
                "sources": (stats.get("grounding") or {}).get("sources", [])}
               if "grounding" in stats else {})}


def _check_collections(services: Services, names: list[str]) -> None:
    from ..core.documents.allowed import documents_refusal

    refusal = documents_refusal(services.policy)
    if refusal:
        raise ScalpelError(refusal)
    known = {info.name for info in services.documents_store.collections()}
    missing = [name for name in names if name not in known]
    if missing:
        listed = ", ".join(sorted(known)) or "none yet"
        raise UsageError(f"no document collection named {', '.join(missing)} (known: "
                         f"{listed}); add one with: scalpel docs add FOLDER --collection NAME")


def _consent(needed: ConsentNeededError) -> bool:
    """Ask mode: show exactly what would be sent and to whom; a terminal confirms, a
    script's --escalate is its consent."""
    print(f"scalpel: {needed}\n{needed.preview}\n", file=sys.stderr)
    if not sys.stdin.isatty():
        return True
    return (_read_line("Send this? [y/N] ") or "").strip().lower() in ("y", "yes")


def _terminal_preset(args: argparse.Namespace, services: Services,
                     preset: Preset | None) -> Preset:
    """The preset's instructions and sampling (or the settings'), with the flags on top.
    Without --preset the chat is recorded with no task (an empty id)."""
    settings = services.settings
    base = preset or Preset(id="", name="Terminal chat", max_tokens=settings.max_tokens,
                            sampling=Sampling(temperature=settings.temperature))
    sampling = replace(base.sampling, **{name: value for name, value in (
        ("temperature", args.temperature), ("seed", args.seed)) if value is not None})
    changes = {"sampling": sampling}
    if args.max_tokens is not None:
        changes["max_tokens"] = args.max_tokens
    if args.system is not None:
        changes["system_prompt"] = args.system
    return base.with_changes(**changes)


# The ranges the settings allow (settings.py's rules); beyond them llama.cpp fails
# in its own words, or crashes (more threads than GGML_MAX_N_THREADS).
_RANGES = (("threads", "--threads", 1, 512), ("ctx", "--ctx", 128, 1_048_576),
           ("max_tokens", "--max-tokens", 1, None), ("temperature", "--temperature", 0.0, 5.0))


def _number_problem(args: argparse.Namespace) -> str | None:
    for name, flag, low, high in _RANGES:
        value = getattr(args, name, None)
        if value is None:
            continue
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            limit = f"at least {low}" if high is None else f"between {low} and {high}"
            return f"{flag} must be {limit}, not {value}"
    return None


def _locked(services: Services, setting: str, flag: str, what: str) -> bool:
    """True (and a note on stderr) when the organization's policy fixes ``setting``:
    a locked setting wins over the command line."""
    if not services.policy.is_locked(setting):
        return False
    value = services.policy.locked_settings[setting]
    shown = "automatic" if value is None else value
    print(f"scalpel: note: {what} is set by your organization ({shown}); {flag} is ignored",
          file=sys.stderr)
    return True


def _threads(wanted: int, services: Services) -> int:
    """--threads, capped at the CPUs this process may use: more only thrash (512 threads
    on 2 cores took 14.7 s for 4 tokens instead of 0.5 s)."""
    usable = max(1, services.cpu.usable)
    if wanted > usable:
        print(f"scalpel: note: --threads {wanted} is more than the {usable} CPU"
              f"{'s' if usable != 1 else ''} Scalpel may use here; using {usable}",
              file=sys.stderr)
        return usable
    return wanted


def _choose_model(services: Services, model: str | None, preset: Preset | None) -> ModelRef:
    """--model if given, else the preset's installed choice, else the default model."""
    if model:
        return services.registry.resolve(model)
    ref = None
    if preset is not None:
        choice = choose_model_for(preset, services.usable_models(), services.catalog)
        ref = choice.ref or services.default_model()
        if choice.missing and ref is not None:
            print(f"scalpel: note: {preset.name} works best with {choice.missing.name}, which "
                  f"is not installed (scalpel models download {choice.missing.id}); "
                  f"answering with {ref.name}", file=sys.stderr)
    ref = ref or services.default_model()
    if ref is None:
        raise ScalpelError(services.no_model_reason())
    return ref


def _read_line(prompt: str) -> str | None:
    """One line of input, decoded leniently (bad UTF-8 becomes U+FFFD)."""
    if sys.stdin.isatty():
        sys.stderr.write(prompt)
        sys.stderr.flush()
    raw = sys.stdin.buffer.readline()
    if not raw:
        return None
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")
