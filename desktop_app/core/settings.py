"""User settings stored as readable JSON in the config directory.

Unknown keys are kept on save so a newer Scalpel's settings survive an older
one. Every known key is checked against its :class:`Rule` (type, range, list
items) when the file is read; a value that breaks its rule is replaced by the
default, and ``SettingsStore.warning`` names each such key in one sentence the
UI shows. A file that cannot be used at all (not JSON, not an object, too big
or too deep, see ``json_files``) is moved aside with a ``.bad`` suffix and
defaults are used, with a warning.

Settings the organization's policy locks are laid over what the file says when
it is loaded, and the person's own values are written back untouched on save,
so they return if the lock is lifted.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Collection

from .errors import ConfigError
from .json_files import MAX_BYTES_SETTINGS, JsonFileError, read_json_file

log = logging.getLogger(__name__)

MAX_RECENT_MODELS = 10


@dataclass
class Settings:
    n_threads: int | None = None        # None: chosen by hardware.choose_threads
    n_ctx: int = 4096                   # capped by the model's trained context
    n_gpu_layers: int | None = None     # None: auto (what fits the GPU); 0: CPU only; -1: all
    flash_attn: bool | None = None      # None: auto (on when the model runs on the CPU)
    max_tokens: int = 1024
    temperature: float = 0.7
    keep_models_loaded: int = 1         # models kept open for instant switching (RAM allowing)
    last_preset: str | None = None
    last_chat_id: int | None = None
    window_geometry: str | None = None  # Qt's saveGeometry, base64
    splitter_sizes: list[int] = field(default_factory=list)
    last_model: str | None = None       # model id or path
    hub_endpoint: str | None = None     # an internal mirror; default: HF_ENDPOINT or the Hub
    hub_token: str | None = None        # for gated repos; default: HF_TOKEN / `hf auth login`
    recent_models: list[str] = field(default_factory=list)
    embedding_model: str | None = None  # model id or path for /v1/embeddings; None: detected
    escalation: dict[str, Any] | None = None  # core/escalation's object; the policy's wins
    last_folder: str | None = None      # where the last file dialog was (export, import, open)
    # The person's own network settings; the organization's policy, when it sets them, wins.
    proxy: str | None = None            # http(s)://host:port for downloads and the bigger model
    ca_bundle: str | None = None        # a PEM file of certificate authorities to trust
    downloads_enabled: bool = True      # the person's switch: False keeps Scalpel from the Hub
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def remember_model(self, path: str) -> None:
        """Put a model path first in the recent list (deduplicated, bounded)."""
        recent = [p for p in self.recent_models if p != path]
        self.recent_models = [path, *recent][:MAX_RECENT_MODELS]


@dataclass(frozen=True)
class Rule:
    """What one setting may hold: a JSON type, a range or pattern, and list items."""

    kind: type                           # int, float, str or list (bool is never a number)
    low: float | None = None
    high: float | None = None
    optional: bool = False               # null is allowed
    pattern: re.Pattern | None = None    # text must match it whole
    max_length: int = 4096               # text
    item: "Rule | None" = None           # every element of a list
    max_items: int | None = None
    meaning: str | None = None           # what a person is told it must be
    check: Callable[[Any], bool] | None = None  # a further test (an object's own rules)

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.check is not None and not (isinstance(value, self.kind) and self.check(value)):
            return False
        if isinstance(value, bool):
            return self.kind is bool
        if self.kind is float:
            if not isinstance(value, (int, float)):
                return False
        elif not isinstance(value, self.kind):
            return False
        if isinstance(value, str):
            return len(value) <= self.max_length and (
                self.pattern is None or self.pattern.fullmatch(value) is not None)
        if isinstance(value, list):
            return ((self.max_items is None or len(value) <= self.max_items)
                    and (self.item is None or all(self.item.accepts(v) for v in value)))
        return ((self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))  # NaN fails both

    def describe(self) -> str:
        if self.meaning:
            text = self.meaning
        elif self.kind in (int, float):
            noun = "a whole number" if self.kind is int else "a number"
            text = f"{noun} from {_number(self.low)} to {_number(self.high)}"
        else:
            text = {str: "text", list: "a list"}.get(self.kind, self.kind.__name__)
        return f"{text}, or null" if self.optional else text


_PRESET_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_PATH_TEXT = re.compile(r"\s*[^\s\x00][^\x00]*")          # not blank, no NUL byte
_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")
_HTTP_URL = re.compile(r"https?://[^\s/?#]+[^\s]*")
_TOKEN = re.compile(r"[!-~]+")                               # printable ASCII, no spaces


def _escalation_ok(value: Any) -> bool:
    from .escalation.config import settings_rule_check

    return settings_rule_check(value)


RULES: dict[str, Rule] = {
    "n_threads": Rule(int, 1, 512, optional=True,
                      meaning="a whole number of CPU threads from 1 to 512"),
    "n_ctx": Rule(int, 128, 1_048_576),
    "n_gpu_layers": Rule(int, -1, 100_000, optional=True,
                         meaning="a number of GPU layers (0 for none, -1 for all), "
                                 "or null for automatic"),
    "flash_attn": Rule(bool, optional=True,
                       meaning="true, false, or null for automatic (on when the model runs "
                               "on the CPU)"),
    "max_tokens": Rule(int, 1, 1_048_576),
    "temperature": Rule(float, 0.0, 5.0),
    "keep_models_loaded": Rule(int, 1, 8),
    "last_preset": Rule(str, optional=True, pattern=_PRESET_ID,
                        meaning='a preset id like "code"'),
    "last_chat_id": Rule(int, 1, 2**63 - 1, optional=True, meaning="a chat number"),
    "window_geometry": Rule(str, optional=True, pattern=_BASE64,
                            meaning="the window's saved position (base64 text)"),
    "splitter_sizes": Rule(list, item=Rule(int, 0, 100_000), max_items=8,
                           meaning="a list of up to 8 panel widths in pixels"),
    "last_model": Rule(str, optional=True, pattern=_PATH_TEXT,
                       meaning="a model id or file path"),
    "hub_endpoint": Rule(str, optional=True, pattern=_HTTP_URL,
                         meaning='an http(s) address like "https://huggingface.co"'),
    "hub_token": Rule(str, optional=True, pattern=_TOKEN,
                      meaning="a Hugging Face access token"),
    "recent_models": Rule(list, item=Rule(str, pattern=_PATH_TEXT),
                          max_items=MAX_RECENT_MODELS,
                          meaning=f"a list of up to {MAX_RECENT_MODELS} model file paths"),
    "embedding_model": Rule(str, optional=True, pattern=_PATH_TEXT,
                            meaning="an embedding model's id or file path"),
    "last_folder": Rule(str, optional=True, pattern=_PATH_TEXT,
                        meaning="a folder path"),
    "proxy": Rule(str, optional=True, pattern=_HTTP_URL,
                  meaning='a proxy address like "http://proxy.example:3128"'),
    "ca_bundle": Rule(str, optional=True, pattern=_PATH_TEXT, check=os.path.isabs,
                      meaning="the full path of a certificate bundle (PEM) file"),
    "downloads_enabled": Rule(bool, meaning="true or false"),
    "escalation": Rule(dict, optional=True, check=_escalation_ok,
                       meaning='an escalation object like {"mode": "ask", "endpoint": '
                               '"https://llm.example/v1", "model": "..."}'),
}


def checked_values(raw: dict[str, Any], *,
                   skip: Collection[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """The values of ``raw`` that pass their rule, and a phrase for each that does not.

    Keys in ``skip`` (locked by the policy, so never used) are left out silently.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, rule in RULES.items():
        if name not in raw or name in skip:
            continue
        value = raw[name]
        if rule.accepts(value):
            values[name] = float(value) if rule.kind is float and value is not None else value
        else:
            default = getattr(_DEFAULTS, name)
            problems.append(f"'{name}' must be {rule.describe()}, not {_shown(value)} "
                            f"(using {_shown(default)} instead)")
    return values, problems


def _number(value: float | None) -> str:
    return str(int(value)) if value is not None and value == int(value) else f"{value:g}"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


_KNOWN = {f.name for f in fields(Settings)} - {"extra"}
_DEFAULTS = Settings()


class SettingsStore:
    """Loads and saves :class:`Settings` at one path."""

    def __init__(self, path: Path, *, locked: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.locked = dict(locked or {})
        self.warning: str | None = None

    def load(self) -> Settings:
        settings = self._load_own()
        for name, value in self.locked.items():
            setattr(settings, name, value)
        return settings

    def _load_own(self) -> Settings:
        try:
            raw = self._read()
        except ConfigError as exc:
            return self._recover(str(exc))
        if raw is None:
            return Settings()
        values, problems = checked_values(raw, skip=self.locked)
        extra = {k: v for k, v in raw.items() if k not in _KNOWN}
        if problems:
            self.warning = f"{self.path}: " + "; ".join(problems) + "."
            log.warning(self.warning)
        return Settings(**values, extra=extra)

    def _read(self) -> dict[str, Any] | None:
        """The file's object, None when there is no file; ConfigError when it is unusable."""
        try:
            raw = read_json_file(self.path, max_bytes=MAX_BYTES_SETTINGS)
        except JsonFileError as exc:
            if exc.missing:
                return None
            raise ConfigError(f"settings file {exc.reason}") from exc
        if not isinstance(raw, dict):
            raise ConfigError("settings file does not hold a JSON object")
        return raw

    def save(self, settings: Settings) -> None:
        data = asdict(settings)
        extra = data.pop("extra")
        data = {**extra, **data}
        if self.locked:
            try:
                own = self._read() or {}
            except ConfigError as exc:
                self._recover(str(exc))
                own = {}
            data.update({name: own.get(name, getattr(_DEFAULTS, name))
                         for name in self.locked})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        # Only the person may read it: it can hold a Hugging Face token and a proxy's
        # password (0600 on POSIX; Windows keeps the profile folder's own access list).
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(json.dumps(data, indent=2) + "\n")
        os.chmod(tmp, 0o600)   # an older temp file keeps its mode through O_TRUNC
        os.replace(tmp, self.path)

    def _recover(self, reason: str) -> Settings:
        backup = self.path.with_suffix(".json.bad")
        try:
            os.replace(self.path, backup)
            self.warning = f"{reason}; defaults are in use and the old file is at {backup}"
        except OSError:
            self.warning = f"{reason}; defaults are in use"
        log.warning(self.warning)
        return Settings()
