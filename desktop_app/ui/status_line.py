"""The status bar: the model being loaded or in use, and the last reply's figures."""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar, QSizePolicy, QStatusBar

from ..core.engine import ModelInfo, ReplyStats
from .plain_text import plain_label, plain_tip


class StatusLine:
    def __init__(self, bar: QStatusBar) -> None:
        self.loading_bar = QProgressBar()
        self.loading_bar.setRange(0, 0)  # busy: llama.cpp reports no load progress here
        self.loading_bar.setMaximumWidth(90)
        self.loading_bar.setAccessibleName("Loading model")
        self.loading_label = plain_label()  # model names come from their files
        self.loading_label.setAccessibleName("Model being loaded")
        self.model = plain_label("No model loaded")
        self.model.setAccessibleName("Model in use")
        self.speed, self.ttft = plain_label(), plain_label()
        self.context = QProgressBar()  # the context meter: how full the model's window is
        self.context.setAccessibleName("Context used")
        self.context.setMinimumWidth(180)
        self.context.setMaximumWidth(220)
        self.context.setTextVisible(True)
        self.context.setFormat("context –")
        self.context.setValue(0)
        bar.addWidget(self.loading_bar)
        bar.addWidget(self.loading_label)
        bar.addWidget(self.model, 1)
        for label, name in ((self.speed, "Speed"), (self.ttft, "Time to first token")):
            label.setAccessibleName(name)
            label.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
            bar.addPermanentWidget(label)
        bar.addPermanentWidget(self.context)
        self.set_loading(None)

    def set_loading(self, name: str | None) -> None:
        """Show the busy indicator for ``name``; None hides it."""
        self.loading_bar.setVisible(name is not None)
        self.loading_label.setVisible(name is not None)
        if name is not None:
            self.loading_label.setText(f"Loading {name}…")
            self.model.setText("")

    def show_restarting(self, name: str) -> None:
        self.set_loading(name)
        self.loading_label.setText(f"The engine stopped; restarting it with {name}…")

    def show_model(self, info: ModelInfo) -> None:
        chosen = "" if info.chat_template.startswith("embedded") else " · template chosen by Scalpel"
        threads = f"{info.n_threads} thread{'s' if info.n_threads != 1 else ''}"
        device = f" · {info.offload}" if info.offload else ""
        self.model.setText(f"{info.name} · {info.quantization} · context "
                           f"{info.context_size:,} · {threads}{device}{chosen}")
        why = f"\nThreads: {info.threads_reason}" if info.threads_reason else ""
        self.model.setToolTip(plain_tip(f"Chat template: {info.chat_template}{why}\n"
                                        "(Ctrl+I for details)"))

    def show_still_loaded(self, info: ModelInfo | None) -> None:
        self.model.setText(f"{info.name} (still loaded)" if info else "No model loaded")

    def show_queued(self, name: str) -> None:
        self.model.setText(f"{name} loads when this answer ends…")

    def show_answering(self) -> None:
        self.speed.setText("answering…")
        self.ttft.setText("")  # the previous answer's figure does not describe this one

    def show_chat_figures(self, stats: ReplyStats | None) -> None:
        """The figures of the chat just shown: its last answer's, or none at all."""
        if stats is not None and stats.context_size:
            self.show_reply(stats)
            return
        if self.speed.text() != "answering…":
            self.speed.setText("")
        self.ttft.setText("")
        self.context.setValue(0)
        self.context.setFormat("context –")
        self.context.setToolTip("")

    def answer_ended(self) -> None:
        """An answer that failed leaves no figures; "answering…" must not stay."""
        if self.speed.text() == "answering…":
            self.speed.setText("")

    def show_reply(self, stats: ReplyStats) -> None:
        speed, tips = f"{stats.decode_tokens_per_s:.1f} tok/s", []
        if stats.threads_note:  # the engine gave cores up to other programs meanwhile
            n = stats.n_threads
            speed += f" · {n} thread{'s' if n != 1 else ''}"
            tips.append(f"Decoded on {n} thread{'s' if n != 1 else ''}: "
                        f"{stats.threads_note}. More are used again when they are quiet.")
        if stats.draft_tokens:
            tips.append(f"{stats.draft_accepted} of {stats.draft_tokens} tokens guessed from "
                        "the conversation were kept (this task decodes with prompt lookup)")
        self.speed.setText(speed)
        self.speed.setToolTip("\n".join(tips))
        self.ttft.setText(f"first token {stats.time_to_first_token_s:.2f} s")
        self.context.setMaximum(max(1, stats.context_size))
        self.context.setValue(min(stats.context_used, stats.context_size))
        left_out = (f" · {stats.dropped_messages} old messages left out"
                    if stats.dropped_messages else "")
        self.context.setFormat(f"context {stats.context_used:,} / {stats.context_size:,}")
        self.context.setToolTip(f"The model sees {stats.context_used:,} of its "
                                f"{stats.context_size:,} tokens of context{left_out}.")
