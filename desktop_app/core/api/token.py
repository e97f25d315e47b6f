"""The API's per-install bearer token: random, in the config folder, owner-only.

Written atomically (a temp file created 0600, then ``os.replace``), so a reader sees
the old token or the new one, never half of one, and never a moment when the file
is readable by others. A file another user could read is re-tightened on load.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
import threading
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger(__name__)

FILE_NAME = "api-token"
PREFIX = "sk-scalpel-"


class ApiToken:
    def __init__(self, config_dir: Path) -> None:
        self.path = Path(config_dir) / FILE_NAME
        self._value: str | None = None
        self._lock = threading.Lock()

    @property
    def value(self) -> str:
        """The token, made on first use."""
        with self._lock:
            if self._value is None:
                self._value = self._read() or self._write(_new_token())
            return self._value

    def rotate(self) -> str:
        """A new token; the old one stops working at once (for servers reading this object)."""
        with self._lock:
            self._value = self._write(_new_token())
            return self._value

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode("utf-8", "replace"),
                                   self.value.encode("utf-8"))

    def _read(self) -> str | None:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"the API token in {self.path} cannot be read "
                              f"({exc.strerror or exc}); delete it and Scalpel makes a new one"
                              ) from exc
        if not text.startswith(PREFIX) or len(text) < len(PREFIX) + 32:
            log.warning("the API token file %s does not hold a token: making a new one",
                        self.path)
            return None
        if os.name == "posix" and mode & 0o077:
            log.warning("the API token file %s was readable by others: tightened to 0600",
                        self.path)
            os.chmod(self.path, 0o600)
        return text

    def _write(self, token: str) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None
                os.write(fd, (token + "\n").encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"the API token cannot be saved in {self.path} "
                              f"({exc.strerror or exc}); check that folder's permissions"
                              ) from exc
        return token


def _new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)
