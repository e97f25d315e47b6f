"""The window's side of your own documents (the Qt-free core: desktop_app/core/documents).

controller.py   the index store, indexing worker, folder watcher, store work off the GUI
attachments.py  files attached to a chat (paperclip, Ctrl+Shift+A, drag and drop)
input_bar.py    the documents in play above the message box; the collection picker
window.py       the Documents window (Ctrl+Shift+D)
progress_text.py  progress and per-file status as sentences
installer.py    ``install_documents(window, services)``: the one call the window makes
"""

from .installer import DocumentsUi, install_documents

__all__ = ["DocumentsUi", "install_documents"]
