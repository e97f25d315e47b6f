"""Longest GUI event-loop stall while a long answer streams into the window (target < 50 ms).

The real window (``SessionBridge``, the ``ChatSession`` with its worker thread
and periodic partial saves, the conversation view, the final Markdown
rendering) is fed by a replay engine that produces a recorded Markdown answer
token by token at a steady rate and hands it on the way the engine process does:
coalesced into one piece per ``child.STREAM_FLUSH_S`` (30 ms; the first piece
at once). So the figure is the GUI's own cost, not the model's. Each piece
reaches the view as one queued ``text_ready`` signal: the old EngineBridge's
second batching timer on the GUI thread is gone, and this measures the path
that replaced it. A 5 ms heartbeat timer on the GUI thread records every gap
between its ticks.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_stream.py [--tokens 5000] [--rate 150]
        [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks.report import Row, below  # noqa: E402
from desktop_app.core.engine import (GenerationParams, LoadOptions, ModelInfo,  # noqa: E402
                                     ReplyFinished, ReplyStats, TextDelta)
from desktop_app.core.engine.child import STREAM_FLUSH_S  # noqa: E402
from desktop_app.core.engine.contract import Generation, cancelled_before_start  # noqa: E402

PARAGRAPH = ("The **lighthouse** keeper climbed the stairs again, counting each of the "
             "ninety-one steps as the storm pressed against the glass. ")
CODE = ("```python\ndef beam(angle: float) -> float:\n    # sweep the lamp\n"
        "    return (angle + 7.5) % 360\n```\n\n")
LIST = "- oil the hinges\n- trim the wick\n- log the ships\n\n"


def answer_pieces(n_tokens: int) -> list[str]:
    """About ``n_tokens`` token-sized pieces of Markdown with code blocks and lists."""
    text, parts = "", [PARAGRAPH * 3 + "\n\n", CODE, LIST]
    while len(text) < n_tokens * 4:
        text += "".join(parts)
    pieces, position = [], 0
    while position < len(text) and len(pieces) < n_tokens:
        size = 3 + (len(pieces) % 3)  # 3 to 5 characters, like real tokens
        pieces.append(text[position:position + size])
        position += size
    return pieces


REPLAY_MODEL = ModelInfo(
    path="replay", name="Replay", architecture="-", quantization="-", parameter_count=0,
    file_size=0, context_size=8192, trained_context=None, n_threads=1, n_gpu_layers=0,
    chat_template="embedded", load_seconds=0.0)


class ReplayEngine:
    """Stands in for the engine process: the engine contract (a ``Generation`` per
    request), a recorded answer at a fixed token rate, sent on in the engine process's
    batches (one ``TextDelta`` per ``STREAM_FLUSH_S``, the first piece at once)."""

    def __init__(self, pieces: list[str], rate: float) -> None:
        self._pieces, self._delay = pieces, 1.0 / rate
        self._active: Generation | None = None
        self.model_info: ModelInfo | None = REPLAY_MODEL  # "loaded" from the start
        self.keep_loaded = 1
        self.on_restart = None
        self.batches = 0  # TextDeltas handed to the session, over all replies

    def load(self, path, options=LoadOptions(), *, name=None) -> ModelInfo:
        self.model_info = REPLAY_MODEL
        return REPLAY_MODEL

    def generate(self, messages, params=GenerationParams()) -> Generation:
        return Generation(self._stream)

    def _stream(self, handle: Generation):
        if handle.cancelled:
            yield cancelled_before_start()
            return
        self._active = handle
        try:
            started = time.perf_counter()
            pending: list[str] = []
            sent_at, shown, reason = 0.0, 0, "stop"
            for piece in self._pieces:  # as child.py's _stream coalesces the engine's tokens
                if handle.cancel_event.wait(self._delay):
                    reason = "cancelled"
                    break
                pending.append(piece)
                shown += 1
                now = time.monotonic()
                if now - sent_at >= STREAM_FLUSH_S:
                    yield self._batch(pending)
                    sent_at = now
            if pending:
                yield self._batch(pending)
            stats = ReplyStats(completion_tokens=shown, context_size=REPLAY_MODEL.context_size,
                               total_s=time.perf_counter() - started)
            yield ReplyFinished(reason=reason, text="".join(self._pieces[:shown]), stats=stats)
        finally:
            self._active = None

    def _batch(self, pending: list[str]) -> TextDelta:
        self.batches += 1
        delta = TextDelta("".join(pending))
        pending.clear()
        return delta

    def cancel(self) -> None:
        if self._active is not None:
            self._active.cancel()

    def unload(self) -> None:
        self.model_info = None

    def loaded_models(self) -> list[ModelInfo]:
        return [self.model_info] if self.model_info else []

    def stats(self) -> dict:
        return {"model": self.model_info.to_dict() if self.model_info else None}


def open_replay_window(pieces: list[str], rate: float):
    """The real main window on a ReplayEngine (so a model is already "loaded"), shown."""
    from desktop_app.app import create_window
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    services = build_services(Paths.under(Path(tempfile.mkdtemp(prefix="scalpel-bench-"))))
    engine = ReplayEngine(pieces, rate)
    services.new_engine_process = lambda: engine
    window = create_window(services)
    window.resize(1100, 740)
    window.show()
    return window, engine


class Heartbeat:
    """A timer on the GUI thread ticking every ``interval_ms``; ``ticks`` holds when each
    tick came (``time.perf_counter()``), so a gap far above the interval is a stall."""

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.ticks: list[float] = []
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def gaps(self, since: float = float("-inf"), until: float = float("inf")) -> list[float]:
        """Every gap between ticks (s) whose closing tick came between ``since`` and ``until``."""
        return [b - a for a, b in zip(self.ticks, self.ticks[1:]) if since <= b <= until]


def heartbeat_gaps(window) -> tuple[list[float], int, int]:
    """Send a message; every gap between 5 ms ticks, the index where the reply ended, and
    how many text batches reached the view."""
    from PySide6.QtCore import QEventLoop, QTimer

    heartbeat = Heartbeat(5)
    finished_at = [0]  # index of the first gap after the answer completed
    batches = [0]      # text_ready signals: the batches the view was given
    done = QEventLoop()

    def on_text(_text: str) -> None:
        batches[0] += 1

    def on_finished(_finished) -> None:
        finished_at[0] = len(heartbeat.ticks) - 1

    def on_answering(answering: bool) -> None:
        if not answering:  # the rendered answer is fully in the view
            QTimer.singleShot(200, done.quit)

    window.bridge.reply_finished.connect(on_finished)
    window.bridge.text_ready.connect(on_text)
    window.chat.answering_changed.connect(on_answering)
    heartbeat.start()
    window.panel.send("Tell me a long story about a lighthouse, with code.")
    if not window.chat.answering:  # else the loop below would wait forever
        raise RuntimeError("the window did not start answering the question")
    done.exec()
    heartbeat.stop()
    return heartbeat.gaps(), finished_at[0], batches[0]


def stream_into_window(tokens: int, rate: float) -> dict:
    """Stream a replayed answer into the real window; the heartbeat's gaps, in ms."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    pieces = answer_pieces(tokens)
    window, engine = open_replay_window(pieces, rate)
    gaps, finished_at, shown_batches = heartbeat_gaps(window)
    stream_gaps = gaps[:finished_at]
    if not stream_gaps:
        raise RuntimeError("the replayed answer never streamed into the window (is the "
                           "replay engine still the one the window uses?)")
    figures = {"tokens": len(pieces), "rate": rate, "characters": len(window.view.toPlainText()),
               "batches": engine.batches, "batches_shown": shown_batches,
               "stream_max_ms": max(stream_gaps) * 1000,
               "stream_p99_ms": statistics.quantiles(stream_gaps, n=100)[98] * 1000,
               "finish_max_ms": max(gaps[finished_at:], default=0.0) * 1000}
    window.close()
    app.quit()
    return figures


def print_table(f: dict) -> None:
    print(f"{f['tokens']} tokens at {f['rate']:.0f} tok/s, {f['characters']:,} characters shown, "
          f"in {f['batches_shown']} text batches ({f['batches']} sent, one per "
          f"{STREAM_FLUSH_S * 1000:.0f} ms at most)")
    print("| measure | value | target |\n|---|---|---|")
    print(f"| longest stall while streaming | {f['stream_max_ms']:.1f} ms | < 50 ms |")
    print(f"| 99th percentile tick gap | {f['stream_p99_ms']:.1f} ms | |")
    print(f"| longest stall while the completed answer is rendered in | "
          f"{f['finish_max_ms']:.1f} ms | < 50 ms |")
    print("(the completed answer is rendered off the GUI thread and inserted in slices)")


def measure(tokens: int = 5000, rate: float = 150.0, timeout_s: float = 600) -> dict:
    """Run this benchmark in a fresh offscreen process and return its figures."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, __file__, "--json", "--tokens", str(tokens),
                           "--rate", str(rate)], capture_output=True, text=True, env=env,
                          timeout=timeout_s)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench_gui_stream failed ({done.returncode}): {done.stderr[-400:]}")
    return json.loads(lines[-1])


def stall_rows(f: dict) -> list[Row]:
    """The suite's rows: longest stall while streaming, and while the answer is rendered in."""
    what = (f"{f['tokens']} tokens at {f['rate']:.0f} tok/s, in {f['batches_shown']} batches "
            f"of {STREAM_FLUSH_S * 1000:.0f} ms")
    return [Row(f"Longest GUI stall while streaming ({what})", f"{f['stream_max_ms']:.1f} ms",
                f"p99 tick gap {f['stream_p99_ms']:.1f} ms", "-", "< 50 ms",
                below(f["stream_max_ms"], 50.0)),
            Row("Longest GUI stall while the finished answer is rendered in",
                f"{f['finish_max_ms']:.1f} ms", "-", "-", "< 50 ms",
                below(f["finish_max_ms"], 50.0))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=150.0, help="tokens per second")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = stream_into_window(args.tokens, args.rate)
    if args.json:
        print(json.dumps(figures))
    else:
        print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
