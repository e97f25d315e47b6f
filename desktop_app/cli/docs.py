"""``scalpel docs add|list|remove|rescan|search``: your own documents from the terminal.

The same index the window uses (``documents.sqlite3`` in the data folder) and the same
core (desktop_app/core/documents). Indexing runs in the foreground here, with a progress
line on a terminal; an interrupted ``add`` or ``rescan`` goes on where it stopped the
next time. Embeddings (when a collection has an embedding model) run in the engine
process, started only then; without one, search uses words only (BM25).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from ..core.errors import ExitCode, ScalpelError, UsageError
from ..core.services import Services

if TYPE_CHECKING:  # the documents core (and numpy) load only for `scalpel docs`
    from ..core.documents import IndexProgress, IndexReport, IndexStore

DEFAULT_COLLECTION = "documents"


def add_docs_commands(docs: argparse.ArgumentParser) -> None:
    actions = docs.add_subparsers(dest="docs_command", metavar="ACTION")
    add = actions.add_parser("add", help="add files or folders to a collection and index them")
    add.add_argument("paths", nargs="+", metavar="PATH")
    add.add_argument("--collection", default=DEFAULT_COLLECTION, metavar="NAME")
    add.add_argument("--embedding-model", metavar="ID|PATH",
                     help="the model that embeds passages (default: words only, BM25)")
    listing = actions.add_parser("list", help="collections, their folders and files' status")
    listing.add_argument("--collection", metavar="NAME")
    listing.add_argument("--json", action="store_true")
    remove = actions.add_parser("remove", help="remove paths from a collection, or all of it")
    remove.add_argument("paths", nargs="*", metavar="PATH")
    remove.add_argument("--collection", default=DEFAULT_COLLECTION, metavar="NAME")
    rescan = actions.add_parser("rescan", help="index again what changed on disk")
    rescan.add_argument("--collection", metavar="NAME")
    search = actions.add_parser("search", help="ranked passages for a query")
    search.add_argument("query")
    search.add_argument("--collection", metavar="NAME", action="append")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true")


def run_docs_command(args: argparse.Namespace, services: Services) -> int:
    from ..core.documents import IndexStore, documents_refusal, index_file
    from ..core.documents.allowed import DocumentsNotAllowedError

    command = args.docs_command
    if command is None:
        raise UsageError("say `scalpel docs add|list|remove|rescan|search`")
    refusal = documents_refusal(services.policy)
    if refusal and command != "list":
        raise DocumentsNotAllowedError(refusal)
    store = IndexStore(index_file(services.paths))
    try:
        if command == "add":
            return _add(args, services, store)
        if command == "list":
            return _list(args, store)
        if command == "remove":
            return _remove(args, store)
        if command == "rescan":
            names = [_collection(store, args.collection).name] if args.collection else None
            return _index(services, store, names)
        return _search(args, services, store)
    finally:
        store.close()


def _collection(store: IndexStore, name: str):
    info = store.collection(name)
    if info is None:
        known = ", ".join(c.name for c in store.collections()) or "none yet"
        raise ScalpelError(f"there is no collection named {name!r} (collections: {known}); "
                           "add one with: scalpel docs add PATH --collection NAME")
    return info


def _add(args, services: Services, store: IndexStore) -> int:
    from ..core.documents import check_path
    from ..core.documents.scan import normalize

    paths = [normalize(p) for p in args.paths]
    for path in paths:
        if not Path(path).exists():
            raise ScalpelError(f"{path} does not exist; check the path")
        check_path(services.policy, path)
    model = None
    if args.embedding_model:
        ref = services.models.resolve(args.embedding_model)
        model = str(ref.path) if ref.source == "opened" else ref.id  # a path stays a path
    collection_id = store.ensure_collection(args.collection, embedding_model=model)
    if model and store.collection(args.collection).embedding_model != model:
        store.set_embedding_model(args.collection, model)
    for path in paths:
        store.add_folder(collection_id, path)
    return _index(services, store, [args.collection])


def _index(services: Services, store: IndexStore, names: list[str] | None) -> int:
    from ..core.documents import Indexer
    from ..core.documents.embedding import catalog_prefixes, registry_resolver

    wanted = [c for c in store.collections() if names is None or c.name in names]
    engine = services.new_engine_process() if any(c.embedding_model for c in wanted) else None
    progress = _Progress()
    try:
        indexer = Indexer(store, engine=engine, policy=services.policy,
                          resolve_model=registry_resolver(services.models.resolve),
                          prefixes=catalog_prefixes(services.catalog))
        report = indexer.run(names, on_progress=progress)
    finally:
        progress.end()
        if engine is not None:
            engine.unload()
    _summary(report)
    return ExitCode.OK


def _summary(report: IndexReport) -> None:
    line = (f"{report.files_seen} file(s) seen, {report.files_parsed} indexed "
            f"({report.chunks_added} passages)")
    if report.files_renamed:
        line += f", {report.files_renamed} renamed"
    if report.files_removed:
        line += f", {report.files_removed} removed"
    if report.chunks_embedded:
        line += f", {report.chunks_embedded} passages embedded"
    print(line)
    for problem in report.problems:
        print(f"  problem: {problem.sentence}")
    if report.embedding_error:
        print(f"scalpel: note: embedding failed: {report.embedding_error}", file=sys.stderr)


class _Progress:
    """One line, rewritten in place, on a terminal; nothing when stderr is a file."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self.shown = False

    def __call__(self, event: IndexProgress) -> None:
        if not self.live or event.phase not in ("reading", "embedding"):
            return
        left = f", {event.seconds_left:.0f} s left" if event.seconds_left is not None else ""
        if event.phase == "reading":
            text = (f"reading {event.files_done}/{event.files_total} files, {event.chunks} "
                    f"passages, {event.chunks_per_second:.0f}/s{left}")
        else:
            text = f"embedding {event.chunks}/{event.chunks_total} passages{left}"
        sys.stderr.write("\r" + text[:100].ljust(100))
        sys.stderr.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


def _list(args, store: IndexStore) -> int:
    infos = [_collection(store, args.collection)] if args.collection else store.collections()
    data = [{**info.to_dict(), "files_status": [row.to_dict() for _, row in
                                                 sorted(store.files(info.id).items())]}
            for info in infos]
    if args.json:
        print(json.dumps(data, indent=2))
        return ExitCode.OK
    if not data:
        print("No collections yet; add one with: scalpel docs add PATH --collection NAME")
    for info in data:
        model = info["embedding_model"] or "none (words only)"
        print(f"{info['name']}: {info['files']} file(s), {info['chunks']} passages, "
              f"{info['problems']} problem(s); embedding model: {model}"
              + (f" ({info['embedded']}/{info['chunks']} embedded)"
                 if info["embedding_model"] else ""))
        for folder in info["folders"]:
            print(f"  folder: {folder}")
        for row in info["files_status"]:
            status = _without_name(row["problem"]["sentence"], row["path"]) if row["problem"] else (
                f"{row['chunks']} passages" + (f", {row['pages']} pages" if row["pages"] else ""))
            print(f"    {row['path']}: {status}")
    return ExitCode.OK


def _without_name(sentence: str, path: str) -> str:
    """A problem's sentence after the file's name (the listing shows the whole path)."""
    name = Path(path).name + ": "
    return sentence[len(name):] if sentence.startswith(name) else sentence


def _remove(args, store: IndexStore) -> int:
    from ..core.documents.scan import normalize

    info = _collection(store, args.collection)
    if not args.paths:
        store.remove_collection(info.name)
        print(f"Removed the collection {info.name!r} and its index (your files are untouched).")
        return ExitCode.OK
    for raw in args.paths:
        path = normalize(raw)
        if not store.remove_folder(info.id, path):
            raise ScalpelError(f"{path} is not among the paths of {info.name!r}; "
                               "`scalpel docs list` shows them")
        print(f"Removed {path} from {info.name!r} (the file stays on disk).")
    return ExitCode.OK


def _search(args, services: Services, store: IndexStore) -> int:
    from ..core.documents import DocumentSearch
    from ..core.documents.embedding import catalog_prefixes, registry_resolver

    names = args.collection
    for name in names or []:
        _collection(store, name)
    wanted = [c for c in store.collections() if names is None or c.name in names]
    engine = services.new_engine_process() if any(c.embedding_model for c in wanted) else None
    try:
        search = DocumentSearch(store, engine=engine,
                                resolve_model=registry_resolver(services.models.resolve),
                                prefixes=catalog_prefixes(services.catalog))
        hits = search.search(args.query, collections=names, limit=max(1, args.limit))
    finally:
        if engine is not None:
            engine.unload()
    if args.json:
        print(json.dumps({"query": args.query, "note": search.last_warning,
                          "results": [h.to_dict() for h in hits]}, indent=2))
        return ExitCode.OK
    if search.last_warning:
        print(f"scalpel: note: {search.last_warning}", file=sys.stderr)
    if not hits:
        print("No passage matches.")
    for rank, hit in enumerate(hits, start=1):
        print(f"{rank}. {hit.where}  (score {hit.score:.4f})")
        print("   " + " ".join(hit.passage.split())[:300])
    return ExitCode.OK
