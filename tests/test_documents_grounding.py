"""Grounding: whole documents when they fit, the best passages numbered with their
sources when not, a map-reduce plan for whole-document requests, and an honest
"the documents do not say" when nothing matches."""

from __future__ import annotations

import json

import pytest

from desktop_app.core.documents import IndexStore, Indexer, ground, needs_whole
from desktop_app.core.documents.grounding import CITE, NONE
from document_files import make_mixed_folder, write_pdf


def tokens(text: str) -> int:
    """A stand-in tokenizer: about four characters a token, as English BPE gives."""
    return len(text) // 4 + 1


@pytest.fixture
def store(tmp_path):
    make_mixed_folder(tmp_path / "docs")
    write_pdf(tmp_path / "docs" / "handbook.pdf",
              [f"Section {n}. Rule {n}: employees file form F{n} before day {n}. " * 12
               for n in range(1, 9)])
    store = IndexStore(tmp_path / "index.sqlite3")
    store.add_folder(store.ensure_collection("c"), str(tmp_path / "docs"))
    Indexer(store).run()
    return store


def test_whole_documents_when_they_fit(store):
    g = ground("What is the door code?", store=store, collections=["c"],
               context_tokens=16384, count_tokens=tokens)
    assert g.mode == "whole"
    # whole, in order, one marker per page or section: an answer can cite the page
    assert [s.label for s in g.sources] == [
        "guide.docx, Installation", "guide.docx, Cleaning",
        *[f"handbook.pdf, page {n}" for n in range(1, 9)],
        *[f"manual.pdf, page {n}" for n in range(1, 4)],
        "notes.md, Notes", "notes.md, Later", "page.html, Welcome", "page.html, Parking",
        "plain.txt, lines 1-2", "readme.rst, Overview", "readme.rst, Usage"]
    assert "[14] notes.md, Notes:\n# Notes\n\nThe door code is 4417." in g.context
    assert "form F8 before day 8" in g.context and CITE in g.context
    assert g.messages("What is the door code?")[1] == {"role": "user",
                                                       "content": "What is the door code?"}
    json.dumps(g.to_dict())


def test_top_passages_numbered_with_sources_when_too_big(store):
    g = ground("What is the door code, and the warranty?", store=store, collections=["c"],
               context_tokens=700, count_tokens=tokens)
    assert g.mode == "passages"
    first = g.sources[0]
    assert (first.marker, first.label) == (1, "notes.md, Notes")
    assert "4417" in first.passage
    assert g.context.index("[1] notes.md, Notes:") < g.context.index("[2] ")
    assert [s.marker for s in g.sources] == list(range(1, len(g.sources) + 1))
    budget = 700 - max(256, 700 // 4) - tokens("What is the door code, and the warranty?") - 16
    assert tokens(g.context) <= budget + len(g.sources) * 3   # it fits the context
    pdf = ground("When is form F3 due?", store=store, collections=["c"],
                 context_tokens=700, count_tokens=tokens)
    assert pdf.sources[0].page == 3 and pdf.sources[0].label == "handbook.pdf, page 3"


def test_no_supporting_passage_says_so(store):
    g = ground("xylophone zeppelin", store=store, collections=["c"], context_tokens=700,
               count_tokens=tokens)
    assert g.mode == "none" and g.sources == () and g.context == NONE
    assert "do not" in g.context


def test_map_reduce_plan_covers_every_part_and_each_prompt_fits(store):
    question = "Summarize the handbook"
    assert needs_whole(question)
    g = ground(question, store=store, collections=["c"], context_tokens=900,
               count_tokens=tokens)
    assert g.mode == "map_reduce" and g.plan is not None
    plan = g.plan
    assert len(plan.parts) >= 3
    assert all(tokens(part.prompt) <= plan.budget_tokens for part in plan.parts)
    everything = "\n".join(part.prompt for part in plan.parts)
    for n in range(1, 9):                                   # every page made it into a part
        assert f"form F{n} before day {n}" in everything
    for fact in ("4417", "five years", "microfibre", "bakery", "lighthouse", "tidy gardens"):
        assert fact in everything
    assert "part 1 of" in plan.parts[0].prompt and question in plan.parts[0].prompt
    markers = [s.marker for s in plan.sources]
    assert markers == sorted(set(markers))                  # numbered once, in order
    page3 = next(s for s in plan.sources if s.label == "handbook.pdf, page 3")
    assert f"[{page3.marker}] handbook.pdf, page 3:" in everything
    one = plan.combine_prompts(["short notes [1]"] * 2, tokens)
    assert len(one) == 1 and "Notes on part 2" in one[0]
    many = plan.combine_prompts(["long notes " * 150] * 8, tokens)
    assert len(many) > 1 and all(tokens(p) <= plan.budget_tokens for p in many)
    json.dumps(g.to_dict())


def test_whole_request_that_fits_is_given_whole(store):
    g = ground("Summarize everything", store=store, collections=["c"],
               context_tokens=16384, count_tokens=tokens)
    assert g.mode == "whole" and g.plan is None


@pytest.mark.parametrize("question,whole", [
    ("Summarize the manual", True), ("Give me a summary of this report", True),
    ("List every deadline in the contract", True), ("What are the key points?", True),
    ("tl;dr", True), ("Outline the whole document", True),
    ("What are all the fees in the contract?", True),
    ("What is the warranty period?", False), ("How do I reset the device?", False),
    ("Who signed the contract?", False), ("Is the pump covered?", False),
])
def test_needs_whole(question, whole):
    assert needs_whole(question) is whole
