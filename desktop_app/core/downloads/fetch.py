"""Download one Hub file: resume, retry stalls with backoff, verify, install."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

from ..errors import (DiskFullError, DownloadCancelledError, DownloadError,
                      DownloadStalledError, IntegrityError, NetworkUnavailableError,
                      format_size)
from .hub import RemoteFile, translate_error
from .transfer import (CHUNK, PartialFile, TransferPolicy, TransferProgress, _Meter,
                       check_free_space, hash_existing)


class _RangeIgnored(Exception):
    """The server answered a Range request with the whole file."""


def download_file(remote: RemoteFile, dest: Path, *, work_dir: Path,
                  expected_sha256: str | None = None, token: str | None = None,
                  on_progress: Callable[[TransferProgress], None] = lambda p: None,
                  cancel: threading.Event | None = None,
                  policy: TransferPolicy = TransferPolicy()) -> Path:
    """Fetch ``remote`` to ``dest``; resumes a partial left by an earlier attempt.

    Raises a DownloadError subclass. A cancelled or failed download leaves its
    partial in ``work_dir`` (to resume); a corrupt one is deleted. ``dest``
    only ever appears complete and verified.
    """
    cancel = cancel or threading.Event()
    sha = _expected_sha(remote, expected_sha256)
    partial = PartialFile(work_dir, remote, dest)
    have = partial.open_for_resume()
    check_free_space(work_dir, remote.size - have)
    meter = _Meter(remote.size, have, on_progress)
    digest = (hash_existing(partial.part, have, lambda n: meter.update("checking", n), cancel)
              if have else hashlib.sha256())
    failures = 0
    while have < remote.size:
        if cancel.is_set():
            raise DownloadCancelledError("download paused")
        try:
            have = _fetch_from(remote, partial.part, have, digest, meter, cancel, token, policy)
            failures = 0
        except _RangeIgnored:
            partial.part.unlink(missing_ok=True)
            have, digest = 0, hashlib.sha256()
        except _Retryable as retry:
            failures = 0 if retry.progressed else failures + 1
            have = partial.part.stat().st_size if partial.part.exists() else 0
            if failures > policy.max_retries:
                raise retry.final_error(have, remote.size) from retry
            _wait(policy.backoff_s * 2 ** max(0, failures - 1), cancel)
    meter.update("verifying", have, force=True)
    _verify(partial, digest.hexdigest(), sha)
    _install(partial, dest)
    return dest


def _expected_sha(remote: RemoteFile, expected: str | None) -> str | None:
    if expected and remote.sha256 and expected.lower() != remote.sha256:
        raise IntegrityError(
            f"{remote.filename} on the Hub is not the file the catalog lists (sha256 differs); "
            "the catalog may be out of date")
    return (expected or remote.sha256 or "").lower() or None


class _Retryable(Exception):
    def __init__(self, kind: str, host: str, progressed: bool) -> None:
        super().__init__(kind)
        self.kind, self.host, self.progressed = kind, host, progressed

    def final_error(self, have: int, total: int) -> DownloadError:
        kept = f"{format_size(have)} of {format_size(total)} is kept and the download resumes from there"
        if self.kind == "stall":
            return DownloadStalledError(f"the download from {self.host} stalled (no data for a "
                                        f"while, even after retries); {kept}")
        return NetworkUnavailableError(f"lost the connection to {self.host}; {kept}")


def _fetch_from(remote: RemoteFile, part: Path, have: int, digest, meter: _Meter,
                cancel: threading.Event, token: str | None, policy: TransferPolicy) -> int:
    import httpx2
    from huggingface_hub.utils import build_hf_headers, get_session

    headers = build_hf_headers(token=token or None)
    headers["Accept-Encoding"] = "identity"
    if have:
        headers["Range"] = f"bytes={have}-"
    timeout = httpx2.Timeout(connect=15.0, read=policy.stall_timeout_s, write=30.0, pool=15.0)
    host = httpx2.URL(remote.url).host
    start = have
    try:
        with get_session().stream("GET", remote.url, headers=headers, timeout=timeout) as response:
            if have and response.status_code == 200:
                raise _RangeIgnored()
            if response.status_code >= 400:
                response.read()
                response.raise_for_status()
            with open(part, "ab") as out:
                for chunk in response.iter_bytes(CHUNK):
                    _write(out, chunk, part)
                    digest.update(chunk)
                    have += len(chunk)
                    meter.update("downloading", have)
                    if cancel.is_set():
                        raise DownloadCancelledError("download paused")
        meter.update("downloading", have, force=True)
        if have < remote.size:
            raise _Retryable("network", host, have > start)
        return have
    except httpx2.TimeoutException as exc:
        raise _Retryable("stall", host, _size(part) > start) from exc
    except (httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
        raise _Retryable("network", host, _size(part) > start) from exc
    except httpx2.HTTPStatusError as exc:
        raise translate_error(exc, host, remote.repo, remote.filename) from exc


def _write(out, chunk: bytes, part: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(f"the disk filled up while downloading to {part.parent}; free "
                                "some space and the download resumes where it stopped") from exc
        raise


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _wait(seconds: float, cancel: threading.Event) -> None:
    if cancel.wait(seconds):
        raise DownloadCancelledError("download paused")


def _verify(partial: PartialFile, actual_sha: str, expected_sha: str | None) -> None:
    size = _size(partial.part)
    if size != partial.remote.size:
        partial.discard()
        raise IntegrityError(f"{partial.remote.filename} arrived with {size:,} bytes instead of "
                             f"{partial.remote.size:,}; it was deleted, download it again")
    if expected_sha and actual_sha != expected_sha:
        partial.discard()
        raise IntegrityError(f"{partial.remote.filename} is corrupt (its sha256 does not match); "
                             "it was deleted, download it again")


def _install(partial: PartialFile, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(partial.part, "rb+") as f:
        os.fsync(f.fileno())
    try:
        os.replace(partial.part, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        staging = dest.with_name(dest.name + ".installing")
        shutil.copyfile(partial.part, staging)
        os.replace(staging, dest)
        partial.part.unlink()
    partial.record.unlink(missing_ok=True)
