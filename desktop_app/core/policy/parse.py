"""Read and validate a policy file, never ignoring a bad one silently.

Each key is checked on its own; a bad value gets a one-sentence problem naming
the file and the key, and the most restrictive safe reading of that key. When
a file has any problem at all, keys it does not set fall back to their
restrictive values too (no model allowed, downloads off): an admin's typo must
not open up what the file meant to close.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from ..json_files import MAX_BYTES_POLICY, JsonFileError, read_json_file
from ..paths import machine_policy_file
from .model import (FILE_NAME, FORMAT_VERSION, KEYS, LOCKABLE_SETTINGS, POLICY_ENV,
                    RESTRICTED_SOURCE, Policy)

_SHA256 = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
_CATALOG_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def policy_file_for(system_config_dir: Path | None,
                    environ: Mapping[str, str] | None = None, *,
                    machine_dir: Path | None = None) -> tuple[Path | None, bool]:
    """The policy file to read and whether it must exist.

    The machine's own file, when it has one, whatever ``system_config_dir`` and the
    environment say (a user sets both); only without it may ``SCALPEL_POLICY`` or the
    given folder name another. ``machine_dir`` stands for the real folder (tests)."""
    machine_file = machine_policy_file(machine_dir)
    if machine_file is not None:
        return machine_file, True
    environ = os.environ if environ is None else environ
    override = environ.get(POLICY_ENV, "").strip()
    if override:
        return Path(override), True
    if system_config_dir is None:
        return None, False
    return Path(system_config_dir) / FILE_NAME, False


def load_policy(system_config_dir: Path | None,
                environ: Mapping[str, str] | None = None, *,
                machine_dir: Path | None = None) -> Policy:
    """The effective policy of this machine (unmanaged when there is no file)."""
    path, explicit = policy_file_for(system_config_dir, environ, machine_dir=machine_dir)
    if path is None or (not explicit and not path.exists()):
        return Policy.unmanaged()
    return read_policy_file(path)


def read_policy_file(path: Path) -> Policy:
    try:
        raw = read_json_file(path, max_bytes=MAX_BYTES_POLICY)
    except JsonFileError as exc:  # missing, unreadable, too big, too deep, not JSON
        return _lockdown(path, str(exc))
    if not isinstance(raw, dict):
        return _lockdown(path, f"{path} must hold a JSON object {{...}}")
    return parse_policy(raw, path)


def parse_policy(raw: Mapping[str, Any], path: Path) -> Policy:
    reader = _Reader(raw, path)
    values = {
        "allowed_models": reader.allowed_models(),
        "model_dirs": reader.model_dirs(),
        "downloads_allowed": reader.downloads_allowed(),
        "hub_endpoint": reader.url("hub_endpoint", ("http", "https")),
        "proxy": reader.url("proxy", _PROXY_SCHEMES),
        "ca_bundle": reader.absolute_path("ca_bundle"),
        "default_preset": reader.preset_id(),
        "presets_dir": reader.absolute_path("presets_dir"),
        "locked_settings": reader.locked_settings(),
        **reader.api_keys(),
        "escalation": reader.escalation(),
        **reader.documents_keys(),
    }
    reader.check_version_and_keys()
    if reader.network_broken:
        values["downloads_allowed"] = False
        reader.sources["downloads_allowed"] = RESTRICTED_SOURCE
    if reader.problems:
        for key, restrictive in (("allowed_models", ()), ("downloads_allowed", False),
                                 ("api_enabled", False), ("documents_enabled", False)):
            if key not in raw:
                values[key] = restrictive
                reader.sources[key] = RESTRICTED_SOURCE
    return Policy(**values, file=path, problems=tuple(reader.problems),
                  sources=dict(reader.sources))


def _lockdown(path: Path, problem: str) -> Policy:
    sources = {"allowed_models": RESTRICTED_SOURCE, "downloads_allowed": RESTRICTED_SOURCE}
    return Policy(allowed_models=(), downloads_allowed=False, file=path,
                  problems=(f"{problem}; until it is fixed no model can be loaded and "
                            "downloads are off",), sources=sources)


class _Reader:
    def __init__(self, raw: Mapping[str, Any], path: Path) -> None:
        self.raw, self.path = raw, path
        self.problems: list[str] = []
        self.sources: dict[str, str] = {}
        self.network_broken = False  # a bad endpoint, proxy or CA turns downloads off

    def _problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}, key '{key}': {message}")

    def _present(self, key: str) -> bool:
        if key in self.raw:
            self.sources[key] = str(self.path)
            return True
        return False

    def check_version_and_keys(self) -> None:
        version = self.raw.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            self._problem("version", f"this Scalpel reads policy version {FORMAT_VERSION}, "
                          f"not {version!r}")
        for key in self.raw:
            if key not in KEYS:
                self._problem(key, "unknown key; known keys are " + ", ".join(KEYS[1:]))

    def allowed_models(self) -> tuple[str, ...] | None:
        if not self._present("allowed_models"):
            return None
        value = self.raw["allowed_models"]
        if not isinstance(value, list):
            self._problem("allowed_models", "must be a list of catalog ids and "
                          "\"sha256:<64 hex digits>\"; no model is allowed until it is fixed")
            self.sources["allowed_models"] = RESTRICTED_SOURCE
            return ()
        allowed: list[str] = []
        for item in value:
            text = item.strip() if isinstance(item, str) else ""
            if (match := _SHA256.match(text)):
                allowed.append("sha256:" + match.group(1).lower())
            elif _CATALOG_ID.match(text):
                allowed.append(text)
            else:
                self._problem("allowed_models", f"{item!r} is neither a catalog id nor "
                              "\"sha256:<64 hex digits>\"; it was left out")
        return tuple(allowed)

    def model_dirs(self) -> tuple[Path, ...]:
        if not self._present("model_dirs"):
            return ()
        value = self.raw["model_dirs"]
        items = value if isinstance(value, list) else []
        if not isinstance(value, list):
            self._problem("model_dirs", "must be a list of absolute folder paths")
        dirs = []
        for item in items:
            if isinstance(item, str) and _is_absolute(item):
                dirs.append(Path(item))
            else:
                self._problem("model_dirs", f"{item!r} is not an absolute folder path; "
                              "it was left out")
        return tuple(dirs)

    def downloads_allowed(self) -> bool:
        if not self._present("downloads_allowed"):
            return True
        value = self.raw["downloads_allowed"]
        if isinstance(value, bool):
            return value
        self._problem("downloads_allowed", f"must be true or false, not {value!r}; "
                      "downloads are off until it is fixed")
        self.sources["downloads_allowed"] = RESTRICTED_SOURCE
        return False

    def url(self, key: str, schemes: tuple[str, ...]) -> str | None:
        if not self._present(key):
            return None
        value = self.raw[key]
        if value is None:
            return None
        parsed = urlparse(value) if isinstance(value, str) else None
        if parsed is None or parsed.scheme not in schemes or not parsed.netloc:
            self._problem(key, f"{value!r} is not a {'/'.join(schemes)} URL; downloads are off "
                          "until it is fixed")
            self.network_broken = True
            return None
        return value.rstrip("/")

    def absolute_path(self, key: str) -> Path | None:
        if not self._present(key):
            return None
        value = self.raw[key]
        if value is None:
            return None
        if isinstance(value, str) and _is_absolute(value):
            return Path(value)
        self._problem(key, f"{value!r} is not an absolute path")
        if key == "ca_bundle":
            self.network_broken = True
        return None

    def preset_id(self) -> str | None:
        if not self._present("default_preset"):
            return None
        value = self.raw["default_preset"]
        if value is None or (isinstance(value, str) and _CATALOG_ID.match(value)):
            return value
        self._problem("default_preset", f"{value!r} is not a preset id (like \"code\")")
        return None

    def locked_settings(self) -> dict[str, Any]:
        if not self._present("locked_settings"):
            return {}
        value = self.raw["locked_settings"]
        if not isinstance(value, dict):
            self._problem("locked_settings", "must be an object like {\"n_threads\": 4}")
            return {}
        locked: dict[str, Any] = {}
        for name, setting in value.items():
            rule = LOCKABLE_SETTINGS.get(name)
            if rule is None:
                self._problem("locked_settings", f"'{name}' cannot be locked; lockable "
                              "settings are " + ", ".join(LOCKABLE_SETTINGS))
            elif not rule[1](setting):
                self._problem("locked_settings", f"'{name}' must be {rule[0]}, "
                              f"not {setting!r}")
            else:
                locked[name] = setting
        return locked

    def api_keys(self) -> dict[str, Any]:
        """The local API's keys (core/api): on/off, listening addresses, web origins."""
        from ..api.origins import interface_problem, normalize_origin

        values: dict[str, Any] = {}
        if self._present("api_enabled"):
            value = self.raw["api_enabled"]
            values["api_enabled"] = value if isinstance(value, bool) else False
            if not isinstance(value, bool):
                self._problem("api_enabled", f"must be true or false, not {value!r}; "
                              "the local API is off until it is fixed")
                self.sources["api_enabled"] = RESTRICTED_SOURCE
        for key, check, example in (
                ("api_interfaces", lambda v: v if interface_problem(v) is None else None,
                 "IP addresses such as \"192.168.1.20\""),
                ("api_origins", normalize_origin, "origins such as \"https://notes.example\"")):
            if not self._present(key):
                continue
            items = self.raw[key]
            if not isinstance(items, list):
                self._problem(key, f"must be a list of {example}; only loopback is used "
                              "until it is fixed" if key == "api_interfaces" else
                              f"must be a list of {example}; no origin is allowed until "
                              "it is fixed")
                items = []
            kept = []
            for item in items:
                if (good := check(item)) is None:
                    self._problem(key, f"{item!r} is not one of {example}; it was left out")
                else:
                    kept.append(good)
            values[key] = tuple(kept)
        return values

    def escalation(self) -> Any:
        """Escalation to the bigger model (core/escalation), locked; a bad object turns
        escalation off (still locked) until it is fixed."""
        from ..escalation.config import EscalationConfig, EscalationConfigError

        if not self._present("escalation"):
            return None
        try:
            return EscalationConfig.from_dict(self.raw["escalation"], source="policy",
                                              locked=True)
        except EscalationConfigError as exc:
            self._problem("escalation", f"{exc}; escalation is off until it is fixed")
            self.sources["escalation"] = RESTRICTED_SOURCE
            return EscalationConfig(source="policy", locked=True)

    def documents_keys(self) -> dict[str, Any]:
        """Your own documents (core/documents): on/off, and the folders they may come from."""
        values: dict[str, Any] = {}
        if self._present("documents_enabled"):
            value = self.raw["documents_enabled"]
            values["documents_enabled"] = value if isinstance(value, bool) else False
            if not isinstance(value, bool):
                self._problem("documents_enabled", f"must be true or false, not {value!r}; "
                              "documents are off until it is fixed")
                self.sources["documents_enabled"] = RESTRICTED_SOURCE
        if self._present("documents_folders"):
            items = self.raw["documents_folders"]
            if items is not None and not isinstance(items, list):
                self._problem("documents_folders", "must be a list of absolute folder paths; "
                              "no folder is allowed until it is fixed")
                items = []
            kept = []
            for item in items or []:
                if isinstance(item, str) and _is_absolute(item):
                    kept.append(Path(item))
                else:
                    self._problem("documents_folders", f"{item!r} is not an absolute folder "
                                  "path; it was left out")
            values["documents_folders"] = None if items is None else tuple(kept)
        return values


def _is_absolute(text: str) -> bool:
    """Absolute on any OS (the same file may be checked on another machine)."""
    return (text.startswith("/") or text.startswith("\\\\")
            or bool(re.match(r"^[A-Za-z]:[\\/]", text)))
