"""General: the theme, the interface's language, and what Auto and the notices do."""

from __future__ import annotations

from pathlib import Path

from ...core.resources import resource_path
from . import saving
from .fields import NOW, ChoiceField
from .page import SettingsPage, info
from .theme import THEME_LABELS, THEMES, apply_theme

AUTO_TEXT = (
    "Auto is a task in the task box. With it, Scalpel picks the task for each message "
    "(code, summaries, translations, email, JSON, ideas or everyday chat) from what the "
    "message looks like, and answers with that task's model when it is installed (the "
    "current model otherwise). A line above each answer says which task and model answered "
    "and why. Choosing any other task turns Auto off until you choose it again.")
NOTICES_TEXT = (
    "Notices appear above the chat when Scalpel did something you did not ask for "
    "directly: a task prefers a model that is not installed (with Download and Keep "
    "buttons; answers come from the current model meanwhile), or a task replaced the model "
    "you had chosen by hand. They stay until you act on them or choose another task. "
    "Problems (a model that would not load, a file that could not be saved) appear in a "
    "red bar instead.")


def translations_available() -> list[str]:
    """Languages Scalpel's own interface is translated into (.qm files it ships)."""
    folder = Path(resource_path("translations"))
    return sorted(p.stem for p in folder.glob("*.qm")) if folder.is_dir() else []


class GeneralPage(SettingsPage):
    title = "General"

    def __init__(self, services, **options) -> None:
        super().__init__(services, **options)
        looks = self.section("Appearance")
        self.theme = self.add(looks, ChoiceField(
            "theme", "Theme", saving.rule_for("theme"),
            [(THEME_LABELS[name], name) for name in THEMES], applies=NOW))
        languages = translations_available()
        language = self.section("Language")
        language.addRow(info(
            "Interface languages: " + ", ".join(languages) if languages else
            "English only: Scalpel has no translations of its interface yet. Models answer "
            "in the language you write in, whatever this says."))
        auto = self.section("Auto")
        auto.addRow(info(AUTO_TEXT))
        notices = self.section("Notices")
        notices.addRow(info(NOTICES_TEXT))
        self.finish()

    def saved(self, names: frozenset[str]) -> None:
        if "theme" in names:
            apply_theme(saving.current(self.services, "theme"))
        super().saved(names)
