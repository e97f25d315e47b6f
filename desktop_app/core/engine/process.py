"""The engine in its own process, behind the same API as ``LlamaEngine``.

If the engine process dies (a crash in llama.cpp, a kill by the OS when memory
runs out) the request in flight raises ``EngineCrashedError`` with a sentence
for people, and Scalpel itself stays up. The next request starts a fresh
process and reloads the model that was active. ``unload`` ends the process,
which is the one sure way to give every byte of a model back to the OS.

Requests run one at a time on the caller's thread; a ``Generation``'s
``cancel`` may come from any thread and reaches the engine process at once.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import (EngineCrashedError, EngineError, ModelNotAllowedError,
                      NoModelLoadedError)
from ..policy.model import POLICY_ENV
from .child import CHILD_FLAG
from .contract import Generation, cancelled_before_start
from .protocol import decode, encode, error_from_dict
from .types import (EngineEvent, GenerationParams, LoadOptions, Message, ModelInfo,
                    RenderedPrompt, TextDelta, event_from_dict)

if TYPE_CHECKING:
    from ..policy import ModelGate

log = logging.getLogger(__name__)
child_log = logging.getLogger("desktop_app.engine_process")

STOP_TIMEOUT_S = 5.0
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
           "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}


def engine_command() -> list[str]:
    """How to start the engine process, from source or from a frozen build.

    Frozen, it is the console executable ``scalpel`` beside ``scalpel-gui`` (a
    windowed one may start without standard streams), with a flag its entry
    point looks for first (packaging/scalpel_main.py)."""
    if not getattr(sys, "frozen", False):
        return [sys.executable, "-m", "desktop_app.core.engine.child"]
    console = Path(sys.executable).with_name("scalpel.exe" if sys.platform == "win32"
                                             else "scalpel")
    return [str(console if console.is_file() else sys.executable), CHILD_FLAG]


def describe_exit(returncode: int | None) -> str:
    """Why a process ended, in words: 'it was killed (SIGKILL)'."""
    if returncode is None:
        return "it stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGKILL":
            return "it was killed (SIGKILL; the system may have run out of memory)"
        return f"it crashed ({name})"
    return f"it exited with code {returncode}"


class _Child:
    """One running engine process: its pipes and its log."""

    def __init__(self, command: list[str], env: dict[str, str] | None) -> None:
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, creationflags=flags)
        self.log_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._write_lock = threading.Lock()
        threading.Thread(target=self._forward_log, name="scalpel-engine-log",
                         daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _forward_log(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line:
                self.log_tail.append(line)
                level, _, text = line.partition(" ")
                if level in _LEVELS:  # the child's own "LEVEL logger: message" lines
                    child_log.log(_LEVELS[level], "[%d] %s", self.pid, text)
                else:  # a traceback or faulthandler's stack
                    child_log.warning("[%d] %s", self.pid, line)

    def send(self, message: dict[str, Any]) -> bool:
        """False when the process is gone (its stdin is closed)."""
        assert self.proc.stdin is not None
        with self._write_lock:
            try:
                self.proc.stdin.write(encode(message))
                self.proc.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

    def receive(self) -> dict[str, Any] | None:
        """The next reply, or None once the process has ended."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        return decode(line) if line else None

    def stop(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            with self._write_lock:
                try:
                    self.proc.stdin.close()  # end of requests: the child exits by itself
                except OSError:
                    pass
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("engine process %d did not stop; killing it", self.pid)
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def exit_reason(self) -> str:
        try:
            code = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        return describe_exit(code)


class EngineProcess:
    """``LlamaEngine``'s API, served by a child process started on first use."""

    def __init__(self, *, keep_loaded: int = 1, gate: "ModelGate | None" = None,
                 command: list[str] | None = None, env: dict[str, str] | None = None,
                 on_restart: Callable[[str], None] | None = None) -> None:
        """``on_restart(model_name)`` is told when a crashed engine is being restarted."""
        self._command = command or engine_command()
        self._env = env
        self._gate = gate
        self._keep = max(1, keep_loaded)
        self.on_restart = on_restart
        self._child: _Child | None = None
        self._lock = threading.Lock()  # one request at a time
        self._next_id = 0
        self._active: Generation | None = None  # the request being answered
        self._last_load: tuple[str, LoadOptions, str | None] | None = None
        self._info: ModelInfo | None = None
        self._loaded: list[ModelInfo] = []
        self.crashes = 0

    # -- the process -----------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The engine process's id while it runs."""
        return self._child.pid if self._child and self._child.alive() else None

    def _ensure_child(self) -> _Child:
        if self._child is not None and self._child.alive():
            return self._child
        restarting = self._child is not None and self._last_load is not None
        self._child = self._start_child()
        if self._keep != 1:
            self._call(self._child, "set_keep_loaded", count=self._keep)
        if restarting and self._last_load is not None:
            path, options, name = self._last_load
            log.warning("engine process restarted (pid %d); reloading %s", self._child.pid, path)
            if self.on_restart:
                self.on_restart(self._info.name if self._info else Path(path).name)
            self._apply_load(self._call(self._child, "load", path=path,
                                        options=options.to_dict(), name=name))
        return self._child

    def _child_env(self) -> dict[str, str] | None:
        """The engine process reads the policy itself (child.py). Where this machine has
        no policy file of its own, it is told which file this process read."""
        policy_file = self._gate.policy.file if self._gate else None
        if policy_file is None:
            return self._env
        return {**(os.environ if self._env is None else self._env),
                POLICY_ENV: str(policy_file)}

    def _start_child(self) -> _Child:
        try:
            child = _Child(self._command, self._child_env())
        except OSError as exc:
            raise EngineError(f"The engine could not be started: {exc}.") from exc
        hello = child.receive()
        if hello is None or "ready" not in hello:
            reason = child.exit_reason()
            log.error("engine process failed to start (%s): %s", reason,
                      " | ".join(child.log_tail))
            raise EngineError(f"The engine could not be started ({reason}); "
                              "details are in the log.")
        log.info("engine process started (pid %d)", child.pid)
        return child

    def _lost(self, child: _Child, doing: str) -> EngineCrashedError:
        self.crashes += 1
        reason = child.exit_reason()
        log.error("engine process %d ended while %s: %s; last log lines: %s", child.pid,
                  doing, reason, " | ".join(child.log_tail))
        advice = ("The model file may be damaged or too big for this machine. "
                  if doing == _DOING["load"] else "Your conversation is safe. ")
        return EngineCrashedError(f"The engine stopped while {doing}: {reason}. {advice}"
                                  "Scalpel will restart the engine with your next request.")

    def _call(self, child: _Child, op: str, **args) -> Any:
        self._send(child, op, args)
        reply = child.receive()
        if reply is None:
            raise self._lost(child, _DOING.get(op, "working"))
        if "error" in reply:
            raise error_from_dict(reply["error"])
        return reply.get("result")

    def _send(self, child: _Child, op: str, args: dict) -> int:
        self._next_id += 1
        child.send({"id": self._next_id, "op": op, "args": args})
        return self._next_id

    def _request(self, op: str, **args) -> Any:
        with self._lock:
            return self._call(self._ensure_child(), op, **args)

    # -- loading ---------------------------------------------------------------
    @property
    def model_info(self) -> ModelInfo | None:
        return self._info

    def loaded_models(self) -> list[ModelInfo]:
        return list(self._loaded)

    @property
    def keep_loaded(self) -> int:
        return self._keep

    @keep_loaded.setter
    def keep_loaded(self, count: int) -> None:
        self._keep = max(1, count)
        if self._child is not None and self._child.alive():
            loaded = self._request("set_keep_loaded", count=self._keep)
            self._loaded = [ModelInfo.from_dict(d) for d in loaded]

    def load(self, path: str | Path, options: LoadOptions = LoadOptions(), *,
             name: str | None = None) -> ModelInfo:
        # Only an early, friendly refusal of a file already known to be refused. The
        # verdict that counts is the engine process's, taken from the file it loads
        # (child.py builds its own gate from the machine's policy).
        if self._gate and self._gate.verdict_without_reading(Path(path)) is False:
            raise ModelNotAllowedError(self._gate.refusal(name or Path(path).name),
                                       path=str(path))
        info = self._apply_load(self._request("load", path=str(path),
                                              options=options.to_dict(), name=name))
        self._last_load = (str(path), options, name)
        return info

    def _apply_load(self, result: dict) -> ModelInfo:
        self._info = ModelInfo.from_dict(result["info"])
        self._loaded = [ModelInfo.from_dict(d) for d in result["loaded"]]
        return self._info

    def unload(self) -> None:
        """End the engine process: all of its memory goes back to the OS."""
        with self._lock:
            child, self._child = self._child, None
            self._last_load, self._info, self._loaded = None, None, []
        if child is not None:
            child.stop()

    close = unload

    # -- generating ------------------------------------------------------------
    def cancel(self) -> None:
        """Cancel the request being answered, if any (any thread)."""
        active = self._active
        if active is not None:
            active.cancel()

    def render_prompt(self, messages: list[Message]) -> RenderedPrompt:
        self._require_model()
        result = self._request("render_prompt", messages=messages)
        return RenderedPrompt(result["text"], tuple(result["stop_strings"]))

    def count_prompt_tokens(self, messages: list[Message]) -> int:
        self._require_model()
        return self._request("count_prompt_tokens", messages=messages)

    def stats(self) -> dict:
        if self._child is None or not self._child.alive():
            return {"model": self._info.to_dict() if self._info else None,
                    "loaded_models": [i.name for i in self._loaded], "last_reply": None}
        return self._request("stats")

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """Like ``LlamaEngine.embed``, in the engine process (one request, in turn with the
        others); ``model`` None embeds with the active model."""
        if model is None:
            self._require_model()
        elif self._gate and self._gate.verdict_without_reading(Path(model)) is False:
            raise ModelNotAllowedError(self._gate.refusal(Path(model).name), path=str(model))
        return self._request("embed", texts=texts if isinstance(texts, str) else list(texts),
                             model=None if model is None else str(model))

    def generate(self, messages: list[Message],
                 params: GenerationParams = GenerationParams()) -> Generation:
        """Like ``LlamaEngine.generate``: the request goes to the engine process when the
        handle is first read, after any request before it."""
        self._require_model()
        messages = [dict(m) for m in messages]
        return Generation(lambda handle: self._events(handle, messages, params))

    def _events(self, handle: Generation, messages: list[Message],
                params: GenerationParams) -> Iterator[EngineEvent]:
        with self._lock:
            if handle.cancelled:  # cancelled before it began: it never reaches the engine
                yield cancelled_before_start()
                return
            child = self._ensure_child()
            request_id = self._send(child, "generate",
                                    {"messages": messages, "params": params.to_dict()})
            handle.when_cancelled(lambda: child.send({"op": "cancel", "id": request_id}))
            self._active = handle
            done = False
            text: list[str] = []
            try:
                while True:
                    reply = child.receive()
                    if reply is None:
                        done = True
                        raise self._lost(child, "answering")
                    if "event" in reply:
                        event = event_from_dict(reply["event"])
                        if isinstance(event, TextDelta):
                            text.append(event.text)
                        else:  # the final text is not sent twice: it is what streamed
                            event = replace(event, text="".join(text))
                        yield event
                        continue
                    done = True
                    if "error" in reply:
                        raise error_from_dict(reply["error"])
                    return
            finally:
                self._active = None
                if not done:  # the reader stopped early: cancel, and read up to the end
                    handle.cancel()
                    while (reply := child.receive()) is not None and "event" in reply:
                        pass

    def _require_model(self) -> None:
        if self._info is None:
            raise NoModelLoadedError("no model is loaded; choose one first")


_DOING = {"load": "loading the model", "generate": "answering",
          "set_keep_loaded": "closing models", "render_prompt": "preparing the prompt",
          "count_prompt_tokens": "counting tokens", "stats": "reporting",
          "embed": "computing embeddings"}
