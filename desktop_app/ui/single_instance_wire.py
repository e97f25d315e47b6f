"""The single-instance wire: what a later start sends the open window, and where.

One line of JSON of at most ``MAX_MESSAGE_BYTES``, from the later start,
``{"activate": true, "model": "ID|PATH" or null, "activation_token": "..." or null}``,
answered ``ANSWER`` once the window has acted (see ``single_instance``). The socket's name
comes from the data folder and the user, so another ``SCALPEL_HOME`` has its own window.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from PySide6.QtCore import QDir

from ..core.errors import ScalpelError

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 32 * 1024   # a request line; a 4 KB path with every byte escaped fits
SOCKET_PATH_MAX = 100           # bytes of a Unix socket path (sun_path: 104 macOS, 108 Linux)
ANSWER = b'{"ok": true}\n'


@dataclass(frozen=True)
class WindowRequest:
    """What a later start asks of the open window."""

    activate: bool = True
    model: str | None = None              # ID|PATH, as ``--model`` takes it
    activation_token: str | None = None   # XDG_ACTIVATION_TOKEN (Wayland) of the later start

    def to_dict(self) -> dict[str, object]:
        return {"activate": self.activate, "model": self.model,
                "activation_token": self.activation_token}

    @classmethod
    def from_dict(cls, data: object) -> "WindowRequest":
        """Raises ValueError for anything but the shape above (unknown keys are ignored)."""
        if not isinstance(data, dict):
            raise ValueError("a request is a JSON object")
        activate = data.get("activate", True)
        if not isinstance(activate, bool):
            raise ValueError("'activate' must be true or false")
        texts = {key: data.get(key) for key in ("model", "activation_token")}
        for key, value in texts.items():
            if value is not None and (not isinstance(value, str) or not value.strip()
                                      or "\0" in value):
                raise ValueError(f"'{key}' must be text or null")
        return cls(activate=activate, **texts)

    @classmethod
    def for_this_start(cls, model: str | os.PathLike | None, *,
                       environ: Mapping[str, str] | None = None) -> "WindowRequest":
        environ = os.environ if environ is None else environ
        return cls(model=None if model is None else os.fspath(model),
                   activation_token=environ.get("XDG_ACTIVATION_TOKEN") or None)


def encode_request(request: WindowRequest) -> bytes:
    data = json.dumps(request.to_dict()).encode("ascii") + b"\n"  # odd file names escaped
    if len(data) > MAX_MESSAGE_BYTES:
        raise ScalpelError("the model path is too long to hand to the open Scalpel window")
    return data


def decode_request(line: bytes) -> WindowRequest | None:
    """The request in ``line`` (without its newline), or None (logged) for anything else."""
    if len(line) > MAX_MESSAGE_BYTES:
        log.warning("ignored a request from another start: longer than %d bytes",
                    MAX_MESSAGE_BYTES)
        return None
    try:
        return WindowRequest.from_dict(json.loads(line.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        log.warning("ignored a malformed request from another start: %s", exc)
        return None


def server_name(data_dir: Path, *, environ: Mapping[str, str] | None = None,
                temp_dir: str | None = None) -> str:
    """The socket for ``data_dir`` and this user: a path on Unix (in the private runtime
    folder when there is one, else the temp folder), a pipe name on Windows."""
    environ = os.environ if environ is None else environ
    folder = os.path.normcase(os.path.realpath(data_dir))
    key = f"{_user_key(environ)}\n{folder}".encode("utf-8", "surrogatepass")
    name = "scalpel-" + hashlib.sha256(key).hexdigest()[:24]
    if os.name != "posix":
        return name
    for base in (_private_runtime_dir(environ), temp_dir or QDir.tempPath()):
        if base and len(os.fsencode(os.path.join(base, name))) <= SOCKET_PATH_MAX:
            return os.path.join(base, name)
    return name


def _user_key(environ: Mapping[str, str]) -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    return environ.get("USERNAME", "")


def _private_runtime_dir(environ: Mapping[str, str]) -> str | None:
    """``XDG_RUNTIME_DIR`` when it is this user's own closed folder."""
    folder = environ.get("XDG_RUNTIME_DIR", "")
    try:
        info = os.stat(folder) if os.path.isabs(folder) else None
    except OSError:
        return None
    if (info is not None and stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & 0o077):
        return folder
    return None


def is_answer(data: bytes) -> bool:
    try:
        return json.loads(data.split(b"\n", 1)[0]) == {"ok": True}
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
