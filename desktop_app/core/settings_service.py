"""The one way a setting changes while Scalpel runs: validated, saved, announced.

``SettingsService.update(**changes)`` checks every new value against its rule
(``settings.RULES``) and refuses a setting the organization's policy locks;
either refusal changes nothing. Then the values go into the shared
:class:`Settings` object, the file is written atomically (``SettingsStore.save``:
temp file + ``os.replace``), and subscribers hear which settings changed. A
file that cannot be written raises :class:`SettingsSaveError`, after the change
is applied and announced: it holds until Scalpel closes.

Callers handle one error type, ``ConfigError``: log it, and show ``str(error)``
when the person asked for the change.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any, Callable

from .errors import InvalidSettingError, SettingLockedError, SettingsSaveError
from .listeners import Listeners
from .settings import RULES, Settings, SettingsStore

log = logging.getLogger(__name__)

Listener = Callable[[frozenset[str]], None]


class SettingsService:
    def __init__(self, store: SettingsStore, settings: Settings, *,
                 policy_file: Path | None = None) -> None:
        """``settings`` is the object the process reads (changed in place); the store's
        ``locked`` names the settings the policy at ``policy_file`` locks."""
        self.store = store
        self.settings = settings
        self._policy_file = policy_file
        self._lock = threading.Lock()
        self._listeners: Listeners[Listener] = Listeners("settings")

    def update(self, **changes: Any) -> frozenset[str]:
        """Apply, save and announce ``changes``; returns the names whose value changed.

        Raises InvalidSettingError or SettingLockedError (nothing changed), or
        SettingsSaveError (changed for this run, not saved).
        """
        values = {name: self._checked(name, value) for name, value in changes.items()}
        with self._lock:
            changed = {name: value for name, value in values.items()
                       if getattr(self.settings, name) != value}
            for name, value in changed.items():
                setattr(self.settings, name, value)
            failure = None
            if changed:
                try:
                    self.store.save(self.settings)
                except OSError as exc:
                    failure = SettingsSaveError(
                        f"could not save your settings to {self.store.path} "
                        f"({exc.strerror or exc}); the change applies until Scalpel closes")
        names = frozenset(changed)
        if names:
            self._notify(names)
        if failure is not None:
            raise failure
        return names

    def _checked(self, name: str, value: Any) -> Any:
        rule = RULES.get(name)
        if rule is None:
            raise InvalidSettingError(f"there is no setting called '{name}'")
        if name in self.store.locked:
            where = f" ({self._policy_file})" if self._policy_file else ""
            raise SettingLockedError(f"'{name}' is set by your organization's policy{where} "
                                     "and cannot be changed here")
        if not rule.accepts(value):
            raise InvalidSettingError(f"'{name}' must be {rule.describe()}, not {_shown(value)}")
        if rule.kind is float and value is not None:
            return float(value)
        return list(value) if isinstance(value, list) else value

    # -- subscribers --------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(names)`` after each change (on the changing thread); returns an
        unsubscribe function."""
        return self._listeners.add(listener)

    def _notify(self, names: frozenset[str]) -> None:
        self._listeners.notify(names)


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
