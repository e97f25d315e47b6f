"""What can be wrong with one document, as plain data with a sentence a person can act on.

A file Scalpel cannot read is recorded with its problem (the Documents window and
``scalpel docs list`` show it per file) and never stops the other files from being
indexed. ``DocumentProblem`` is the stored value; ``DocumentProblemError`` carries one
out of a reader so the indexer can record it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ScalpelError, format_size

KINDS = ("unsupported", "scanned", "encrypted", "empty", "binary", "too_large",
         "unreadable", "damaged", "refused")


@dataclass(frozen=True)
class DocumentProblem:
    kind: str       # one of KINDS
    path: str
    sentence: str   # what a person reads: the file, what is wrong, what to do

    def __str__(self) -> str:
        return self.sentence

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DocumentProblem":
        return cls(kind=str(data["kind"]), path=str(data["path"]),
                   sentence=str(data["sentence"]))


class DocumentProblemError(ScalpelError):
    """A reader could not get text out of a file; ``problem`` says why."""

    def __init__(self, problem: DocumentProblem) -> None:
        super().__init__(problem.sentence)
        self.problem = problem


def problem(kind: str, path: str | Path, sentence: str) -> DocumentProblemError:
    """The error for ``path``; the sentence starts with the file's name."""
    return DocumentProblemError(DocumentProblem(kind, str(path), f"{Path(path).name}: {sentence}"))


def unsupported(path: str | Path, reason: str) -> DocumentProblemError:
    return problem("unsupported", path, reason)


def scanned(path: str | Path, pages: int) -> DocumentProblemError:
    return problem("scanned", path, f"the PDF's {pages} page(s) hold no text layer (a scan or "
                   "images only); run it through OCR software and add the result")


def encrypted(path: str | Path) -> DocumentProblemError:
    return problem("encrypted", path, "the PDF is protected by a password; save an "
                   "unprotected copy and add that instead")


def empty(path: str | Path) -> DocumentProblemError:
    return problem("empty", path, "the file holds no text")


def binary(path: str | Path) -> DocumentProblemError:
    return problem("binary", path, "the file is not text (binary data under a text file's "
                   "name); rename it to its real type or remove it from the folder")


def too_large(path: str | Path, size: int, limit: int) -> DocumentProblemError:
    return problem("too_large", path, f"the file is {format_size(size)}, over the "
                   f"{format_size(limit)} limit for one document; split it into smaller files")


def unreadable(path: str | Path, exc: OSError) -> DocumentProblemError:
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, PermissionError):
        reason = "you are not allowed to read it"
    return problem("unreadable", path, f"it cannot be read ({reason}); check that it "
                   "exists and that you may open it")


def damaged(path: str | Path, what: str, detail: str) -> DocumentProblemError:
    return problem("damaged", path, f"the {what} file is damaged or not really {what} "
                   f"({detail}); open it in its own program and save it again")
