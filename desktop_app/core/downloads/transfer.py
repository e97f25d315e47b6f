"""Resumable, verified transfer of one file into the models directory.

huggingface_hub keeps a partial file per process and starts over in a new
one, and checks only the size. This layer keeps its own partial file plus a
JSON record in a work directory, so a download resumes with an HTTP Range
request after a dropped connection *or* after the app was killed, and the
sha256 is checked before the file is moved (atomically) into place. The
bytes travel over huggingface_hub's own HTTP session, so its proxy, CA and
header handling apply.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DiskFullError, DownloadCancelledError, format_size
from ..json_files import MAX_BYTES_RECORDS, JsonFileError, read_json_file
from .hub import RemoteFile

CHUNK = 1 << 20
FREE_SPACE_MARGIN = 64 * 1000 * 1000
PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class TransferProgress:
    state: str             # "checking" (hashing what is on disk), "downloading", "verifying"
    downloaded: int
    total: int
    resumed_from: int
    speed_bps: float
    eta_s: float | None


@dataclass(frozen=True)
class TransferPolicy:
    stall_timeout_s: float = 30.0   # no byte for this long counts as a stall
    max_retries: int = 5            # consecutive failed attempts without progress
    backoff_s: float = 1.0          # doubled after each failed attempt


def partial_key(remote: RemoteFile) -> str:
    if remote.sha256:
        return remote.sha256
    text = f"{remote.repo}/{remote.filename}@{remote.commit or remote.revision}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class PartialFile:
    """``<key>.part`` (the bytes so far) and ``<key>.json`` (what they are for)."""

    def __init__(self, work_dir: Path, remote: RemoteFile, dest: Path) -> None:
        key = partial_key(remote)
        self.part = work_dir / f"{key}.part"
        self.record = work_dir / f"{key}.json"
        self.remote, self.dest = remote, dest

    def open_for_resume(self) -> int:
        """Bytes already on disk that belong to this exact file (0 to start fresh)."""
        self.part.parent.mkdir(parents=True, exist_ok=True)
        wanted = {"remote": self.remote.to_dict(), "dest": str(self.dest)}
        try:
            record = read_json_file(self.record, max_bytes=MAX_BYTES_RECORDS)
            same = record["remote"] == wanted["remote"]
        except (JsonFileError, OSError, ValueError, KeyError, TypeError):
            same = False
        size = self.part.stat().st_size if self.part.exists() else 0
        if not same or size > self.remote.size:
            self.part.unlink(missing_ok=True)
            size = 0
        self.record.write_text(json.dumps({**wanted, "started": time.time()}, indent=2))
        return size

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.record.unlink(missing_ok=True)


def check_free_space(directory: Path, needed: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < needed + FREE_SPACE_MARGIN:
        raise DiskFullError(
            f"not enough disk space: the download needs {format_size(needed)} more but only "
            f"{format_size(free)} is free in {directory}")


def hash_existing(path: Path, size: int, on_progress: Callable[[int], None],
                  cancel: threading.Event) -> "hashlib._Hash":
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        while done < size:
            block = f.read(min(CHUNK * 8, size - done))
            if not block:
                break
            digest.update(block)
            done += len(block)
            on_progress(done)
            if cancel.is_set():
                raise DownloadCancelledError("download paused")
    return digest


class _Meter:
    """Throttled progress with a smoothed speed."""

    def __init__(self, total: int, resumed_from: int,
                 report: Callable[[TransferProgress], None]) -> None:
        self.total, self.resumed_from, self.report = total, resumed_from, report
        self.speed = 0.0
        self._last_t = time.monotonic()
        self._last_bytes = resumed_from

    def update(self, state: str, downloaded: int, *, force: bool = False) -> None:
        now = time.monotonic()
        elapsed = now - self._last_t
        if not force and elapsed < PROGRESS_INTERVAL_S:
            return
        if elapsed > 0 and state == "downloading":
            instant = (downloaded - self._last_bytes) / elapsed
            self.speed = instant if self.speed == 0 else 0.7 * self.speed + 0.3 * instant
        self._last_t, self._last_bytes = now, downloaded
        eta = (self.total - downloaded) / self.speed if self.speed > 0 else None
        self.report(TransferProgress(state, downloaded, self.total, self.resumed_from,
                                     self.speed, eta))
