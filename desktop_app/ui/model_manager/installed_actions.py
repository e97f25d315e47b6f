"""The model manager's Installed tab actions: names, Use, Delete, Reveal.

A model is named by its catalog entry when it came from the catalog (or is the built-in
starter), else by the GGUF's own ``general.name``, read off the GUI thread once per file
version, never by its file name (``names.py``: the window's model box names them so
too). Use (or a double-click) hands the ModelRef to the window through ``model_chosen``.
A mixin of ModelManagerDialog.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from ...core.errors import ScalpelError, format_size
from ...core.models import ModelRef
from ..plain_text import ask
from .common import BackgroundCall, file_size
from .names import catalog_names, merged_names, read_gguf_names

log = logging.getLogger(__name__)


class InstalledActions:
    def _catalog_names(self, models: list[ModelRef]) -> tuple[dict[str, str], dict[str, str]]:
        return catalog_names(self._services, models)

    def _read_gguf_names(self, models: list[ModelRef]) -> None:
        """Each GGUF's ``general.name`` (and whether it is an embedding model), read off
        the GUI thread once per file version (``names.py``); ``names_read`` follows."""
        known = dict(self._gguf_names)
        BackgroundCall.start(lambda: read_gguf_names(models, known), self._on_gguf_names,
                             lambda message: log.info("could not read model names: %s", message))

    @Slot(object)
    def _on_gguf_names(self, found: dict) -> None:
        self._gguf_names.update(found)
        names, kinds = merged_names(self._gguf_names,
                                    self._catalog_names(self.installed_tab.models))
        self.installed_tab.set_names(names, kinds)
        self.names_read.emit()

    # -- installed ---------------------------------------------------------------
    @Slot(str)
    def use_model(self, path: str) -> ModelRef | None:
        """Load this installed model now (the window's model choice; chatting waits for it)."""
        ref = next((m for m in self.installed_tab.models if str(m.path) == str(path)), None)
        if ref is None:
            return None
        if self._services.models.find(ref.path) is not None and \
                str(ref.path) in self._services.models.refused_paths():
            self.show_error(f"{self.installed_tab.display_name(ref)} is not on your "
                            "organization's list of allowed models.")
            return None
        self.clear_error()
        self.model_chosen.emit(ref)
        return ref

    @Slot(str)
    def delete_model(self, path: str, confirm: bool = True) -> int | None:
        """Delete a model (or forget a referenced one); returns the bytes freed."""
        ref = next((m for m in self.installed_tab.models if str(m.path) == str(path)), None)
        if ref is not None and ref.source == "starter":
            self.show_error("The built-in starter model comes with Scalpel and cannot be deleted.")
            return None
        if ref is not None and ref.source == "provisioned":
            self.show_error("This model is provided by your organization; Scalpel never "
                            "changes or deletes it.")
            return None
        target = Path(path)
        if confirm and not self._confirm_delete(target, ref.name if ref else target.name,
                                                ref.source if ref else "library"):
            return None
        try:
            freed = self._services.library.remove(target)
        except ScalpelError as exc:
            self.show_error(str(exc))
            return None
        except OSError as exc:
            self.show_error(f"could not delete {target.name}: {exc.strerror or exc}")
            return None
        self.clear_error()
        self._services.models.forget(target)  # shown at once (changed follows) ...
        self.listing.refresh()                # ... then listed afresh off the GUI thread
        self.models_changed.emit()
        return freed

    def _confirm_delete(self, path: Path, name: str, source: str) -> bool:
        if source == "reference":
            text = (f"Stop using {name} in Scalpel?\n\nThe file stays where it is:\n{path}")
        else:
            text = (f"Delete {name}?\n\nThis frees {format_size(file_size(path))} of disk space. "
                    "You can download it again later.")
        answer = ask(self, "Delete model", text,
                     QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                     QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    @Slot(str)
    def reveal_model(self, path: str) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))
