"""The preset editor window: the person's own task presets, with the built-ins read-only."""

from .dialog import READ_ONLY_NOTE, PresetEditorDialog

__all__ = ["READ_ONLY_NOTE", "PresetEditorDialog"]
