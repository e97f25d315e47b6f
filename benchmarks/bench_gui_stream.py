"""Longest GUI event-loop stall while a long answer streams into the window (target < 50 ms).

The real window (bridge, 30 ms flush timer, conversation view, chat store with
its periodic partial saves, the final Markdown rendering) is fed by a replay
engine that emits a recorded Markdown answer token by token at a steady rate,
so the figure is the GUI's own cost, not the model's. A 5 ms heartbeat timer
on the GUI thread records every gap between its ticks.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_stream.py [--tokens 5000] [--rate 150]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from desktop_app.core.engine import (ModelInfo, ReplyFinished, ReplyStats,  # noqa: E402
                                     TextDelta)

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


class ReplayEngine:
    """Stands in for llama.cpp: same API, a recorded answer at a fixed token rate."""

    def __init__(self, pieces: list[str], rate: float) -> None:
        self._pieces, self._delay = pieces, 1.0 / rate
        self._cancel = False
        self.model_info = None

    def generate(self, messages, params):
        self._cancel = False
        return self._stream()

    def _stream(self):
        started = time.perf_counter()
        for piece in self._pieces:
            if self._cancel:
                break
            time.sleep(self._delay)
            yield TextDelta(piece)
        text = "".join(self._pieces)
        stats = ReplyStats(completion_tokens=len(self._pieces), context_size=8192,
                           total_s=time.perf_counter() - started)
        yield ReplyFinished(reason="stop", text=text, stats=stats)

    def cancel(self):
        self._cancel = True

    def unload(self):
        pass

    def loaded_models(self):
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=150.0, help="tokens per second")
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import create_window
    from desktop_app.core.paths import Paths
    from desktop_app.core.services import build_services

    app = QApplication([])
    services = build_services(Paths.under(Path(tempfile.mkdtemp(prefix="scalpel-bench-"))))
    pieces = answer_pieces(args.tokens)
    services.new_engine = lambda: ReplayEngine(pieces, args.rate)
    window = create_window(services)
    window.resize(1100, 740)
    window.show()
    window.chat.set_model(ModelInfo(
        path="replay", name="Replay", architecture="-", quantization="-", parameter_count=0,
        file_size=0, context_size=8192, trained_context=None, n_threads=1, n_gpu_layers=0,
        chat_template="embedded", load_seconds=0.0))

    gaps: list[float] = []
    last = [time.perf_counter()]
    finished_at = [0]  # index of the first gap after the answer completed

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(tick)
    done = QEventLoop()

    def on_finished(_finished) -> None:
        finished_at[0] = len(gaps)

    def on_answering(answering: bool) -> None:
        if not answering:  # the rendered answer is fully in the view
            QTimer.singleShot(200, done.quit)

    window.bridge.reply_finished.connect(on_finished)
    window.chat.answering_changed.connect(on_answering)
    heartbeat.start()
    window.panel.send("Tell me a long story about a lighthouse, with code.")
    done.exec()
    heartbeat.stop()
    stream_gaps = gaps[:finished_at[0]]
    finish_gap = max(gaps[finished_at[0]:], default=0.0)
    print(f"{len(pieces)} tokens at {args.rate:.0f} tok/s, {len(window.view.toPlainText()):,} "
          "characters shown")
    print("| measure | value | target |\n|---|---|---|")
    print(f"| longest stall while streaming | {max(stream_gaps) * 1000:.1f} ms | < 50 ms |")
    print(f"| 99th percentile tick gap | "
          f"{statistics.quantiles(stream_gaps, n=100)[98] * 1000:.1f} ms | |")
    print(f"| longest stall while the completed answer is rendered in | "
          f"{finish_gap * 1000:.1f} ms | < 50 ms |")
    print("(the completed answer is rendered off the GUI thread and inserted in slices)")
    window.close()
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
