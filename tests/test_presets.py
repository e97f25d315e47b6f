"""Task presets: files, validation, what they send, and the model a task picks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_app.core.catalog import load_catalog
from desktop_app.core.errors import PresetError
from desktop_app.core.models import ModelRef
from desktop_app.core.preset_store import BUILTIN_ORDER, PresetStore
from desktop_app.core.presets import Preset, preset_from_dict
from desktop_app.core.resources import resource_path
from desktop_app.core.task_models import choose_model_for

JSON_INPUTS = [
    "Alice Martin met Bob Chen from Acme Corp in Paris on 3 March 2024 to sign a $2 million deal.",
    "The city council of Lyon approved a budget of 12 million euros on Tuesday.",
    "hello",
    "Dr. Priya Nair of the WHO spoke in Geneva and Nairobi during June; the fund grew 5%.",
    'Quotes "inside" and braces {like this} and a backslash \\ should not break anything.',
]


@pytest.fixture
def store(tmp_path) -> PresetStore:
    return PresetStore(builtin_dir=resource_path("presets"), user_dir=tmp_path / "presets")


def write_preset(directory: Path, name: str, data) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_builtin_presets_load_in_order_without_problems(store):
    presets = store.list()
    assert [p.id for p in presets] == list(BUILTIN_ORDER)
    assert store.problems == []
    assert all(p.builtin and p.system_prompt and p.description for p in presets)
    catalog = load_catalog()
    for preset in presets:  # every preferred model exists in the catalog
        assert all(catalog.get(model_id) for model_id in preset.preferred_models), preset.id
    names = {p.name for p in presets}
    assert {"General chat", "Code assistant", "Summarize", "Translate", "Write email",
            "Extract to JSON", "Brainstorm"} <= names


def test_json_preset_sends_its_schema_and_the_engine_makes_the_grammar(store):
    """The window sends the schema as JSON; the grammar is made beside llama.cpp."""
    preset = store.find("Extract to JSON")
    params = preset.generation_params()
    assert params.grammar is None and json.loads(params.json_schema) == preset.json_schema
    from desktop_app.core.engine.grammar import grammar_for

    grammar = grammar_for(params)
    assert grammar and "root ::=" in grammar and '"\\"people\\""' in grammar
    assert store.get("general").generation_params().json_schema is None


@pytest.mark.parametrize("schema, problem", [
    ({"type": "thing"}, "unknown type 'thing'"),
    ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, "points at nothing"),
    ({"$ref": "https://example.com/schema.json"}, "only references inside the schema"),
    ({"type": "string", "pattern": "[a-z]+"}, 'starts with "^"'),
    ({"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integr"}}}},
     "items.properties.n"),
])
def test_a_schema_llama_cpp_cannot_enforce_is_refused_in_python(schema, problem):
    from desktop_app.core.schema_check import schema_problem

    assert problem in (schema_problem(schema) or "")
    with pytest.raises(PresetError) as refused:
        preset_from_dict({"id": "x", "name": "X", "output": {"json_schema": schema}}, file="x.json")
    assert refused.value.field == "output.json_schema"


def test_every_built_in_schema_passes_the_python_check_and_converts(store):
    from desktop_app.core.engine.grammar import schema_to_grammar
    from desktop_app.core.schema_check import schema_problem

    for preset in store.list():
        if preset.json_schema is not None:
            assert schema_problem(preset.json_schema) is None
            assert "root ::=" in schema_to_grammar(json.dumps(preset.json_schema))


def test_input_template_is_filled_literally(store):
    summarize = store.get("summarize")
    text = "a {b} {input} c\\n"
    assert summarize.user_content(text) == "Summarize this text:\n\n" + text
    assert store.get("general").user_content(text) == text


def test_messages_start_with_the_system_prompt(store):
    history = [{"role": "user", "content": "hi"}]
    code = store.get("code")
    assert code.messages(history) == [{"role": "system", "content": code.system_prompt}, *history]
    assert Preset(id="bare", name="Bare").messages(history) == history


def test_generation_params_carry_the_sampling(store):
    code, brainstorm = store.get("code").generation_params(), store.get("brainstorm").generation_params()
    assert (code.temperature, code.top_p, code.repeat_penalty) == (0.2, 0.9, 1.05)
    assert (brainstorm.temperature, brainstorm.repeat_penalty) == (1.0, 1.1)
    assert store.get("json").generation_params().seed == 0


@pytest.mark.parametrize("content, field, words", [
    ('{"id": "x", "name": "X",', None, "not valid JSON (line 1"),
    ({"id": "x"}, "name", "is missing"),
    ({"id": "Bad Id", "name": "X"}, "id", "lowercase"),
    ({"id": "x", "name": "X", "sampling": {"temperature": "hot"}}, "sampling.temperature",
     "must be a number"),
    ({"id": "x", "name": "X", "sampling": {"top_p": 3}}, "sampling.top_p", "between 0 and 1"),
    ({"id": "x", "name": "X", "input_template": "no placeholder"}, "input_template", "{input}"),
    ({"id": "x", "name": "X", "max_tokens": 0}, "max_tokens", "between 1"),
    ({"id": "x", "name": "X", "preferred_models": "qwen"}, "preferred_models", "a list"),
    ({"id": "x", "name": "X", "output": {"json_schema": []}}, "output.json_schema", "JSON object"),
    ([1, 2], None, "JSON object"),
])
def test_a_bad_preset_file_is_reported_and_the_rest_still_load(store, tmp_path, content,
                                                                field, words):
    path = write_preset(store.user_dir, "broken.json", content)
    write_preset(store.user_dir, "mine.json", {"id": "mine", "name": "Mine"})
    store.reload()
    assert len(store.problems) == 1
    problem = store.problems[0]
    assert str(path) in problem and words in problem
    if field:
        assert f"field '{field}'" in problem
    assert store.get("mine") is not None and len(store.list()) == len(BUILTIN_ORDER) + 1


def test_the_id_must_match_the_file_name(store):
    write_preset(store.user_dir, "foo.json", {"id": "bar", "name": "Bar"})
    store.reload()
    assert store.get("bar") is None and "name the file bar.json" in store.problems[0]


def test_new_ids_never_overwrite_an_unreadable_file(store):
    broken = write_preset(store.user_dir, "code-assistant-copy.json", "{not json")
    store.reload()
    copy = store.duplicate("code")
    assert copy.id == "code-assistant-copy-2" and broken.read_text() == "{not json"


def test_saving_a_fixed_file_clears_its_problem(store):
    write_preset(store.user_dir, "mine.json", {"id": "mine", "name": "M", "max_tokens": 0})
    store.reload()
    assert store.problems
    store.save(Preset(id="mine", name="Mine"))
    assert store.problems == [] and store.get("mine").name == "Mine"


def test_presets_are_hashable_even_with_a_schema(store):
    assert len({store.get("json"), store.get("general")}) == 2


def test_newer_format_is_refused_with_a_reason():
    with pytest.raises(PresetError, match="newer Scalpel"):
        preset_from_dict({"format": 99, "id": "x", "name": "X"}, file="x.json")


def test_save_duplicate_and_delete_user_presets(store):
    copy = store.duplicate("code")
    assert not copy.builtin and copy.id == "code-assistant-copy"
    on_disk = json.loads((store.user_dir / "code-assistant-copy.json").read_text())
    assert on_disk["system_prompt"] == store.get("code").system_prompt
    edited = store.save(copy.with_changes(system_prompt="Only Rust.", name="Rust helper"))
    assert PresetStore(builtin_dir=resource_path("presets"),
                       user_dir=store.user_dir).get(edited.id).system_prompt == "Only Rust."
    store.delete(edited.id)
    assert store.get(edited.id) is None and not (store.user_dir / f"{edited.id}.json").exists()


def test_builtins_are_read_only(store):
    with pytest.raises(PresetError, match="read-only"):
        store.save(store.get("json").with_changes(system_prompt="x"))
    with pytest.raises(PresetError, match="not yours to delete"):
        store.delete("json")


def test_a_schema_llama_cpp_cannot_use_is_refused_on_save(store):
    bad = Preset(id="bad-schema", name="Bad", json_schema={"type": "object", "$ref": "#/nope"})
    with pytest.raises(PresetError, match="output.json_schema"):
        store.save(bad)
    assert not (store.user_dir / "bad-schema.json").exists()


def test_it_shipped_directory_is_read_only_and_overrides_by_id(tmp_path):
    shipped = tmp_path / "shipped"
    write_preset(shipped, "legal.json", {"id": "legal", "name": "Legal review"})
    store = PresetStore(builtin_dir=resource_path("presets"), user_dir=tmp_path / "mine",
                        extra_dirs=[shipped])
    assert store.get("legal").builtin
    with pytest.raises(PresetError):
        store.delete("legal")


def test_find_by_id_or_name(store):
    assert store.find("JSON").id == "json"
    assert store.find("extract to json").id == "json"
    with pytest.raises(PresetError, match="known presets: auto, general, code"):
        store.find("poetry")


def _ref(model_id: str, tmp_path: Path) -> ModelRef:
    return ModelRef(model_id, model_id.title(), tmp_path / f"{model_id}.gguf", "library")


def test_model_choice_prefers_the_first_installed_and_offers_the_best(tmp_path):
    catalog = load_catalog()
    preset = Preset(id="t", name="T", preferred_models=(
        "qwen2.5-coder-1.5b-instruct", "qwen2.5-1.5b-instruct", "smollm2-135m-instruct"))
    installed = [_ref("smollm2-135m-instruct", tmp_path), _ref("qwen2.5-1.5b-instruct", tmp_path)]
    choice = choose_model_for(preset, installed, catalog)
    assert choice.ref.id == "qwen2.5-1.5b-instruct"
    assert choice.missing.id == "qwen2.5-coder-1.5b-instruct"
    nothing = choose_model_for(preset, [_ref("other", tmp_path)], catalog)
    assert nothing.ref is None and not nothing.installed_preferred
    free = choose_model_for(Preset(id="f", name="F"), installed, catalog)
    assert free.ref is None and free.missing is None


def test_model_choice_accepts_a_file_path(tmp_path, smollm2_path):
    preset = Preset(id="p", name="P", preferred_models=(str(smollm2_path),))
    choice = choose_model_for(preset, [], load_catalog())
    assert choice.ref.path == smollm2_path and choice.missing is None


# -- with the real model --------------------------------------------------------------
def test_json_preset_returns_parseable_json_for_varied_inputs(engine, store):
    preset = store.get("json")
    params = preset.generation_params()
    for text in JSON_INPUTS:
        history = [{"role": "user", "content": preset.user_content(text)}]
        events = list(engine.generate(preset.messages(history), params))
        finished = events[-1]
        assert finished.reason == "stop", (text, finished.reason)
        data = json.loads(finished.text)
        assert set(data) == {"title", "summary", "people", "organizations", "places",
                             "dates", "amounts"}
        assert all(isinstance(data[key], list) for key in ("people", "places", "dates"))


def test_presets_change_the_prompt_the_model_gets(engine, store):
    history = [{"role": "user", "content": "Sort a list"}]
    code, email = store.get("code"), store.get("email")
    code_prompt = engine.render_prompt(code.messages(history)).text
    email_prompt = engine.render_prompt(
        email.messages([{"role": "user", "content": email.user_content("Sort a list")}])).text
    assert code.system_prompt in code_prompt and email.system_prompt not in code_prompt
    assert email.system_prompt in email_prompt and "Write an email from these notes" in email_prompt
