"""Search: BM25 alone before any embedding model, hybrid (reciprocal rank fusion) with
one, the query prefix, a fresh view after re-indexing, and real embeddings from SmolLM2
through Engine.embed."""

from __future__ import annotations

import pytest

from desktop_app.core.documents import DocumentSearch, IndexStore, Indexer
from desktop_app.core.documents.search import fts_query, fuse
from document_files import bump_mtime, make_mixed_folder, make_small_files
from fake_engine import FakeEngine


def _index(tmp_path, folder, *, model=None, engine=None, name="c"):
    store = IndexStore(tmp_path / "index.sqlite3")
    cid = store.ensure_collection(name, embedding_model=model)
    store.add_folder(cid, str(folder))
    Indexer(store, engine=engine).run()
    return store


def test_bm25_alone_finds_page_and_heading(tmp_path):
    make_mixed_folder(tmp_path / "docs")
    store = _index(tmp_path, tmp_path / "docs")
    search = DocumentSearch(store)
    hit = search.search("how long is the motor warranty?")[0]
    assert hit.file.endswith("manual.pdf") and hit.page == 2 and hit.where == "manual.pdf, page 2"
    assert "five years" in hit.passage and hit.bm25_rank == 1 and hit.vector_rank is None
    hit = search.search("microfibre cloth")[0]
    assert hit.heading == "Cleaning" and hit.where == "guide.docx, Cleaning"
    assert search.search("door code")[0].where == "notes.md, Notes"
    assert search.search("") == [] and search.search("??? !!!") == []
    assert search.search("warranty", collections=["other"]) == []


def test_fts_syntax_in_a_query_is_just_words():
    assert fts_query('NEAR(a b) OR "x" AND -y*') == '"near" OR "b" OR "x" OR "y"'
    assert fts_query("What is the door code?") == '"door" OR "code"'
    assert fts_query("what is it") == '"what" OR "is" OR "it"'   # nothing else: kept


def test_reciprocal_rank_fusion_k60():
    scores = fuse([[1, 2, 3], [3, 1]])
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert sorted(scores, key=lambda k: -scores[k]) == [1, 3, 2]


def test_hybrid_adds_what_words_alone_miss(tmp_path):
    folder = tmp_path / "notes"
    make_small_files(folder, 8)
    engine = FakeEngine()
    store = _index(tmp_path, folder, model="fake", engine=engine)
    words_only = DocumentSearch(store)
    hybrid = DocumentSearch(store, engine=engine)
    assert words_only.search("marker3 zzzunknown")[0].file.endswith("note0003.md")
    assert words_only.last_warning                      # says vectors were left out
    assert words_only.search("zzzunknown") == []
    hits = hybrid.search("zzzunknown", limit=5)          # no word matches; vectors do
    assert len(hits) == 5 and all(h.vector_rank and h.bm25_rank is None for h in hits)
    fused = hybrid.search("marker3", limit=3)
    top = fused[0]
    assert top.file.endswith("note0003.md") and top.bm25_rank == 1 and top.vector_rank
    assert top.cosine is not None and top.score == round(1 / 61 + 1 / (60 + top.vector_rank), 6)
    assert all(h.bm25_rank is None for h in fused[1:])  # the rest came from vectors


def test_query_prefix_is_applied_and_vectors_reread_after_changes(tmp_path):
    folder = tmp_path / "notes"
    paths = make_small_files(folder, 4)
    asked = []

    class Recording(FakeEngine):
        def embed(self, texts, *, model=None):
            asked.append(list(texts))
            return super().embed(texts, model=model)

    engine = Recording()
    store = _index(tmp_path, folder, model="m", engine=engine)
    search = DocumentSearch(store, engine=engine, prefixes=lambda m: ("search_query: ", ""))
    search.search("river")
    assert asked[-1] == ["search_query: river"]
    paths[0].write_text("# Fresh\n\nquokka quokka quokka\n", encoding="utf-8")
    bump_mtime(paths[0])
    Indexer(store, engine=engine).run()
    hits = search.search("quokka quokka quokka")
    assert "quokka" in hits[0].passage and hits[0].vector_rank == 1


def test_collections_are_searched_separately(tmp_path):
    make_mixed_folder(tmp_path / "a")
    make_small_files(tmp_path / "b", 3)
    store = IndexStore(tmp_path / "index.sqlite3")
    for name in ("a", "b"):
        store.add_folder(store.ensure_collection(name), str(tmp_path / name))
    Indexer(store).run()
    search = DocumentSearch(store)
    assert {h.collection for h in search.search("river warranty", limit=20)} == {"a", "b"}
    assert {h.collection for h in search.search("river warranty", collections=["b"])} == {"b"}


def test_real_embeddings_from_smollm2(tmp_path, smollm2_path):
    from desktop_app.core.engine import LlamaEngine

    folder = tmp_path / "docs"
    folder.mkdir()
    texts = {"cat.md": "The cat sat on the mat all afternoon.",
             "money.md": "Quarterly revenue grew by ten percent.",
             "printer.md": "Install the printer driver before connecting the cable."}
    for name, text in texts.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    engine = LlamaEngine()
    try:
        store = IndexStore(tmp_path / "index.sqlite3")
        cid = store.ensure_collection("c", embedding_model="smollm2")
        store.add_folder(cid, str(folder))
        Indexer(store, engine=engine, resolve_model=lambda m: str(smollm2_path)).run()
        store_info = store.collection("c")
        assert store_info.embedded == 3
        search = DocumentSearch(store, engine=engine, resolve_model=lambda m: str(smollm2_path))
        hits = search.search("The cat sat on a mat", limit=3)
        assert search.last_warning is None
        assert hits[0].file.endswith("cat.md") and hits[0].vector_rank == 1
        assert all(h.cosine is not None for h in hits)
        assert -1.0 <= hits[-1].cosine < hits[0].cosine <= 1.0001
    finally:
        engine.unload()
