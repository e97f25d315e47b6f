"""A model file held open for one load, so the bytes checked are the bytes loaded.

The policy's verdict is taken from an open descriptor, and llama.cpp is given
that same file through the descriptor (``/proc/self/fd/N`` on Linux,
``/dev/fd/N`` on macOS), never the path again: replacing or renaming the file
after the check changes nothing.

A file the user can write could still be rewritten in place after the check,
and llama.cpp maps the file shared, so even the weights of a loaded model would
follow. Such a file is therefore first copied into a private snapshot that
nobody can change: on Linux a sealed memfd (``F_SEAL_WRITE``: no write, no
writable mapping, by anyone), elsewhere an unlinked temporary file only this
process holds. The verdict is taken from the snapshot after it is sealed. A file
the user cannot write (a provisioned model, root-owned or on a read-only share)
is loaded straight from its descriptor: it costs no copy.

Windows has no descriptor path for llama.cpp; there the file is hashed through
its handle and loaded by path (see docs/deploying.md for the share-deny-write
design that would close that gap).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

COPY_BLOCK = 8 << 20


class OpenedModel:
    """``fd`` is what is checked and ``load_path`` names that same file for llama.cpp
    (and for reading its header)."""

    def __init__(self, path: Path, fd: int, *, snapshot: bool) -> None:
        self.path = path
        self.fd = fd
        self.snapshot = snapshot

    @property
    def load_path(self) -> str:
        if sys.platform.startswith("linux"):
            return f"/proc/self/fd/{self.fd}"
        if sys.platform == "darwin" or os.path.isdir("/dev/fd"):
            return f"/dev/fd/{self.fd}"
        return str(self.path)  # Windows: by path (see the module's doc)

    def close(self) -> None:
        """After the load: llama.cpp's mapping keeps the bytes it needs."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "OpenedModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_model_file(path: str | Path) -> OpenedModel:
    """Open ``path`` for one load (no copy yet: see ``OpenedModel.unchangeable``);
    raises OSError."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(21, "not a regular file", str(path))
    except BaseException:
        os.close(fd)
        raise
    return OpenedModel(path, fd, snapshot=False)


def unchangeable(opened: OpenedModel, *, snapshot: bool | None = None) -> OpenedModel:
    """``opened`` itself when no one but an administrator can change its bytes, else a
    private snapshot of them (``opened`` is then closed). ``snapshot`` forces the choice
    (tests). Raises OSError."""
    if snapshot is None:
        snapshot = os.name == "posix" and user_can_change(opened.fd)
    if not snapshot:
        return opened
    copy = _private_copy(opened.fd)
    opened.close()
    return OpenedModel(opened.path, copy, snapshot=True)


def user_can_change(fd: int) -> bool:
    """Could this process's user rewrite the open file: its owner (who may chmod it),
    or allowed to write it (mode bits, ACLs: the kernel's own answer)."""
    st = os.fstat(fd)
    if hasattr(os, "geteuid") and st.st_uid == os.geteuid():
        return True
    if sys.platform.startswith("linux"):
        return os.access(f"/proc/self/fd/{fd}", os.W_OK)
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _private_copy(fd: int) -> int:
    """A descriptor on a copy of ``fd``'s bytes that no one can change."""
    size = os.fstat(fd).st_size
    if hasattr(os, "memfd_create"):
        import fcntl

        copy = os.memfd_create("scalpel-model", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            _copy_bytes(fd, copy, size)
            fcntl.fcntl(copy, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW
                        | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
        except BaseException:
            os.close(copy)
            raise
        return copy
    handle = tempfile.TemporaryFile()  # unlinked at once on POSIX: only this process has it
    copy = os.dup(handle.fileno())
    handle.close()
    try:
        _copy_bytes(fd, copy, size)
        os.fchmod(copy, 0o400)
    except BaseException:
        os.close(copy)
        raise
    return copy


def _copy_bytes(source: int, target: int, size: int) -> None:
    offset = 0
    while offset < size:
        try:
            sent = os.sendfile(target, source, offset, min(size - offset, 1 << 30))
        except (AttributeError, OSError):  # no sendfile to this target: plain copies
            os.lseek(source, offset, os.SEEK_SET)
            with os.fdopen(os.dup(source), "rb") as src, os.fdopen(os.dup(target), "wb") as dst:
                dst.seek(offset)
                shutil.copyfileobj(src, dst, COPY_BLOCK)
            return
        if sent == 0:
            break
        offset += sent
    os.lseek(target, 0, os.SEEK_SET)
