"""The Model manager window: catalog, installed models, Hugging Face, imports, downloads.

Non-modal. Network and file copies run off the GUI thread (downloads in the
DownloadManager's worker, listings and imports in a :class:`BackgroundCall`);
every problem lands in the one error label at the top of the dialog. The
Installed tab shows the services' model listing, which is refreshed off the GUI
thread too: by the download worker before a job reads "done", by the import's
worker, and after a removal. ``models_changed`` says this dialog installed,
imported or removed a model, once the listing shows it. ``model_chosen`` carries
the ModelRef a person chose with Use (or a double-click); the window loads it.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QProgressBar, QTabWidget,
                               QVBoxLayout, QWidget)

from ...core.downloads.installed import destination_for
from ...core.downloads.manager import DownloadRequest, DownloadStatus
from ...core.errors import ScalpelError
from ...core.fit import memory_bandwidth
from ...core.hub_search import HubSearch
from ...core.services import Services
from ..download_bridge import DownloadBridge
from ..error_banner import ErrorBanner
from .catalog_tab import CatalogTab
from .common import BackgroundCall
from .downloads_panel import DownloadsPanel
from .hub_tab import HubTab
from .import_actions import ImportActions
from .installed_actions import InstalledActions
from .installed_tab import InstalledTab
from ..model_listing_bridge import ModelListingBridge

log = logging.getLogger(__name__)

_ORIGINS = {"hub": "Downloaded", "import": "Imported (copy)"}
MANAGED_NOTE = ("Downloads are turned off by your organization. Models it provides are listed "
                "under Installed; ask your IT department for others.")


class ModelManagerDialog(InstalledActions, ImportActions, QDialog):
    models_changed = Signal()
    model_chosen = Signal(object)           # ModelRef: Use / double-click on Installed
    repos_found = Signal(str, list)         # search text, list[HubRepo]
    names_read = Signal()                   # the GGUFs' own names are shown
    bandwidth_measured = Signal(object)     # bytes/s or None
    repo_files_listed = Signal(str, list)   # repo, list[HubFile]
    import_finished = Signal(str, str)      # path ("" on failure), error message ("" on success)

    def __init__(self, services: Services, downloads: DownloadBridge,
                 listing: ModelListingBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.downloads = downloads
        self.listing = listing
        self._busy_imports = 0
        self._listing = ""
        self._searching = ""
        self._gguf_names: dict[tuple[str, float], tuple[str | None, bool]] = {}
        self.setObjectName("modelManager")
        self.setWindowTitle("Models — Scalpel")
        self.setAccessibleName("Model manager")
        self.setModal(False)
        self.resize(1060, 680)

        self.errors = ErrorBanner()

        self.catalog_tab = CatalogTab(services.catalog, services.settings.n_ctx)
        self.catalog_tab.blocked = blocked_downloads(services)
        self.catalog_table = self.catalog_tab.table
        self.installed_tab = InstalledTab()
        self.installed_table = self.installed_tab.table
        self.hub_tab = HubTab()
        self.hub_tab.fit_for = self.catalog_tab.fit_for_size
        self.downloads_panel = DownloadsPanel()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("managerTabs")
        self.tabs.addTab(self.catalog_tab, "&Catalog")
        self.tabs.addTab(self.installed_tab, "&Installed")
        if services.downloads_allowed:   # the policy's and the person's switch
            self.tabs.addTab(self.hub_tab, "Add from &Hugging Face")
        self.managed_note = QLabel(MANAGED_NOTE)
        self.managed_note.setObjectName("managedNote")
        self.managed_note.setWordWrap(True)
        self.managed_note.setVisible(not services.policy.downloads_allowed)
        self.downloads_panel.setVisible(services.downloads_allowed)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.errors)
        layout.addWidget(self.managed_note)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.downloads_panel)
        layout.addWidget(close)

        self.catalog_tab.download_requested.connect(self.download_catalog_entry)
        self.installed_tab.delete_requested.connect(self.delete_model)
        self.installed_tab.reveal_requested.connect(self.reveal_model)
        self.installed_tab.import_requested.connect(self.choose_import)
        self.hub_tab.list_requested.connect(self.list_repo_files)
        self.hub_tab.download_requested.connect(self.download_repo_file)
        self.downloads_panel.cancel_requested.connect(self.cancel_download)
        self.downloads_panel.retry_requested.connect(self.retry_download)
        self.installed_tab.use_requested.connect(self.use_model)
        self.hub_tab.search_requested.connect(self.search_hub)
        if parent is not None and hasattr(parent, "load_model"):
            self.model_chosen.connect(parent.load_model)
        downloads.changed.connect(self._on_downloads_changed)
        downloads.model_installed.connect(self._on_model_installed)
        listing.changed.connect(self.refresh)
        self.refresh()
        self._on_downloads_changed(downloads.statuses())
        cache = services.paths.cache_dir / "memory-bandwidth.json"
        BackgroundCall.start(lambda: memory_bandwidth(cache), self._on_bandwidth,
                             lambda message: log.info("no memory bandwidth: %s", message))

    @Slot(object)
    def _on_bandwidth(self, bytes_per_s: float | None) -> None:
        self.catalog_tab.set_bandwidth(bytes_per_s)
        self.bandwidth_measured.emit(bytes_per_s)

    # -- errors ----------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.errors.show_message(message)

    def clear_error(self) -> None:
        self.errors.hide()

    def error_text(self) -> str:
        return self.errors.message()

    # -- state -----------------------------------------------------------------
    def refresh(self) -> None:
        """Show the last model listing and re-mark the catalog (nothing is walked here)."""
        models = self._services.models.all_models()   # embedding models too, marked
        store = self._services.library.store
        origins = {}
        for ref in models:
            record = store.get(ref.path) if ref.source == "library" else None
            if record is not None:
                origins[str(ref.path)] = _ORIGINS.get(record.source, "")
        self.installed_tab.set_models(models, origins)
        names, kinds = self._catalog_names(models)
        self.installed_tab.set_names(names, kinds)
        self._read_gguf_names([m for m in models if str(m.path) not in names])
        self._update_catalog_state(self.downloads.statuses())

    def _installed_catalog_ids(self) -> set[str]:
        catalog, models_dir = self._services.catalog, self._services.paths.models_dir
        found = {e.id for e in catalog.entries
                 if destination_for(models_dir, e.repo, e.filename).is_file()}
        store = self._services.library.store
        for record in store.all():
            entry = catalog.get(record.catalog_id or "") or catalog.by_file(
                record.repo or "", record.filename or "")
            if entry is not None and store.absolute(record).is_file():
                found.add(entry.id)
        return found

    def _builtin_catalog_ids(self) -> set[str]:
        """Catalog entries that are the built-in starter (installed with Scalpel)."""
        return {ref.id for ref in self._services.models.models()
                if ref.source == "starter" and self._services.catalog.get(ref.id)}

    def _catalog_id_for(self, status: DownloadStatus) -> str | None:
        request = status.request
        entry = (self._services.catalog.get(request.catalog_id or "")
                 or self._services.catalog.by_file(request.repo, request.filename))
        return entry.id if entry else None

    def _update_catalog_state(self, statuses: list[DownloadStatus]) -> None:
        jobs: dict[str, DownloadStatus] = {}
        for status in statuses:  # oldest first, so the latest job per entry wins
            if (entry_id := self._catalog_id_for(status)) is not None:
                jobs[entry_id] = status
        builtin = self._builtin_catalog_ids()
        self.catalog_tab.update_state(self._installed_catalog_ids() | builtin, jobs, builtin)

    def _job_name(self, status: DownloadStatus) -> str:
        entry_id = self._catalog_id_for(status)
        entry = self._services.catalog.get(entry_id) if entry_id else None
        return entry.name if entry else status.request.filename

    @Slot(list)
    def _on_downloads_changed(self, statuses: list) -> None:
        self.downloads_panel.update_jobs(statuses, self._job_name)
        self._update_catalog_state(statuses)

    @Slot(str)
    def _on_model_installed(self, path: str) -> None:
        self.refresh()  # listed already: the download worker refreshed before "done"
        self.models_changed.emit()

    # -- downloads ---------------------------------------------------------------
    @Slot(str)
    def download_catalog_entry(self, entry_id: str) -> int | None:
        entry = self._services.catalog.get(entry_id)
        if entry is None:
            self.show_error(f"no catalog model with id {entry_id}")
            return None
        try:
            self._services.download_admission(entry.id, entry.sha256)
        except ScalpelError as exc:
            self.show_error(str(exc))
            return None
        self.clear_error()
        return self.downloads.download(DownloadRequest.for_entry(entry))

    @Slot(str, str)
    def download_repo_file(self, repo: str, filename: str) -> int:
        self.clear_error()
        entry = self._services.catalog.by_file(repo, filename)
        return self.downloads.download(DownloadRequest.for_entry(entry) if entry
                                       else DownloadRequest(repo, filename))

    @Slot(int)
    def cancel_download(self, job_id: int) -> None:
        self.downloads.cancel(job_id)

    @Slot(int)
    def retry_download(self, job_id: int) -> int | None:
        """The same file again; a partial kept by a pause resumes where it stopped."""
        status = self.downloads.status(job_id)
        if status is None:
            return None
        self.clear_error()
        return self.downloads.download(status.request)

    def progress_bar_for(self, job_id: int) -> QProgressBar | None:
        row = self.downloads_panel.rows.get(job_id)
        return row.bar if row else None

    def download_row_text(self, job_id: int) -> str:
        row = self.downloads_panel.rows.get(job_id)
        return row.detail.text() if row else ""

    # -- Hugging Face ------------------------------------------------------------
    @Slot(str)
    def search_hub(self, text: str) -> None:
        """Search GGUF repos by name off the GUI thread; the answer arrives as repos_found."""
        text = " ".join(text.split())
        self.clear_error()
        self.hub_tab.set_searching(text)
        search = HubSearch(self.downloads.manager.hub)
        self._searching = text
        BackgroundCall.start(lambda: (text, search.search(text)),
                             self._on_repos_found, self._on_list_failed)

    @Slot(object)
    def _on_repos_found(self, result: tuple) -> None:
        text, repos = result
        if text != self._searching:
            return  # an older search answered late
        self.hub_tab.set_repos(text, repos)
        self.repos_found.emit(text, list(repos))

    @Slot(str)
    def list_repo_files(self, repo: str) -> None:
        """Ask the hub for the repo's GGUF files; the answer arrives as repo_files_listed."""
        repo = repo.strip().strip("/")
        self.clear_error()
        self.hub_tab.set_busy(repo)
        search = HubSearch(self.downloads.manager.hub)
        self._listing = repo
        BackgroundCall.start(lambda: (repo, search.files(repo)),
                             self._on_files_listed, self._on_list_failed)

    @Slot(object)
    def _on_files_listed(self, result: tuple) -> None:
        repo, files = result
        if repo != self._listing:
            return  # an older request answered late
        self.hub_tab.set_files(repo, files)
        self.repo_files_listed.emit(repo, list(files))

    @Slot(str)
    def _on_list_failed(self, message: str) -> None:
        self.hub_tab.set_failed()
        self.show_error(message)



def blocked_downloads(services: Services) -> dict[str, str]:
    """Catalog ids the policy refuses to download, with the word shown in their row."""
    if not services.downloads_allowed:
        return {entry.id: "Downloads off" for entry in services.catalog}
    return {entry.id: "Not allowed" for entry in services.catalog
            if not services.can_download(entry)}

