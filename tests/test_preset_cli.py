"""``scalpel presets`` and ``scalpel chat --preset``, run as real processes."""

from __future__ import annotations

import json

from test_cli import text


def test_presets_list_shows_every_builtin(scalpel):
    result = scalpel("presets", "list")
    out, err = text(result)
    assert result.returncode == 0, err
    ids = [line.split()[0] for line in out.splitlines()]
    assert ids == ["auto", "general", "code", "summarize", "translate", "email", "json",
                   "brainstorm"]
    assert "Extract to JSON" in out and "[smollm2-135m-instruct]" in out
    rows = json.loads(scalpel("presets", "list", "--json").stdout)
    assert {row["id"]: row["json_output"] for row in rows}["json"] is True


def test_presets_show_says_what_is_sent(scalpel):
    result = scalpel("presets", "show", "Extract to JSON")
    out, err = text(result)
    assert result.returncode == 0, err
    assert "system prompt:  You extract facts" in out
    assert "temperature 0.0" in out and "max tokens:     1536" in out
    assert "best choice not installed: Qwen2.5 1.5B Instruct" in out
    data = json.loads(scalpel("presets", "show", "json", "--json").stdout)
    assert data["grammar"].startswith("root ::=") or "root ::=" in data["grammar"]
    assert data["input_template"] == "Text:\n{input}"


def test_chat_with_the_json_preset_prints_json(smollm2_path, scalpel):
    result = scalpel("chat", "--preset", "json", "--json",
                     "Tom Baker opened a bakery in Leeds in 1999 with 5,000 pounds.")
    out, err = text(result)
    assert result.returncode == 0, err
    answer, stats = out.strip().splitlines()[0], json.loads(out.strip().splitlines()[-1])
    assert set(json.loads(answer)) >= {"title", "people", "places", "amounts"}
    assert stats["preset"] == "json" and stats["model"] == "smollm2-135m-instruct"
    assert "works best with Qwen2.5 1.5B Instruct" in err  # says which model answers instead


def test_flags_override_the_preset_and_a_missing_preset_is_named(smollm2_path, scalpel):
    result = scalpel("chat", "--preset", "brainstorm", "--max-tokens", "5", "--json", "Names")
    stats = json.loads(text(result)[0].strip().splitlines()[-1])
    assert result.returncode == 0 and stats["completion_tokens"] <= 5
    missing = scalpel("chat", "--preset", "poetry", "hi")
    assert missing.returncode == 1
    assert "no preset 'poetry'; known presets: auto, general, code" in text(missing)[1]


def test_a_broken_user_preset_is_reported_and_the_rest_listed(scalpel_home, scalpel):
    presets = scalpel_home / "config" / "presets"
    presets.mkdir(parents=True)
    (presets / "broken.json").write_text('{"id": "broken", "name": "B", "max_tokens": "lots"}')
    (presets / "legal.json").write_text('{"id": "legal", "name": "Legal review"}')
    result = scalpel("presets", "list")
    out, err = text(result)
    assert result.returncode == 0
    assert "legal" in out and "broken" not in out
    assert "broken.json" in err and "field 'max_tokens'" in err and "whole number" in err


def test_presets_shipped_machine_wide_are_listed_and_read_only(tmp_path, monkeypatch, scalpel):
    shipped = tmp_path / "etc-scalpel" / "presets"
    shipped.mkdir(parents=True)
    (shipped / "legal.json").write_text('{"id": "legal", "name": "Legal review", '
                                        '"system_prompt": "Review contracts."}')
    monkeypatch.setenv("SCALPEL_SYSTEM_CONFIG", str(tmp_path / "etc-scalpel"))
    out = scalpel("presets", "show", "legal").stdout
    assert "Legal review (legal, read-only, shipped in" in out and "Review contracts." in out
    doctor = json.loads(scalpel("doctor", "--json").stdout)
    assert str(tmp_path / "etc-scalpel") in json.dumps(doctor)
