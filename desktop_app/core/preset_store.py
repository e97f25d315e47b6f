"""Where presets live: built-ins (read-only), IT-shipped and the person's own.

Each preset is one JSON file named ``<id>.json``. Directories are read in
order: built-in (``resources/presets``), then any extra read-only directories
(an IT-shipped set), then the user's (``<config>/presets``). A later file with
the same id replaces an earlier one, so a person's edit of a duplicated
built-in wins. A file that fails validation is skipped and reported in
``problems``; the rest still load.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import PresetError
from .json_files import (MAX_BYTES_PRESET, MAX_DEPTH, JsonFileError, nesting_depth,
                         read_json_file)
from .presets import Preset, preset_from_dict

log = logging.getLogger(__name__)

DEFAULT_PRESET_ID = "auto"   # Auto chooses the task per message (core/session/auto.py)


@dataclass(frozen=True)
class PresetSource:
    directory: Path
    writable: bool


class PresetStore:
    def __init__(self, *, builtin_dir: Path, user_dir: Path,
                 extra_dirs: Iterable[Path] = ()) -> None:
        self.user_dir = Path(user_dir)
        self.sources = [PresetSource(Path(builtin_dir), False),
                        *(PresetSource(Path(d), False) for d in extra_dirs),
                        PresetSource(self.user_dir, True)]
        self.problems: list[str] = []
        self._presets: dict[str, Preset] = {}
        self.reload()

    # -- reading ----------------------------------------------------------------
    def reload(self) -> None:
        presets: dict[str, Preset] = {}
        problems: list[str] = []
        for source in self.sources:
            for path in sorted(source.directory.glob("*.json")) if source.directory.is_dir() else []:
                try:
                    preset = self._read(path, builtin=not source.writable)
                except PresetError as exc:
                    problems.append(str(exc))
                    log.warning("preset skipped: %s", exc)
                    continue
                presets[preset.id] = preset
        self._presets, self.problems = presets, problems

    @staticmethod
    def _read(path: Path, *, builtin: bool) -> Preset:
        try:
            data = read_json_file(path, max_bytes=MAX_BYTES_PRESET)
        except JsonFileError as exc:
            raise PresetError(exc.reason, file=str(path)) from exc
        preset = preset_from_dict(data, file=str(path), builtin=builtin, path=path)
        if preset.id != path.stem:
            raise PresetError(f"is '{preset.id}' but the file is named {path.name}; name the "
                              f"file {preset.id}.json", file=str(path), field="id")
        return preset

    def list(self) -> list[Preset]:
        """Built-ins first in their shipped order, then the rest by name."""
        order = {pid: i for i, pid in enumerate(BUILTIN_ORDER)}
        return sorted(self._presets.values(),
                      key=lambda p: (order.get(p.id, len(order)), p.name.lower()))

    def get(self, preset_id: str) -> Preset | None:
        return self._presets.get(preset_id)

    def find(self, text: str) -> Preset:
        """A preset by id or by name (case-insensitive), for ``--preset``."""
        needle = text.strip().lower()
        for preset in self.list():
            if needle in (preset.id, preset.name.lower()):
                return preset
        known = ", ".join(p.id for p in self.list())
        raise PresetError(f"no preset '{text}'; known presets: {known}")

    def default(self) -> Preset | None:
        return self.get(DEFAULT_PRESET_ID) or next(iter(self.list()), None)

    # -- the person's own ---------------------------------------------------------
    def save(self, preset: Preset) -> Preset:
        """Write ``preset`` to the user directory (validated first) and return it as loaded."""
        current = self.get(preset.id)
        if current is not None and current.builtin:
            raise PresetError(f"'{current.name}' is built in and read-only; duplicate it to "
                              "make your own version")
        path = self.user_dir / f"{preset.id}.json"
        checked = preset_from_dict(preset.to_dict(), file=str(path), path=path)
        text = json.dumps(checked.to_dict(), indent=2, ensure_ascii=False) + "\n"
        if nesting_depth(text) > MAX_DEPTH:  # it could be saved but never read back
            raise PresetError(f"is nested too deeply: Scalpel reads preset files nested at "
                              f"most {MAX_DEPTH} levels", file=str(path),
                              field="output.json_schema")
        self.user_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        self._presets[checked.id] = checked
        self.problems = [p for p in self.problems if str(path) not in p]
        return checked

    def duplicate(self, preset_id: str, *, name: str | None = None) -> Preset:
        original = self._require(preset_id)
        new_name = name or f"{original.name} (copy)"
        copy = original.with_changes(id=self.free_id(new_name), name=new_name,
                                     builtin=False, path=None)
        return self.save(copy)

    def delete(self, preset_id: str) -> None:
        preset = self._require(preset_id)
        if preset.builtin or preset.path is None or preset.path.parent != self.user_dir:
            raise PresetError(f"'{preset.name}' is not yours to delete (built in or shipped "
                              "by your organization)")
        preset.path.unlink(missing_ok=True)
        self.reload()

    def free_id(self, name: str) -> str:
        """An id from ``name`` that no preset and no file (even an unreadable one) uses."""
        base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:56] or "preset"
        candidate, n = base, 2
        while candidate in self._presets or (self.user_dir / f"{candidate}.json").exists():
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def _require(self, preset_id: str) -> Preset:
        preset = self.get(preset_id)
        if preset is None:
            raise PresetError(f"no preset '{preset_id}'")
        return preset


BUILTIN_ORDER = ("auto", "general", "code", "summarize", "translate", "email", "json", "brainstorm")
