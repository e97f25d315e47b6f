"""The machine policy's documents keys: parsed strictly, and enforced by the indexer
(a refused file gets a sentence; nothing outside the allowed folders is indexed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.documents import (DocumentsNotAllowedError, IndexStore, Indexer,
                                        check_path, documents_refusal, path_refusal)
from desktop_app.core.policy import Policy, read_policy_file
from document_files import make_small_files


def test_documents_keys_are_read(tmp_path, write_policy):
    path = write_policy(tmp_path, {"documents_enabled": True,
                                   "documents_folders": ["/srv/shared", "C:\\Docs"]})
    policy = read_policy_file(path)
    assert policy.problems == ()
    assert policy.documents_enabled is True
    assert policy.documents_folders == (Path("/srv/shared"), Path("C:\\Docs"))
    assert policy.source_of("documents_folders") == str(path)
    assert policy.to_dict()["documents_folders"] == ["/srv/shared", "C:\\Docs"]
    assert Policy.unmanaged().documents_enabled and Policy.unmanaged().documents_folders is None


@pytest.mark.parametrize("raw,problem", [
    ({"documents_enabled": "no"}, "must be true or false"),
    ({"documents_folders": "/srv"}, "must be a list of absolute folder paths"),
    ({"documents_folders": ["relative/path"]}, "is not an absolute folder path"),
])
def test_bad_documents_keys_get_the_restrictive_reading(tmp_path, write_policy, raw, problem):
    policy = read_policy_file(write_policy(tmp_path, raw))
    assert any(problem in p and "documents_" in p for p in policy.problems)
    if "documents_enabled" in raw:
        assert policy.documents_enabled is False
    else:
        assert policy.documents_folders == ()                # no folder allowed


def test_a_file_with_other_problems_turns_documents_off(tmp_path, write_policy):
    policy = read_policy_file(write_policy(tmp_path, {"downloads_allowed": "maybe"}))
    assert policy.documents_enabled is False


def test_refusals_are_sentences(tmp_path):
    off = Policy(documents_enabled=False, file=Path("/etc/scalpel/policy.json"))
    assert "turns off your own documents" in documents_refusal(off)
    with pytest.raises(DocumentsNotAllowedError, match="/etc/scalpel/policy.json"):
        check_path(off, tmp_path)
    allowed = tmp_path / "allowed"
    (allowed / "deep").mkdir(parents=True)
    limited = Policy(documents_folders=(allowed,))
    assert path_refusal(limited, allowed / "deep" / "x.md") is None
    assert path_refusal(limited, allowed) is None
    sentence = path_refusal(limited, tmp_path / "allowed-not" / "x.md")
    assert "outside the folders your organization's policy allows" in sentence
    escape = allowed / "link"
    escape.symlink_to(tmp_path)                              # a link does not lead out
    assert path_refusal(limited, escape / "x.md") is not None


def test_indexer_skips_files_outside_allowed_folders(tmp_path):
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    make_small_files(inside, 2)
    make_small_files(outside, 2)
    store = IndexStore(tmp_path / "index.sqlite3")
    cid = store.ensure_collection("c")
    for folder in (inside, outside):
        store.add_folder(cid, str(folder))
    Indexer(store).run()
    assert all(row.status == "indexed" for row in store.files(cid).values())
    # the policy narrows later: what is outside is dropped and says why
    report = Indexer(store, policy=Policy(documents_folders=(inside,))).run()
    rows = store.files(cid)
    for path, row in rows.items():
        if path.startswith(str(outside)):
            assert row.problem.kind == "refused" and row.chunks == 0
            assert "outside the folders" in row.problem.sentence
        else:
            assert row.status == "indexed"
    assert len(report.problems) == 2
    # and widens again: the refused files are indexed without any change on disk
    Indexer(store).run()
    assert all(row.status == "indexed" for row in store.files(cid).values())
