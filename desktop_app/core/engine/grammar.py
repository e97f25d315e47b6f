"""A preset's JSON schema turned into a llama.cpp grammar, in the engine's process.

The window sends the schema as JSON text (``GenerationParams.json_schema``);
only here, beside llama.cpp, does it become GBNF, with llama.cpp's own
converter. The schema was already checked in Python (``core/schema_check.py``)
when its preset was read; a converter failure is still reported as a preset
error naming the field.
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import PresetError
from .types import GenerationParams


@lru_cache(maxsize=32)
def schema_to_grammar(schema_json: str) -> str:
    """llama.cpp's own JSON-schema-to-GBNF converter (as shipped in llama-cpp-python).

    Object properties keep the schema's order: models fill a title before the
    details better than the alphabetical order would have them.
    """
    from .llama_api import schema_to_gbnf

    try:
        return schema_to_gbnf(schema_json)
    except Exception as exc:  # noqa: BLE001 - the converter raises bare exceptions
        raise PresetError(f"the JSON schema cannot be turned into a grammar: {exc}",
                          field="output.json_schema") from exc


def grammar_for(params: GenerationParams) -> str | None:
    """The GBNF a reply must match: given as such, or made from its JSON schema."""
    if params.grammar:
        return params.grammar
    if params.json_schema:
        return schema_to_grammar(params.json_schema)
    return None
