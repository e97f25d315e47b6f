"""Rows read straight from the file's pages, where SQLite's own reading stops at damage.

A damaged interior page (or a file cut short, which loses the schema's own pages)
hides every row below it from SQL, though the leaf pages holding the rows are
intact. Like SQLite's ``.recover``, this walks every page: each table-leaf page
(type 13) is parsed cell by cell (overflow chains followed) and its records
decoded; a record shaped like a row of ``chats`` or ``messages`` (column count
and types) is kept with its rowid. Pages on the free list are skipped, so deleted
chats do not come back. With the journal, each page is read as SQLite would:
its last committed version in the ``-wal``, else the main file.
(Format: sqlite.org/fileformat2.html.)
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from .wal_file import SQLITE_MAGIC, committed_pages

# the accepted value types per column (None, int, float, str, bytes), one tuple per
# column count a table's rows may have: a column added by a migration (chats.keep_local,
# version 3; chats.documents, version 4) is in the rows written since, not in older ones
_TEXT, _OPT_TEXT, _NUM = (str,), (str, type(None)), (int, float)
_CHATS = ((type(None),), _TEXT, _OPT_TEXT, _OPT_TEXT, _NUM, _NUM, (int, type(None)))
SHAPES = {
    "chats": (_CHATS, (*_CHATS, (int,)), (*_CHATS, (int,), _OPT_TEXT)),
    "messages": (((type(None),), (int,), (int, type(None)), _TEXT, _TEXT, _OPT_TEXT,
                  _OPT_TEXT, _OPT_TEXT, _TEXT, _NUM, (*_NUM, type(None))),),
}
MAX_PAGES = 2_000_000


def scan_rows(main: Path, *, with_journal: bool) -> dict[str, dict[int, tuple]]:
    """{"chats": {rowid: row}, "messages": {...}}: rows whose record fits the table's
    shape, with the rowid in place of the id column (stored as NULL)."""
    found: dict[str, dict[int, tuple]] = {name: {} for name in SHAPES}
    with _Pages(main, with_journal) as pages:
        if pages.page_size is not None:
            _scan(pages, found)
    return found


def _scan(pages: "_Pages", found: dict[str, dict[int, tuple]]) -> None:
    free = pages.free_list()
    for number in range(1, min(pages.count, MAX_PAGES) + 1):
        if number in free:
            continue
        page = pages.get(number)
        start = 100 if number == 1 else 0
        if page is None or page[start] != 13:
            continue
        for rowid, values in _leaf_cells(pages, page, start):
            for name, shapes in SHAPES.items():
                if any(len(values) == len(shape) and all(
                        isinstance(v, kinds) for v, kinds in zip(values, shape))
                       for shape in shapes):
                    found[name].setdefault(rowid, (rowid, *values[1:]))


class _Pages:
    """The file's pages (mapped, not read into memory), the journal's over them."""

    def __init__(self, main: Path, with_journal: bool) -> None:
        self._file = self._map = None
        self.data: bytes | mmap.mmap = b""
        if main.exists() and main.stat().st_size:
            self._file = open(main, "rb")  # noqa: SIM115 - closed in __exit__
            self.data = self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self.page_size = None
        self.wal = {}
        if len(self.data) >= 100 and self.data[:16] == SQLITE_MAGIC:
            size = struct.unpack(">H", self.data[16:18])[0]
            self.page_size = 65536 if size == 1 else size
            if self.page_size < 512 or self.page_size & (self.page_size - 1):
                self.page_size = None
        if with_journal:
            wal_size, self.wal = committed_pages(main)
            self.page_size = self.page_size or wal_size
        if self.page_size is None:
            return
        self.usable = self.page_size - (self.data[20] if self.data[:16] == SQLITE_MAGIC else 0)
        self.count = max([len(self.data) // self.page_size, *self.wal])

    def __enter__(self) -> "_Pages":
        return self

    def __exit__(self, *_exc) -> None:
        if self._map is not None:
            self._map.close()
            self._file.close()

    def get(self, number: int) -> bytes | None:
        if number in self.wal:
            return self.wal[number]
        page = self.data[(number - 1) * self.page_size:number * self.page_size]
        return page if len(page) == self.page_size else None

    def free_list(self) -> set[int]:
        """Trunk and leaf pages of the free list (as far as it can be followed)."""
        first = self.get(1)
        free: set[int] = set()
        trunk = struct.unpack(">I", first[32:36])[0] if first else 0
        while trunk and trunk not in free and (page := self.get(trunk)) is not None:
            free.add(trunk)
            following, count = struct.unpack(">2I", page[:8])
            count = min(count, (self.usable - 8) // 4)
            free.update(struct.unpack(f">{count}I", page[8:8 + 4 * count]))
            trunk = following
        return free


def _leaf_cells(pages: _Pages, page: bytes, start: int):
    cells = struct.unpack(">H", page[start + 3:start + 5])[0]
    for i in range(cells):
        try:
            offset = struct.unpack(">H", page[start + 8 + 2 * i:start + 10 + 2 * i])[0]
            size, offset = _varint(page, offset)
            rowid, offset = _varint(page, offset)
            payload = _payload(pages, page, offset, size)
            if payload is not None:
                yield _signed(rowid), _record(payload)
        except (IndexError, ValueError, struct.error, UnicodeDecodeError):
            continue  # a damaged cell: the others on the page still count


def _payload(pages: _Pages, page: bytes, offset: int, size: int) -> bytes | None:
    usable = pages.usable
    local_max = usable - 35
    if size <= local_max:
        return page[offset:offset + size]
    least = (usable - 12) * 32 // 255 - 23
    local = least + (size - least) % (usable - 4)
    local = local if local <= local_max else least
    parts = [page[offset:offset + local]]
    following = struct.unpack(">I", page[offset + local:offset + local + 4])[0]
    have, seen = local, set()
    while have < size:
        overflow = pages.get(following) if following not in seen else None
        if overflow is None:
            return None
        seen.add(following)
        chunk = overflow[4:4 + min(usable - 4, size - have)]
        parts.append(chunk)
        have += len(chunk)
        following = struct.unpack(">I", overflow[:4])[0]
    return b"".join(parts)


def _record(payload: bytes) -> list:
    header_size, offset = _varint(payload, 0)
    types = []
    while offset < header_size:
        serial, offset = _varint(payload, offset)
        types.append(serial)
    values, at = [], header_size
    for serial in types:
        if serial == 0 or serial in (10, 11):
            values.append(None)
        elif serial in (8, 9):
            values.append(serial - 8)
        elif serial <= 6:
            width = (0, 1, 2, 3, 4, 6, 8)[serial]
            values.append(int.from_bytes(payload[at:at + width], "big", signed=True))
            at += width
        elif serial == 7:
            values.append(struct.unpack(">d", payload[at:at + 8])[0])
            at += 8
        else:
            width = (serial - 12) // 2 if serial % 2 == 0 else (serial - 13) // 2
            raw = payload[at:at + width]
            if len(raw) < width:
                raise ValueError("a record runs past its payload")
            values.append(raw if serial % 2 == 0 else raw.decode("utf-8"))
            at += width
    if at > len(payload):
        raise ValueError("a record runs past its payload")
    return values


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = data[offset + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, offset + i + 1
    return (value << 8) | data[offset + 8], offset + 9


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value
