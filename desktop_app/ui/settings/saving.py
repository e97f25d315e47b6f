"""Reading and saving the values the settings window edits, through the settings service.

Every setting core knows (``core.settings.RULES``) goes through
``Services.update_settings``: checked by the same rule, refused if the policy locks it,
written atomically (temp file + ``os.replace``) and announced to the window, which
applies what it can at once. The theme is not a core setting yet: it is kept among the
file's other keys (``Settings.extra``, which ``SettingsStore`` writes back untouched) and
checked by a ``Rule`` of the same kind, until core gives it a field of its own.
"""

from __future__ import annotations

import re
from typing import Any

from ...core.errors import SettingsSaveError
from ...core.services import Services
from ...core.settings import RULES, Rule

# Settings the window keeps until core has them (then RULES' own rule and field win).
WINDOW_RULES: dict[str, Rule] = {
    "theme": Rule(str, pattern=re.compile(r"system|light|dark"),
                  meaning='"system", "light" or "dark"'),
}
WINDOW_DEFAULTS: dict[str, Any] = {"theme": "system"}


def rule_for(key: str) -> Rule:
    return RULES.get(key) or WINDOW_RULES[key]


def current(services: Services, key: str) -> Any:
    """The value in use (a locked one included)."""
    if key in RULES:
        return getattr(services.settings, key, None)
    return services.settings.extra.get(key, WINDOW_DEFAULTS.get(key))


def locked_where(services: Services, key: str) -> str | None:
    """None when the person may change ``key``; else the policy file that sets it ("" if
    unknown)."""
    if key not in services.settings_store.locked:
        return None
    return str(services.policy.file) if services.policy.file else ""


def save(services: Services, changes: dict[str, Any]) -> frozenset[str]:
    """Save ``changes``; the names that changed. Raises the service's ConfigError."""
    core = {key: value for key, value in changes.items() if key in RULES}
    window = {key: value for key, value in changes.items() if key not in RULES}
    for key, value in window.items():
        if not WINDOW_RULES[key].accepts(value):
            raise ValueError(f"{key} must be {WINDOW_RULES[key].describe()}")
    changed_window = {key for key, value in window.items()
                      if services.settings.extra.get(key, WINDOW_DEFAULTS.get(key)) != value}
    for key in changed_window:
        services.settings.extra[key] = window[key]
    names = services.update_settings(**core) if core else frozenset()
    if changed_window and not names:  # nothing core changed, so nothing wrote the file yet
        try:
            services.settings_store.save(services.settings)
        except OSError as exc:
            raise SettingsSaveError(
                f"could not save your settings to {services.settings_store.path} "
                f"({exc.strerror or exc}); the change applies until Scalpel closes") from exc
    return names | frozenset(changed_window)
