"""``POST /v1/embeddings``: the request checked field by field, and OpenAI's answer shape.

``input`` is one text or a list of texts (token arrays are refused: this server embeds
text). ``encoding_format`` is "float" (lists of numbers) or "base64" (little-endian
float32, what the ``openai`` Python client asks for by default and decodes itself).
``dimensions`` is refused unless it is the model's own size: vectors are never cut.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

MAX_INPUTS = 2048          # texts per request, as OpenAI's API allows
MAX_TEXT_CHARS = 100_000   # per text (longer ones are cut by the engine's context anyway)


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str
    texts: tuple[str, ...]
    encoding_format: str = "float"
    dimensions: int | None = None


def parse_embedding_request(body: Any) -> EmbeddingRequest:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object with 'model' and 'input'.")
    model = body.get("model", "")
    if not isinstance(model, str):
        raise bad_request("'model' must be text: a model id from GET /v1/models.", "model")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts:
        raise bad_request("'input' must be a text or a non-empty list of texts.", "input")
    if not all(isinstance(t, str) for t in texts):
        raise bad_request("'input' must hold texts; token arrays are not accepted here, "
                          "send the text itself.", "input")
    if len(texts) > MAX_INPUTS:
        raise bad_request(f"'input' holds {len(texts)} texts; send at most {MAX_INPUTS} "
                          "per request.", "input")
    for index, text in enumerate(texts):
        if len(text) > MAX_TEXT_CHARS:
            raise bad_request(f"input[{index}] is {len(text):,} characters long; the limit "
                              f"is {MAX_TEXT_CHARS:,}.", f"input[{index}]")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise bad_request("'encoding_format' must be \"float\" or \"base64\".",
                          "encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool)
                                   or not isinstance(dimensions, int) or dimensions < 1):
        raise bad_request("'dimensions' must be a positive whole number.", "dimensions")
    return EmbeddingRequest(model, tuple(texts), encoding, dimensions)


def embedding_response(request: EmbeddingRequest, model_id: str,
                       vectors: list[list[float]]) -> dict[str, Any]:
    """OpenAI's list of embeddings (no ``usage``: the engine does not report tokens)."""
    if request.dimensions is not None and vectors and request.dimensions != len(vectors[0]):
        raise bad_request(f"{model_id} makes vectors of {len(vectors[0])} dimensions; "
                          f"'dimensions' {request.dimensions} cannot be honoured (leave it "
                          "out).", "dimensions")
    data = [{"object": "embedding", "index": index, "embedding": _encoded(vector,
                                                                          request.encoding_format)}
            for index, vector in enumerate(vectors)]
    return {"object": "list", "data": data, "model": model_id}


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector
