"""The download queue: one worker thread, several queued, each cancellable.

Qt-free. Listeners get a :class:`DownloadStatus` snapshot (plain data) on
every change, from the worker thread; the GUI bridge polls ``statuses()``
on a timer instead. Partial files live in ``work_dir`` and are resumed by
the next attempt at the same file, in this process or a later one.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

from ..errors import DownloadCancelledError, DownloadError, ScalpelError
from ..json_files import MAX_BYTES_RECORDS, JsonFileError, read_json_file
from .fetch import download_file
from .hub import HubClient
from .installed import InstalledStore, destination_for
from .transfer import PartialFile, TransferPolicy, TransferProgress

if TYPE_CHECKING:
    from ..catalog import Catalog, CatalogEntry

log = logging.getLogger(__name__)
T = TypeVar("T")

ORPHAN_AGE_S = 7 * 24 * 3600


@dataclass(frozen=True)
class DownloadRequest:
    repo: str
    filename: str
    revision: str | None = None
    expected_sha256: str | None = None
    catalog_id: str | None = None

    @classmethod
    def for_entry(cls, entry: "CatalogEntry", *, revision: str | None = None) -> "DownloadRequest":
        """A catalog model's file at its pinned revision (or ``revision``), checked against
        the catalog's sha256."""
        return cls(entry.repo, entry.filename, revision=revision or entry.revision,
                   expected_sha256=entry.sha256, catalog_id=entry.id)


@dataclass(frozen=True)
class DownloadStatus:
    id: int
    request: DownloadRequest
    state: str = "queued"   # queued, resolving, checking, downloading, verifying, done, failed, cancelled
    downloaded: int = 0
    total: int = 0
    resumed_from: int = 0
    speed_bps: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    path: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


@dataclass
class _Job:
    status: DownloadStatus
    cancel: threading.Event = field(default_factory=threading.Event)
    keep_partial: bool = False


class DownloadManager:
    def __init__(self, *, models_dir: Path, work_dir: Path, hub: HubClient,
                 policy: TransferPolicy = TransferPolicy(),
                 on_change: Callable[[DownloadStatus], None] | None = None,
                 admit: Callable[[str | None, str | None], None] | None = None,
                 on_installed: Callable[[Path], None] | None = None) -> None:
        """``admit(catalog_id, sha256)`` raises to refuse a download (the organization's
        policy); sha256 is None while unknown, and "" once the Hub did not give one.
        ``on_installed(path)`` runs on the worker after a queued download is installed,
        before its status reads "done" (the model listing is refreshed there)."""
        self.models_dir, self.work_dir, self.hub = Path(models_dir), Path(work_dir), hub
        self.installed = InstalledStore(self.models_dir)
        self.policy = policy
        self._admit = admit or (lambda catalog_id, sha256: None)
        self._on_change = on_change
        self._on_installed = on_installed
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    # -- queue ---------------------------------------------------------------
    def enqueue(self, request: DownloadRequest) -> int:
        with self._lock:
            for job in self._jobs.values():
                if job.status.request == request and not job.status.finished:
                    return job.status.id  # already queued or running
            job_id = next(self._ids)
            self._jobs[job_id] = _Job(DownloadStatus(job_id, request))
        self._queue.put(job_id)
        self._ensure_worker()
        self._notify(job_id)
        return job_id

    def cancel(self, job_id: int, *, keep_partial: bool = False) -> None:
        """Stop a download. The bytes so far are deleted, unless ``keep_partial``
        (a pause: the next download of the same file, even in a later run, resumes)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job and not job.status.finished:
            job.keep_partial = keep_partial
            job.cancel.set()
            if job.status.state == "queued":
                self._update(job_id, state="cancelled", error="cancelled")

    def statuses(self) -> list[DownloadStatus]:
        with self._lock:
            return [job.status for job in self._jobs.values()]

    def status(self, job_id: int) -> DownloadStatus:
        with self._lock:
            return self._jobs[job_id].status

    def wait(self, job_id: int, timeout: float | None = None) -> DownloadStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.status(job_id).finished:
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return self.status(job_id)

    def shutdown(self) -> None:
        """Stop everything; unfinished downloads are kept to resume at the next start."""
        for status in self.statuses():
            self.cancel(status.id, keep_partial=True)
        self._queue.put(None)
        if self._worker:
            self._worker.join(timeout=30)

    # -- one download, synchronously (CLI and worker) --------------------------
    def download(self, request: DownloadRequest, *,
                 on_progress: Callable[[TransferProgress], None] = lambda p: None,
                 cancel: threading.Event | None = None,
                 keep_partial_on_cancel: Callable[[], bool] = lambda: True) -> Path:
        self._admit(request.catalog_id, request.expected_sha256)  # before any network use
        remote = run_cancellable(
            lambda: self.hub.describe_file(request.repo, request.filename, request.revision),
            cancel)
        self._admit(request.catalog_id, request.expected_sha256 or remote.sha256 or "")
        dest = destination_for(self.models_dir, request.repo, request.filename)
        try:
            path = download_file(remote, dest, work_dir=self.work_dir,
                                 expected_sha256=request.expected_sha256, token=self.hub.token,
                                 on_progress=on_progress, cancel=cancel, policy=self.policy)
        except DownloadCancelledError:
            if not keep_partial_on_cancel():
                PartialFile(self.work_dir, remote, dest).discard()
            raise
        self.installed.record(path, sha256=_final_sha(request, remote.sha256, path),
                              size=remote.size, source="hub", repo=request.repo,
                              filename=request.filename, commit=remote.commit,
                              catalog_id=request.catalog_id)
        return path

    # -- partial files ---------------------------------------------------------
    def pending(self, catalog: "Catalog | None" = None) -> list[DownloadRequest]:
        """Downloads a previous run left unfinished, to offer or resume.

        With a catalog, a file it lists gets its id and pinned sha256 back.
        """
        found = []
        for record in sorted(self.work_dir.glob("*.json")):
            try:
                remote = read_json_file(record, max_bytes=MAX_BYTES_RECORDS)["remote"]
                request = DownloadRequest(remote["repo"], remote["filename"],
                                          remote.get("revision"), remote.get("sha256"))
            except (JsonFileError, OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # not a record of ours: a later download of that file starts afresh
            entry = catalog.by_file(request.repo, request.filename) if catalog else None
            if entry is not None:
                request = replace(request, catalog_id=entry.id,
                                  expected_sha256=request.expected_sha256 or entry.sha256)
            found.append(request)
        return found

    def clean_orphans(self, *, max_age_s: float = ORPHAN_AGE_S) -> int:
        """Delete partials with no record, records with no partial, and stale ones."""
        removed = 0
        if not self.work_dir.is_dir():
            return 0
        now = time.time()
        for path in self.work_dir.iterdir():
            stem_pair = path.with_suffix(".json" if path.suffix == ".part" else ".part")
            stale = now - path.stat().st_mtime > max_age_s
            orphan = path.suffix in (".part", ".json") and not stem_pair.exists()
            if orphan or stale or path.suffix not in (".part", ".json"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- worker ----------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="scalpel-downloads",
                                            daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while (job_id := self._queue.get()) is not None:
            with self._lock:
                job = self._jobs[job_id]
            if job.status.finished:
                continue
            self._run_job(job)

    def _run_job(self, job: _Job) -> None:
        job_id = job.status.id
        self._update(job_id, state="resolving")

        def progress(p: TransferProgress) -> None:
            self._update(job_id, state=p.state, downloaded=p.downloaded, total=p.total,
                         resumed_from=p.resumed_from, speed_bps=p.speed_bps, eta_s=p.eta_s)

        try:
            path = self.download(job.status.request, on_progress=progress, cancel=job.cancel,
                                 keep_partial_on_cancel=lambda: job.keep_partial)
        except DownloadCancelledError:
            self._update(job_id, state="cancelled", error=(
                "paused; the next download of this file resumes where it stopped"
                if job.keep_partial else "cancelled"))
        except ScalpelError as exc:
            self._update(job_id, state="failed", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - never let the worker die silently
            log.exception("download failed unexpectedly")
            self._update(job_id, state="failed",
                         error=str(DownloadError(f"the download failed ({type(exc).__name__})")))
        else:
            if self._on_installed is not None:
                try:
                    self._on_installed(path)
                except Exception:  # noqa: BLE001 - the file is installed either way
                    log.exception("after installing %s", path)
            self._update(job_id, state="done", path=str(path), eta_s=0.0,
                         downloaded=self.status(job_id).total or path.stat().st_size)

    def _update(self, job_id: int, **changes) -> None:
        with self._lock:
            job = self._jobs[job_id]
            job.status = replace(job.status, **changes)
        self._notify(job_id)

    def _notify(self, job_id: int) -> None:
        if self._on_change:
            self._on_change(self.status(job_id))


def run_cancellable(fn: Callable[[], "T"], cancel: threading.Event | None,
                    poll_s: float = 0.05) -> "T":
    """``fn()`` on a helper thread, abandoned the moment ``cancel`` is set.

    Asking the Hub about a file ("Contacting the hub...") is one blocking call inside
    huggingface_hub with its own retries; a cancel must not wait for it. The abandoned
    call finishes (or times out) on its daemon thread and its answer is dropped."""
    if cancel is None:
        return fn()
    result: list = []

    def call() -> None:
        try:
            result.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            result.append((False, exc))

    worker = threading.Thread(target=call, name="scalpel-hub-call", daemon=True)
    worker.start()
    while worker.is_alive():
        if cancel.is_set():
            raise DownloadCancelledError("download cancelled")
        worker.join(poll_s)
    if cancel.is_set():
        raise DownloadCancelledError("download cancelled")
    ok, value = result[0]
    if not ok:
        raise value
    return value


def _final_sha(request: DownloadRequest, remote_sha: str | None, path: Path) -> str:
    known = request.expected_sha256 or remote_sha
    if known:
        return known.lower()  # download_file verified the bytes against it
    from .installed import sha256_of

    return sha256_of(path)
