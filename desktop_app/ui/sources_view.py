"""Sources under a grounded answer, and the dialog that shows one passage whole.

An answer grounded on the person's documents keeps ``stats["grounding"]`` (mode and
sources, each a ``Source.to_dict()``). ``grounding_html`` turns that into the block the
conversation view appends under the answer: numbered [1], [2]… with the file, its page
or heading, and the start of the passage, each with two links:

- ``source:<message id>:<marker>`` opens ``PassageDialog`` (the whole passage);
- ``openfile:<message id>:<marker>`` opens the file in the system's viewer.

``SourceLinks.handle`` handles both for the view. Everything from a file (its name, its
headings, its text) is untrusted: escaped here, never rendered as HTML; the dialog
shows the passage in a plain-text box. Hrefs carry only two integers.
"""

from __future__ import annotations

import html
import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout,
                               QWidget)

from .plain_text import plain_label

if TYPE_CHECKING:  # the documents core (and numpy) load when a source is first drawn,
    from ..core.documents.sources import Source  # not with the window

log = logging.getLogger(__name__)

SCHEMES = ("source", "openfile")
PREVIEW_CHARS = 220
NOTES = {"none": "No passage in this chat's documents matched the question; the answer "
                 "is not based on them.",
         "whole": "The documents were given to the model whole.",
         "map_reduce": "Built from every part of the documents, read in turn."}


def to_sources(items: Any) -> list[Source]:
    """The well-formed sources of ``items`` (stored data: anything else is skipped)."""
    from ..core.documents.sources import Source

    out = []
    for item in items if isinstance(items, (list, tuple)) else ():
        try:
            source = Source.from_dict(item)
        except (TypeError, KeyError, AttributeError, ValueError):
            continue
        if isinstance(source.marker, int) and isinstance(source.file, str) \
                and isinstance(source.passage, str):
            out.append(source)
    return out


def _preview(passage: str) -> str:
    text = " ".join(str(passage).split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1].rstrip() + "…"


def sources_html(message_id: int, sources: Sequence[Mapping[str, Any]], *,
                 muted: str = "#808080") -> str:
    """The numbered sources block for one answer ("" when there are none)."""
    shown = to_sources(sources)
    if not shown:
        return ""
    message_id = int(message_id)
    lines = ["<p style='margin-top:6px; margin-bottom:1px; font-size:small'>"
             "<b>Sources</b></p>"]
    for source in shown:
        href = f"{message_id}:{int(source.marker)}"
        lines.append(
            f"<p style='margin-top:0px; margin-bottom:2px; margin-left:10px; "
            f"font-size:small'>[{int(source.marker)}] "
            f"<a href='source:{href}'>{html.escape(source.label)}</a>"
            f" <span style='color:{html.escape(muted)}'>— “"
            f"{html.escape(_preview(source.passage))}”</span>"
            f" · <a href='openfile:{href}'>Open file</a></p>")
    return "".join(lines)


def grounding_html(message_id: int, grounding: Mapping[str, Any] | None, *,
                   muted: str = "#808080") -> str:
    """What goes under an answer for its ``stats["grounding"]`` ("" without one): a note
    for the mode (no passage matched; given whole; built from every part), then the
    sources."""
    if not isinstance(grounding, Mapping):
        return ""
    mode = grounding.get("mode")
    note = NOTES.get(mode) if isinstance(mode, str) else None
    note_html = (f"<p style='margin-top:4px; margin-bottom:1px; font-size:small; "
                 f"color:{html.escape(muted)}'><i>{html.escape(note)}</i></p>" if note else "")
    return note_html + sources_html(message_id, grounding.get("sources") or (), muted=muted)


def parse_link(url: str) -> tuple[str, int, int] | None:
    """("source" or "openfile", message id, marker) of a sources link, else None."""
    scheme, _, rest = str(url).partition(":")
    message, _, marker = rest.partition(":")
    if scheme not in SCHEMES or not message.isdigit() or not marker.isdigit():
        return None
    return scheme, int(message), int(marker)


def message_sources(store, message_id: int) -> list[Source]:
    """The sources a stored answer keeps (none when it has none, or is gone)."""
    try:
        stats = store.message(message_id).stats or {}
    except Exception as exc:  # a deleted message, a store that went away: nothing to show
        log.warning("sources of message %s: %s", message_id, exc)
        return []
    grounding = stats.get("grounding") if isinstance(stats, dict) else None
    return to_sources(grounding.get("sources") if isinstance(grounding, dict) else None)


def open_file(path: str, *, open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
              ) -> str | None:
    """Open ``path`` in the system's viewer; None, or why it could not be."""
    if not os.path.exists(path):
        return f"{os.path.basename(path)} is no longer at {path}; it was moved or deleted."
    if not open_url(QUrl.fromLocalFile(path)):
        return f"No program on this computer opened {os.path.basename(path)}."
    return None


class PassageDialog(QDialog):
    """One source: where it is, and its whole passage as plain text."""

    def __init__(self, source: Source, *, open_url: Callable[[QUrl], bool] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self._open_url = open_url or QDesktopServices.openUrl
        self.setWindowTitle(f"Source [{source.marker}]")
        self.setObjectName("passage-dialog")
        layout = QVBoxLayout(self)
        where = [source.label]
        if source.line_start is not None and source.page is None:
            where.append(f"lines {source.line_start}-{source.line_end}")
        self.heading = plain_label(f"[{source.marker}] " + " · ".join(dict.fromkeys(where)))
        self.heading.setWordWrap(True)
        layout.addWidget(self.heading)
        self.path_label = plain_label(source.file)
        self.path_label.setWordWrap(True)
        layout.addWidget(self.path_label)
        self.passage = QPlainTextEdit(source.passage)
        self.passage.setReadOnly(True)
        self.passage.setAccessibleName("Passage")
        layout.addWidget(self.passage, 1)
        self.problem = plain_label()
        self.problem.setWordWrap(True)
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("Open file",
                                             QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self.open_file)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(620, 440)

    def open_file(self) -> bool:
        problem = open_file(self.source.file, open_url=self._open_url)
        if problem:
            self.problem.setText(problem)
            self.problem.show()
        return problem is None


class SourceLinks:
    """Handles the view's ``source:`` and ``openfile:`` links for one window.
    ``lookup(message id)`` gives that answer's sources (``message_sources``)."""

    def __init__(self, parent: QWidget | None, lookup: Callable[[int], Sequence[Source]], *,
                 report: Callable[[str], None] | None = None,
                 open_url: Callable[[QUrl], bool] | None = None) -> None:
        self.parent, self.lookup, self.report = parent, lookup, report
        self.open_url = open_url or QDesktopServices.openUrl
        self.dialog: PassageDialog | None = None   # the last passage shown

    def handle(self, url: str) -> bool:
        """Handle a sources link (True), or leave it to the caller (False)."""
        parsed = parse_link(url)
        if parsed is None:
            return False
        scheme, message_id, marker = parsed
        source = next((s for s in self.lookup(message_id) if s.marker == marker), None)
        if source is None:
            self._say("That source is no longer stored with the answer.")
        elif scheme == "openfile":
            self._say(open_file(source.file, open_url=self.open_url))
        else:
            if self.dialog is not None:
                self.dialog.close()
            self.dialog = PassageDialog(source, open_url=self.open_url, parent=self.parent)
            self.dialog.setModal(False)
            self.dialog.show()
        return True

    def _say(self, problem: str | None) -> None:
        if problem and self.report is not None:
            self.report(problem)
