"""Text out of the formats Scalpel reads, as sections that know their page or heading.

Libraries, chosen for speed and licence (no hand-written parser for a format a library
handles):

- PDF: **pypdfium2** (Apache-2.0/BSD-3), Google's PDFium, the engine in Chrome, as
  binary wheels for every OS. It reads a text layer several times faster than the pure
  Python pypdf and copes with more broken files; it also says plainly when a password
  is needed (error code 4), which becomes the "encrypted" problem. PDFium is not
  thread-safe, so calls are serialized with one lock.
- DOCX: **python-docx** (MIT, on lxml): paragraphs with their styles, so "Heading N"
  paragraphs start sections.
- HTML: the standard library's ``html.parser``: no dependency, tolerant of bad markup,
  fast enough for documents (script/style dropped, headings start sections).
- Plain text, Markdown and reStructuredText are text: decoded here (UTF-8, or
  Windows-1252 for older files), with ATX (``#``) and underlined headings found
  line by line so passages can name their heading; code fences are not headings.

Every other extension is refused by name with the reason (``REFUSED``), and each
failure is a typed ``DocumentProblemError`` (problems.py) for that one file.
"""

from __future__ import annotations

import io
import os
import re
import stat
import threading
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from . import problems

TEXT_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                 ".rst": "rst", ".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx"}
READABLE = "plain text, Markdown, reStructuredText, HTML, PDF and DOCX"
REFUSED = {
    ".doc": "old Word documents (.doc) are not read; save it as .docx",
    ".odt": "OpenDocument text (.odt) is not read; save it as .docx or PDF",
    ".rtf": "RTF files are not read; save it as .docx or plain text",
    ".epub": "e-books (.epub) are not read; convert it to PDF or HTML",
    ".pptx": "slides (.pptx) are not read; export them as PDF",
    ".xlsx": "spreadsheets (.xlsx) are not read; export the sheet as text or PDF",
    ".csv": "tables (.csv) are not read as documents",
}
MAX_BYTES = 50 * 1000 * 1000
_PDF_LOCK = threading.Lock()


@dataclass(frozen=True)
class Section:
    """A run of text with one page (PDF) or heading; ``first_line`` is its first line's
    number in the file (1-based; a PDF counts lines per page, a DOCX counts paragraphs)."""
    text: str
    page: int | None = None
    heading: str | None = None
    first_line: int = 1


def kind_of(path: str | Path) -> str:
    """The format name for a readable file; raises the "unsupported" problem otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return TEXT_SUFFIXES[suffix]
    reason = REFUSED.get(suffix) or (f"{suffix or 'files without an extension'} files are not "
                                     f"read; Scalpel reads {READABLE}")
    raise problems.unsupported(path, reason)


def is_readable_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TEXT_SUFFIXES


def load_bytes(path: str | Path, *, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes; "too_large" over ``max_bytes``, "unreadable" when the OS says no,
    "unsupported" for a format Scalpel does not read (checked first: nothing is read)."""
    kind_of(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe or device would block or never end
            raise problems.problem("unreadable", path, "it is not a regular file (a pipe, "
                                   "a device or a socket); only files can be read")
        with open(path, "rb") as handle:
            size = _size(handle)
            if size > max_bytes:
                raise problems.too_large(path, size, max_bytes)
            return handle.read(max_bytes + 1)
    except OSError as exc:
        raise problems.unreadable(path, exc) from exc


def _size(handle) -> int:
    return os.fstat(handle.fileno()).st_size


def read_sections(path: str | Path, data: bytes) -> list[Section]:
    """The sections of the file whose bytes are ``data`` (never empty: an empty or
    text-less file raises its problem)."""
    kind = kind_of(path)
    if not data.strip():
        raise problems.empty(path)
    if kind == "pdf":
        sections = _pdf(path, data)
    elif kind == "docx":
        sections = _docx(path, data)
    else:
        text = decode_text(path, data)
        sections = (_html(text) if kind == "html" else _markdown(text) if kind == "markdown"
                    else _rst(text) if kind == "rst" else [Section(text)])
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise problems.empty(path)
    return sections


def decode_text(path: str | Path, data: bytes) -> str:
    """UTF-8 (a BOM allowed), else Windows-1252; binary data (NUL bytes, or many control
    characters) is the "binary" problem."""
    head = data[:65536]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise problems.binary(path)
    for encoding in ("utf-8-sig", "utf-16") if head.startswith((b"\xff\xfe", b"\xfe\xff")) \
            else ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise problems.binary(path)
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(sample) // 50):
        raise problems.binary(path)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _pdf(path: str | Path, data: bytes) -> list[Section]:
    import pypdfium2 as pdfium

    with _PDF_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == 4:
                raise problems.encrypted(path) from exc
            raise problems.damaged(path, "PDF", str(exc)) from exc
        try:
            sections = []
            for index in range(len(document)):
                page = document[index]
                try:
                    textpage = page.get_textpage()
                    text = textpage.get_text_bounded()
                    textpage.close()
                finally:
                    page.close()
                text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
                sections.append(Section(text, page=index + 1))
            pages = len(document)
        finally:
            document.close()
    if pages and not any(s.text.strip() for s in sections):
        raise problems.scanned(path, pages)
    return sections


def _docx(path: str | Path, data: bytes) -> list[Section]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise problems.damaged(path, "DOCX", str(exc) or type(exc).__name__) from exc
    except Exception as exc:  # lxml and zipfile raise their own kinds for broken files
        raise problems.damaged(path, "DOCX", type(exc).__name__) from exc
    sections: list[Section] = []
    heading, lines, first = None, [], 1
    for number, paragraph in enumerate(document.paragraphs, start=1):
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style.lower().startswith(("heading", "title")) and paragraph.text.strip():
            sections.append(Section("\n".join(lines), heading=heading, first_line=first))
            heading, lines, first = paragraph.text.strip(), [paragraph.text], number
        else:
            lines.append(paragraph.text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    sections.append(Section("\n".join(lines), heading=heading, first_line=first))
    return sections


_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}\s*$")


def _split_at(lines: list[str], headings: dict[int, str]) -> list[Section]:
    """Sections starting at the 0-based line numbers in ``headings``."""
    sections, start, heading = [], 0, None
    for index in sorted(headings):
        if index > start:
            sections.append(Section("\n".join(lines[start:index]), heading=heading,
                                    first_line=start + 1))
        start, heading = index, headings[index]
    sections.append(Section("\n".join(lines[start:]), heading=heading, first_line=start + 1))
    return sections


def _markdown(text: str) -> list[Section]:
    lines, headings, fenced = text.split("\n"), {}, False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := _ATX.match(line)):
            headings[index] = match.group(2)
        elif (not fenced and index and lines[index - 1].strip() and re.match(r"^ {0,3}(=+|-+)\s*$", line)
              and not lines[index - 1].lstrip().startswith(("-", "*", "#"))):
            headings[index - 1] = lines[index - 1].strip()  # Setext heading
    return _split_at(lines, headings)


def _rst(text: str) -> list[Section]:
    lines, headings = text.split("\n"), {}
    for index in range(1, len(lines)):
        title = lines[index - 1].strip()
        if (_UNDERLINE.match(lines[index]) and title and not _UNDERLINE.match(title)
                and len(lines[index].rstrip()) >= len(title)):
            start = index - 2 if index >= 2 and _UNDERLINE.match(lines[index - 2]) else index - 1
            headings[start] = title
    return _split_at(lines, headings)


class _HtmlText(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "section", "article", "table", "pre", "blockquote",
              "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "hr", "ul", "ol", "header", "footer"}
    SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self.parts: list[str] = []
        self.heading: str | None = None
        self.skipping = 0
        self.in_heading: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"} and not self.skipping:
            self.sections.append(Section("".join(self.parts), heading=self.heading))
            self.parts, self.in_heading = [], []
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"} and self.in_heading is not None:
            self.heading = " ".join("".join(self.in_heading).split()) or self.heading
            self.in_heading = None
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if self.skipping:
            return
        self.parts.append(data)
        if self.in_heading is not None:
            self.in_heading.append(data)


def _html(text: str) -> list[Section]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    parser.sections.append(Section("".join(parser.parts), heading=parser.heading))
    cleaned = []
    for section in parser.sections:
        body = re.sub(r"\n\s*\n+", "\n\n", re.sub(r"[ \t\xa0]+", " ", section.text)).strip()
        cleaned.append(Section(body, heading=section.heading))
    return cleaned
