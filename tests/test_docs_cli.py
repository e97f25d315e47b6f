"""``scalpel docs`` through the real command, in its own process: add, list, search,
rescan, remove, one-line failures, the policy, and real embeddings."""

from __future__ import annotations

import json

import pytest

from document_files import bump_mtime, make_mixed_folder


@pytest.fixture
def docs(tmp_path):
    make_mixed_folder(tmp_path / "docs")
    return tmp_path / "docs"


def _one_line_failure(result, *words):
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scalpel: "), result.stderr
    for word in words:
        assert word in lines[0]


def test_add_list_search_rescan_remove(scalpel, docs):
    added = scalpel("docs", "add", str(docs), "--collection", "home")
    assert added.returncode == 0, added.stderr
    assert "11 file(s) seen, 6 indexed" in added.stdout
    assert "problem: scan.pdf: the PDF's 2 page(s) hold no text layer" in added.stdout
    assert "problem: locked.pdf: the PDF is protected by a password" in added.stdout

    listing = json.loads(scalpel("docs", "list", "--json").stdout)
    assert [c["name"] for c in listing] == ["home"]
    assert listing[0]["files"] == 11 and listing[0]["problems"] == 5
    assert listing[0]["folders"] == [str(docs)]
    text = scalpel("docs", "list", "--collection", "home").stdout
    assert f"{docs / 'manual.pdf'}: 3 passages, 3 pages" in text
    assert f"{docs / 'empty.txt'}: the file holds no text" in text

    found = json.loads(scalpel("docs", "search", "motor warranty", "--json").stdout)
    top = found["results"][0]
    assert top["file"] == str(docs / "manual.pdf") and top["page"] == 2
    assert "five years" in top["passage"] and top["score"] > 0
    shown = scalpel("docs", "search", "door code", "--collection", "home")
    assert shown.stdout.startswith("1. notes.md, Notes  (score ")

    (docs / "notes.md").write_text("# Notes\n\nThe door code changed to 9902.\n")
    bump_mtime(docs / "notes.md")
    rescanned = scalpel("docs", "rescan")
    assert "11 file(s) seen, 1 indexed" in rescanned.stdout
    found = json.loads(scalpel("docs", "search", "door code", "--json").stdout)
    assert "9902" in found["results"][0]["passage"]
    assert not any("4417" in r["passage"] for r in found["results"])

    removed = scalpel("docs", "remove", str(docs / "notes.md"), "--collection", "home")
    _one_line_failure(removed, "is not among the paths")      # only added paths
    assert scalpel("docs", "remove", "--collection", "home").returncode == 0
    assert json.loads(scalpel("docs", "list", "--json").stdout) == []


def test_one_line_failures(scalpel, tmp_path, docs):
    _one_line_failure(scalpel("docs", "add", str(tmp_path / "missing")), "does not exist")
    _one_line_failure(scalpel("docs", "search", "x", "--collection", "nope"),
                      "no collection named 'nope'")
    _one_line_failure(scalpel("docs", "add", str(docs), "--embedding-model", "no-such-model"),
                      "no-such-model")
    usage = scalpel("docs")
    assert usage.returncode == 2 and "scalpel docs add" in usage.stderr


def test_policy_turns_documents_off_or_limits_folders(scalpel, tmp_path, docs, write_policy):
    system = tmp_path / "etc-scalpel"
    env = {"SCALPEL_SYSTEM_CONFIG": str(system)}
    write_policy(system, {"documents_enabled": False})
    _one_line_failure(scalpel("docs", "add", str(docs), env=env), "turns off your own documents")
    _one_line_failure(scalpel("docs", "search", "x", env=env), "turns off")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "ok.md").write_text("permitted text\n")
    write_policy(system, {"documents_folders": [str(allowed)]})
    _one_line_failure(scalpel("docs", "add", str(docs), env=env), "outside the folders")
    ok = scalpel("docs", "add", str(allowed), env=env)
    assert ok.returncode == 0 and "1 indexed" in ok.stdout


@pytest.mark.model
def test_search_with_a_real_embedding_model(scalpel, tmp_path, smollm2_path):
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "cat.md").write_text("The cat sat on the mat.\n")
    (folder / "tax.md").write_text("Taxes are due in April.\n")
    added = scalpel("docs", "add", str(folder), "--embedding-model", str(smollm2_path))
    assert added.returncode == 0, added.stderr
    assert "2 passages embedded" in added.stdout
    listing = json.loads(scalpel("docs", "list", "--json").stdout)[0]
    assert listing["embedding_model"] == "smollm2-135m-instruct"  # the starter model's id
    assert listing["embedded"] == 2
    found = json.loads(scalpel("docs", "search", "a cat on a mat", "--json").stdout)
    assert found["note"] is None
    top = found["results"][0]
    assert top["file"].endswith("cat.md") and top["cosine"] is not None and top["vector_rank"]
