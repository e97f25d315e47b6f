"""The engine process: a LlamaEngine served over stdin/stdout (see protocol.py).

Started by ``EngineProcess``: ``python -m desktop_app.core.engine.child`` from
source, or the frozen executable with ``CHILD_FLAG`` as its only argument.

Two threads. The main one runs requests in order. A reader thread takes
lines from stdin and queues them; a ``generate`` gets its engine handle as it
arrives, and ``cancel`` cancels that handle at once, so it lands even while the
main thread is inside prompt evaluation, or before the request has begun.
The replies go to a private copy of the original stdout; file descriptor 1
itself is pointed at stderr, so nothing native can print into the protocol.
stderr carries the log (and, on a hard crash, faulthandler's stack).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import replace
from typing import Any, BinaryIO

from .contract import Generation
from .protocol import OPS, decode, encode, error_to_dict
from .types import GenerationParams, LoadOptions, ReplyFinished, TextDelta

log = logging.getLogger(__name__)

CHILD_FLAG = "--scalpel-engine-process"
STREAM_FLUSH_S = 0.03  # streamed text is coalesced into one line per this interval (~33/s)


class _Replies:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._stream.write(encode(message))
            self._stream.flush()


class EngineServer:
    """Runs requests against one engine; the reader thread feeds it."""

    def __init__(self, engine, replies: _Replies) -> None:
        self._engine = engine
        self._replies = replies
        self._requests: queue.Queue[dict | None] = queue.Queue()
        self._answering: dict[Any, Generation] = {}  # request id -> its handle, until done

    # -- the reader thread ---------------------------------------------------
    def read_requests(self, stdin: BinaryIO) -> None:
        for line in stdin:
            try:
                message = decode(line)
            except ValueError:
                log.error("ignored a malformed request line (%d bytes)", len(line))
                continue
            if message.get("op") == "cancel":
                handle = self._answering.get(message.get("id"))
                if handle is not None:  # else it has finished: nothing to stop
                    handle.cancel()
                continue
            if message.get("op") == "generate":
                # The handle exists from the moment the request arrives, so a cancel
                # that follows it at once has something to cancel.
                message["handle"] = self._start_generation(message)
            self._requests.put(message)
        for handle in list(self._answering.copy().values()):  # stdin closed: parent gone
            handle.cancel()
        self._requests.put(None)

    def _start_generation(self, message: dict) -> "Generation | Exception":
        args = message.get("args", {})
        try:
            handle = self._engine.generate(args["messages"],
                                           GenerationParams.from_dict(args["params"]))
        except Exception as exc:  # noqa: BLE001 - reported when the request's turn comes
            return exc
        self._answering[message.get("id")] = handle
        return handle

    # -- the main thread -----------------------------------------------------
    def serve(self) -> None:
        while (message := self._requests.get()) is not None:
            request_id, op = message.get("id"), message.get("op")
            try:
                if op not in OPS:
                    raise ValueError(f"unknown request {op!r}")
                if op == "generate":
                    result = self._stream(request_id, message["handle"])
                else:
                    result = getattr(self, f"_op_{op}")(**message.get("args", {}))
                self._replies.send({"id": request_id, "result": result})
            except Exception as exc:  # noqa: BLE001 - every failure is reported, typed
                if not _is_scalpel_error(exc):
                    log.exception("request %s failed", op)
                self._replies.send({"id": request_id, "error": error_to_dict(exc)})
            finally:
                self._answering.pop(request_id, None)

    def _loaded(self) -> list[dict]:
        return [info.to_dict() for info in self._engine.loaded_models()]

    def _op_load(self, *, path: str, options: dict, name: str | None = None) -> dict:
        info = self._engine.load(path, LoadOptions.from_dict(options), name=name)
        return {"info": info.to_dict(), "loaded": self._loaded()}

    def _op_unload(self) -> None:
        self._engine.unload()

    def _op_set_keep_loaded(self, *, count: int) -> list[dict]:
        self._engine.keep_loaded = count
        return self._loaded()

    def _op_render_prompt(self, *, messages: list) -> dict:
        rendered = self._engine.render_prompt(messages)
        return {"text": rendered.text, "stop_strings": list(rendered.stop_strings)}

    def _op_count_prompt_tokens(self, *, messages: list) -> int:
        return self._engine.count_prompt_tokens(messages)

    def _op_stats(self) -> dict:
        return self._engine.stats()

    def _op_embed(self, *, texts: list, model: str | None = None) -> list[list[float]]:
        return self._engine.embed(texts, model=model)

    def _stream(self, request_id, handle: "Generation | Exception") -> None:
        """Stream one answer. Text is coalesced here, and only here, into one line per
        ``STREAM_FLUSH_S`` (the first piece at once); the final event carries no text,
        since the parent has it from the pieces."""
        if isinstance(handle, Exception):
            raise handle
        pending: list[str] = []
        sent_at = 0.0
        with handle:
            for event in handle:
                if isinstance(event, TextDelta):
                    pending.append(event.text)
                    now = time.monotonic()
                    if now - sent_at >= STREAM_FLUSH_S:
                        self._send_text(request_id, pending)
                        sent_at = now
                elif isinstance(event, ReplyFinished):
                    self._send_text(request_id, pending)
                    self._replies.send({"id": request_id,
                                        "event": replace(event, text="").to_dict()})

    def _send_text(self, request_id, pending: list[str]) -> None:
        if pending:
            self._replies.send({"id": request_id, "event": TextDelta("".join(pending)).to_dict()})
            pending.clear()


def _is_scalpel_error(exc: BaseException) -> bool:
    from ..errors import ScalpelError

    return isinstance(exc, ScalpelError)


def _take_pipes() -> tuple[BinaryIO, BinaryIO]:
    """Private handles on the request and reply pipes (by file descriptor: a windowed
    frozen build may have no sys.stdin/stdout objects); fd 1 then goes to stderr."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    os.dup2(2, 1)
    sys.stdout = sys.stderr = os.fdopen(2, "w", encoding="utf-8", errors="replace",
                                        buffering=1, closefd=False)
    return requests, replies


def machine_gate():
    """The allow-list this process enforces, read here from the machine, not taken from
    the parent: the machine's policy file when it has one (no environment variable
    replaces it), else the one SCALPEL_POLICY or SCALPEL_SYSTEM_CONFIG names. No cache a
    user can write takes part in its verdicts."""
    from ..catalog import load_catalog
    from ..paths import Paths
    from ..policy import ModelGate, load_policy

    policy = load_policy(Paths.from_environment().system_config_dir)
    if policy.allowed_models is None:
        return None
    return ModelGate(policy, load_catalog())


def main() -> int:
    # Ctrl+C in a terminal reaches the whole process group; stopping an answer is the
    # parent's decision, sent as a cancel.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, reply_pipe = _take_pipes()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    faulthandler.enable(file=sys.stderr, all_threads=True)
    replies = _Replies(reply_pipe)
    from .llama_engine import LlamaEngine  # after the pipes are safe: it imports llama.cpp

    server = EngineServer(LlamaEngine(gate=machine_gate()), replies)
    reader = threading.Thread(target=server.read_requests, args=(requests,),
                              name="scalpel-engine-requests", daemon=True)
    reader.start()
    replies.send({"ready": os.getpid()})
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
