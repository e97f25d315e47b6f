"""Readers and chunks on real files: every format's text with its page or heading, and
every per-file problem as a sentence, never an exception that stops the rest."""

from __future__ import annotations

import os

import pytest

from desktop_app.core.documents import problems, readers
from desktop_app.core.documents.chunks import chunk_sections, join_chunks
from desktop_app.core.documents.readers import Section
from document_files import make_mixed_folder, write_pdf


def _read(path):
    return readers.read_sections(str(path), readers.load_bytes(str(path)))


def _problem(path, **kwargs):
    with pytest.raises(problems.DocumentProblemError) as caught:
        readers.read_sections(str(path), readers.load_bytes(str(path), **kwargs))
    return caught.value.problem


@pytest.fixture
def files(tmp_path):
    return make_mixed_folder(tmp_path / "docs")


def test_pdf_text_per_page(files):
    sections = _read(files["pdf"])
    assert [s.page for s in sections] == [1, 2, 3]
    assert "warranty covers the motor" in sections[1].text
    assert "citric acid" in sections[2].text


def test_docx_sections_per_heading(files):
    sections = _read(files["docx"])
    by_heading = {s.heading: s.text for s in sections}
    assert "four anchors" in by_heading["Installation"]
    assert "microfibre" in by_heading["Cleaning"]


def test_markdown_rst_html_headings_and_lines(files):
    md = _read(files["md"])
    assert [(s.heading, s.first_line) for s in md] == [("Notes", 1), ("Later", 5)]
    rst = {s.heading: s.text for s in _read(files["rst"])}
    assert "tidy gardens" in rst["Overview"] and "Rake the leaves" in rst["Usage"]
    html = {s.heading: s.text for s in _read(files["html"])}
    assert html["Welcome"].endswith("Opening hours are nine to five.")
    assert "bakery" in html["Parking"]
    assert all("x()" not in s.text and "p{}" not in s.text for s in _read(files["html"]))


def test_code_fence_hash_is_not_a_heading(tmp_path):
    path = tmp_path / "code.md"
    path.write_text("# Real\n\n```sh\n# not a heading\necho hi\n```\n", encoding="utf-8")
    assert [s.heading for s in _read(path)] == ["Real"]


@pytest.mark.parametrize("name,kind,words", [
    ("scanned", "scanned", "no text layer"),
    ("encrypted", "encrypted", "password"),
    ("empty", "empty", "no text"),
    ("binary", "binary", "not text"),
])
def test_problem_files_get_their_sentence(files, name, kind, words):
    problem = _problem(files[name])
    assert problem.kind == kind
    assert words in problem.sentence and problem.sentence.startswith(files[name].name)


def test_refused_formats_are_named_before_reading(files, tmp_path):
    with pytest.raises(problems.DocumentProblemError) as caught:
        readers.load_bytes(str(files["refused"]))
    assert caught.value.problem.kind == "unsupported"
    assert ".doc" in str(caught.value) and ".docx" in str(caught.value)
    other = tmp_path / "slides.key"
    other.write_bytes(b"x")
    with pytest.raises(problems.DocumentProblemError) as caught:
        readers.load_bytes(str(other))
    assert "PDF and DOCX" in str(caught.value)


def test_size_limit_and_unreadable_paths(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    problem = _problem(big, max_bytes=1000)
    assert problem.kind == "too_large" and "limit" in problem.sentence
    with pytest.raises(problems.DocumentProblemError) as caught:
        readers.load_bytes(str(tmp_path / "gone.txt"))
    assert caught.value.problem.kind == "unreadable"
    os.symlink(tmp_path / "nowhere.md", tmp_path / "dangling.md")
    with pytest.raises(problems.DocumentProblemError) as caught:
        readers.load_bytes(str(tmp_path / "dangling.md"))
    assert caught.value.problem.kind == "unreadable"
    os.mkfifo(tmp_path / "pipe.txt")  # opening it for reading would block forever
    with pytest.raises(problems.DocumentProblemError) as caught:
        readers.load_bytes(str(tmp_path / "pipe.txt"))
    assert "regular file" in str(caught.value)
    denied = problems.unreadable(tmp_path / "x.txt", PermissionError(13, "Permission denied"))
    assert "not allowed to read" in str(denied)


def test_damaged_pdf_and_docx(tmp_path):
    pdf = tmp_path / "broken.pdf"
    pdf.write_bytes(b"%PDF-1.4\n garbage without objects")
    assert _problem(pdf).kind == "damaged"
    docx = tmp_path / "broken.docx"
    docx.write_bytes(b"PK\x03\x04 not really a zip")
    assert _problem(docx).kind == "damaged"


def test_windows_1252_and_utf8_bom_text(tmp_path):
    old = tmp_path / "old.txt"
    old.write_bytes("Caf\u00e9 cr\u00e8me \u2013 100\u20ac".encode("cp1252"))
    assert _read(old)[0].text == "Caf\u00e9 cr\u00e8me \u2013 100\u20ac"
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffhello".encode("utf-8"))
    assert _read(bom)[0].text == "hello"


def test_chunks_have_size_overlap_lines_and_join_back():
    lines = [f"line {n} " + "word " * (n % 23) for n in range(1, 400)]
    text = "\n".join(lines)
    chunks = chunk_sections([Section(text, heading="H", first_line=10),
                             Section("tail", page=3)])
    body = chunks[:-1]
    assert all(len(c.text) <= 1000 for c in chunks)
    assert all(len(c.text) >= 500 for c in body[:-1])
    for before, after in zip(body, body[1:]):
        assert after.start < before.start + len(before.text)       # they overlap ...
        assert before.start + len(before.text) - after.start <= 200  # ... a little
        assert after.line_start <= before.line_end + 1
    first = body[0]
    assert first.line_start == 10
    assert first.line_end == 10 + first.text.rstrip("\n").count("\n")
    assert chunks[-1].page == 3 and chunks[-1].heading is None
    assert join_chunks(chunks) == text + "\n\ntail"


def test_a_long_line_without_breaks_is_cut(tmp_path):
    chunks = chunk_sections([Section("x" * 5000)])
    assert "".join(c.text for c in chunks) == "x" * 5000
    assert all(len(c.text) <= 1000 for c in chunks)


def test_pdf_with_many_pages_keeps_page_numbers(tmp_path):
    path = write_pdf(tmp_path / "long.pdf", [f"Page marker p{n}q " * 30 for n in range(1, 13)])
    chunks = chunk_sections(_read(path))
    for chunk in chunks:
        assert f"p{chunk.page}q" in chunk.text
