"""What the engine reads for a stored chat branch, and chat titles."""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.conversation import engine_history, title_from
from desktop_app.core.presets import Preset


@dataclass
class Turn:
    role: str
    content: str
    preset_id: str | None = None


def test_user_messages_are_wrapped_in_the_template_they_were_sent_with():
    presets = {"sum": Preset(id="sum", name="Sum", input_template="Summarize:\n{input}")}
    path = [Turn("user", "a {b} text", "sum"), Turn("assistant", "short"),
            Turn("user", "plain", None), Turn("assistant", "", None),  # interrupted, no text
            Turn("user", "gone preset", "deleted")]
    history = engine_history(path, preset_for=presets.get)
    assert history == [
        {"role": "user", "content": "Summarize:\na {b} text"},
        {"role": "assistant", "content": "short"},
        {"role": "user", "content": "plain"},
        {"role": "user", "content": "gone preset"},
    ]


def test_titles_come_from_the_first_line_cut_at_a_word():
    assert title_from("  \n  Plan a trip to Lisbon\nwith kids") == "Plan a trip to Lisbon"
    long = title_from("Explain how the transformer attention mechanism works in detail please")
    assert long.endswith("…") and len(long) <= 49 and " " in long
    assert title_from("   ") == "New chat"
