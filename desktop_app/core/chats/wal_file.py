"""Does a leftover ``-wal`` journal belong to the chats file beside it? Read from the bytes.

SQLite applies whatever valid journal it finds beside a database: nothing in the
journal names the file it was written for. A journal left by a killed session
beside a file the person has since replaced (a restored copy, an older file) or a
journal from another database would be folded into the wrong file, silently.

Three signs, from the file formats (sqlite.org/fileformat2.html), tell a journal
that cannot belong:
- its page size differs from the file's;
- after its last commit the database would be smaller than the file is now: a
  journal only shrinks a database by VACUUM, which Scalpel never runs;
- its versions of page 1 do not follow the file's: each write of page 1 stores the
  file change counter it read plus one, and a checkpoint copies page 1 into the
  file, so the file's counter is one of the journal's, or the journal's first is
  the file's plus one.
A journal that passes can still hold damage; the integrity check then finds it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

MAGICS = (0x377F0682, 0x377F0683)
HEADER, FRAME_HEADER = 32, 24
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class WalCheck:
    frames: int                # committed frames SQLite would apply
    belongs: bool
    reason: str = ""           # why it cannot belong (a phrase), when it does not


def sidecar(main: Path, suffix: str) -> Path:
    """``chats.sqlite3-wal`` / ``-shm`` / ``-journal`` beside ``chats.sqlite3``."""
    return main.with_name(main.name + suffix)


def check_wal(main: Path) -> WalCheck | None:
    """The journal beside ``main``; None when there is none SQLite would apply.

    Another process may be writing (appending frames, copying them into the file,
    starting the journal afresh): the file's header and size and the journal's header
    are read before and after the frames, and the frames count only if neither moved
    in between. A journal that keeps moving is in use, so it is the file's own."""
    for _attempt in range(5):
        before = _state(main)
        page_size, frames = _read_committed(main, keep_pages=False)
        if _state(main) == before:
            break
    else:
        return WalCheck(0, True)
    if not frames:
        return None
    count, last_size = len(frames), frames[-1][1]
    page_one_counters = [counter for page, _size, counter in frames if page == 1]
    head = _main_header(main)
    if head is None:
        return WalCheck(count, False, "there is no chats file it could belong to")
    main_page_size = struct.unpack(">H", head[16:18])[0]
    main_page_size = 65536 if main_page_size == 1 else main_page_size
    if main_page_size != page_size:
        return WalCheck(count, False, f"its pages are {page_size} bytes and the file's "
                                      f"{main_page_size}")
    main_pages = main.stat().st_size // page_size
    if last_size < main_pages:
        return WalCheck(count, False, f"it would cut the file from {main_pages} pages to "
                                      f"{last_size}")
    counter = struct.unpack(">I", head[24:28])[0]
    if page_one_counters and counter not in page_one_counters \
            and page_one_counters[0] != counter + 1:
        return WalCheck(count, False, f"it continues version {page_one_counters[0] - 1} of "
                                      f"the file, and the file is at version {counter}")
    return WalCheck(count, True)


def committed_pages(main: Path) -> tuple[int | None, dict[int, bytes]]:
    """The page size and the last committed version of each page in the journal."""
    page_size, frames = _read_committed(main, keep_pages=True)
    return page_size, {page: data for page, _size, data in frames}


def _read_committed(main: Path, *, keep_pages: bool) -> tuple[int | None, list[tuple]]:
    try:
        with open(sidecar(main, "-wal"), "rb") as wal:
            return _committed_frames(wal, keep_pages=keep_pages)
    except OSError:
        return None, []


def _state(main: Path) -> tuple:
    """What a writer changes: the file's header and size, the journal's header."""
    state = []
    for path, length in ((main, 100), (sidecar(main, "-wal"), HEADER)):
        try:
            with open(path, "rb") as file:
                state += [file.read(length), os.fstat(file.fileno()).st_size]
        except OSError:
            state += [None, None]
    return tuple(state)


def _main_header(main: Path) -> bytes | None:
    try:
        with open(main, "rb") as file:
            head = file.read(100)
    except OSError:
        return None
    return head if len(head) == 100 and head.startswith(SQLITE_MAGIC) else None


def _committed_frames(wal, *, keep_pages: bool) -> tuple[int | None, list[tuple]]:
    """(page size, [(page number, database pages after the commit or 0, page data or,
    for page 1, its change counter), ...]) for the frames of whole transactions; no
    frames for a journal SQLite would ignore. Frames count while they carry the
    header's salt (a reset journal's old frames do not)."""
    header = wal.read(HEADER)
    if len(header) < HEADER:
        return None, []
    magic, version, page_size, _sequence, salt1, salt2 = struct.unpack(">6I", header[:24])
    if magic not in MAGICS or version != 3007000 or page_size < 512 \
            or page_size > 65536 or page_size & (page_size - 1):
        return None, []
    if struct.unpack(">2I", header[24:32]) != _checksum(header[:24], big_endian=magic & 1):
        return None, []
    frames: list[tuple] = []
    committed = 0
    while True:
        frame = wal.read(FRAME_HEADER)
        if len(frame) < FRAME_HEADER:
            break
        page, size_after, salt_a, salt_b = struct.unpack(">4I", frame[:16])
        if (salt_a, salt_b) != (salt1, salt2) or page == 0:
            break
        data = wal.read(page_size)
        if len(data) < page_size:
            break
        kept = data if keep_pages else (struct.unpack(">I", data[24:28])[0] if page == 1
                                        else None)
        frames.append((page, size_after, kept))
        if size_after:  # a commit: the transaction is whole
            committed = len(frames)
    last_size = frames[committed - 1][1] if committed else 0
    return page_size, [(page, last_size if i == committed - 1 else size, kept)
                       for i, (page, size, kept) in enumerate(frames[:committed])]


def _checksum(data: bytes, *, big_endian: int) -> tuple[int, int]:
    words = struct.unpack((">" if big_endian else "<") + f"{len(data) // 4}I", data)
    s1 = s2 = 0
    for i in range(0, len(words), 2):
        s1 = (s1 + words[i] + s2) & 0xFFFFFFFF
        s2 = (s2 + words[i + 1] + s1) & 0xFFFFFFFF
    return s1, s2
