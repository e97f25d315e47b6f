"""Real documents for the documents tests, made with real libraries: PDFs with and
without a text layer and a password-protected one (fpdf2), DOCX (python-docx), HTML,
Markdown, reStructuredText, and the broken kinds (empty, binary under .txt, refused)."""

from __future__ import annotations

import os
from pathlib import Path


def write_pdf(path: Path, pages: list[str], *, password: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    if password:
        pdf.set_encryption(owner_password=password + "-owner", user_password=password)
    pdf.output(str(path))
    return path


def write_image_pdf(path: Path, pages: int = 2) -> Path:
    """Pages with drawings only: what a scanner gives (no text layer)."""
    from fpdf import FPDF

    pdf = FPDF()
    for index in range(pages):
        pdf.add_page()
        pdf.rect(20, 20 + index * 10, 120, 80, style="F")
        pdf.line(10, 10, 200, 280)
    pdf.output(str(path))
    return path


def write_docx(path: Path, sections: list[tuple[str, list[str]]]) -> Path:
    import docx

    document = docx.Document()
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def make_mixed_folder(folder: Path) -> dict[str, Path]:
    """One of every readable format and every problem, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "pdf": write_pdf(folder / "manual.pdf", [
            "Chapter one. The pump must be primed before first use.",
            "Chapter two. The warranty covers the motor for five years.",
            "Chapter three. Descale the boiler every month with citric acid."]),
        "docx": write_docx(folder / "guide.docx", [
            ("Installation", ["Bolt the frame to the wall with four anchors."]),
            ("Cleaning", ["Wipe the glass with a damp microfibre cloth."])]),
        "md": write_text(folder / "notes.md",
                         "# Notes\n\nThe door code is 4417.\n\n## Later\n\n"
                         "Order more filters in March.\n"),
        "rst": write_text(folder / "readme.rst",
                          "Overview\n========\n\nA tool for tidy gardens.\n\n"
                          "Usage\n-----\n\nRake the leaves before the rain.\n"),
        "html": write_text(folder / "page.html",
                           "<html><head><style>p{}</style></head><body><h1>Welcome</h1>"
                           "<p>Opening hours are nine to five.</p><script>x()</script>"
                           "<h2>Parking</h2><p>Park behind the bakery.</p></body></html>"),
        "txt": write_text(folder / "plain.txt", "Plain words about the lighthouse keeper.\n"),
        "scanned": write_image_pdf(folder / "scan.pdf"),
        "encrypted": write_pdf(folder / "locked.pdf", ["The secret is tangerine."],
                               password="pw"),
        "empty": write_text(folder / "empty.txt", ""),
        "refused": folder / "old.doc",
        "binary": folder / "photo.txt",
    }
    files["refused"].write_bytes(b"\xd0\xcf\x11\xe0 old word")
    files["binary"].write_bytes(bytes(range(256)) * 40)
    return files


def make_small_files(folder: Path, count: int, *, words: int = 40) -> list[Path]:
    """``count`` small notes, each with its own marker word ``markerN``."""
    import random

    vocabulary = ("river stone maple copper lantern harbor meadow signal thunder velvet "
                  "orchard quartz willow ember falcon glacier").split()
    rng = random.Random(count)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        body = " ".join(rng.choice(vocabulary) for _ in range(words))
        path = folder / f"sub{index % 7}" / f"note{index:04d}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"# Note {index}\n\nmarker{index} {body}\n", encoding="utf-8")
        paths.append(path)
    return paths


def bump_mtime(path: Path, seconds: int = 10) -> None:
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + seconds * 1_000_000_000))
