"""A fake engine behind the engine contract: it answers by echoing, word by word.
``delay`` seconds pass before each word.

For fast tests of wiring (the session, the window's adapters); the contract
suite (test_engine_contract.py) holds it to the same rules as the real ones.
``gate`` (a threading.Event) holds each answer before its first word until set.
"""

from __future__ import annotations

import hashlib
import math
import threading
from pathlib import Path

from desktop_app.core.engine.contract import Generation, cancelled_before_start
from desktop_app.core.engine.types import (GenerationParams, LoadOptions, ModelInfo,
                                           ReplyFinished, ReplyStats, TextDelta)
from desktop_app.core.errors import ModelNotFoundError, NoModelLoadedError


class FakeEngine:
    def __init__(self, *, words: int = 5, delay: float = 0.0,
                 fail_with: Exception | None = None) -> None:
        self.model_info: ModelInfo | None = None
        self.keep_loaded = 1
        self.on_restart = None
        self.words, self.delay, self.fail_with = words, delay, fail_with
        self.gate = threading.Event()
        self.gate.set()
        self.requests: list[list[dict]] = []
        self._lock = threading.Lock()
        self._active: Generation | None = None

    def load(self, path, options=LoadOptions(), *, name=None) -> ModelInfo:
        if not Path(path).is_file():
            raise ModelNotFoundError(f"{path} is not a model file")
        self.model_info = ModelInfo(path=str(path), name=name or Path(path).stem,
                                    architecture="fake", quantization="F16", parameter_count=1,
                                    file_size=1, context_size=options.n_ctx,
                                    trained_context=None, n_threads=1, n_gpu_layers=0,
                                    chat_template="fake", load_seconds=0.0)
        return self.model_info

    def generate(self, messages, params=GenerationParams()) -> Generation:
        if self.model_info is None:
            raise NoModelLoadedError("no model is loaded; choose one first")
        return Generation(lambda handle: self._answer(handle, list(messages), params))

    def _answer(self, handle: Generation, messages, params):
        with self._lock:
            if handle.cancelled:
                yield cancelled_before_start()
                return
            self._active = handle
            try:
                self.requests.append(messages)
                if self.fail_with is not None:
                    raise self.fail_with
                self.gate.wait(10)
                words = f"echo {messages[-1]['content']}".split() * self.words
                parts, reason = [], "stop"
                for word in words[:min(len(words), params.max_tokens)]:
                    if handle.cancelled:
                        reason = "cancelled"
                        break
                    if self.delay:
                        handle.cancel_event.wait(self.delay)
                    parts.append(word + " ")
                    yield TextDelta(word + " ")
                stats = ReplyStats(prompt_tokens=len(messages), completion_tokens=len(parts),
                                   context_used=len(messages) + len(parts),
                                   context_size=self.model_info.context_size)
                yield ReplyFinished(reason=reason, text="".join(parts), stats=stats)
            finally:
                self._active = None

    def embed(self, texts, *, model=None) -> list[list[float]]:
        """A hashed bag of words per text (64 dimensions, one always set), unit length."""
        if model is None and self.model_info is None:
            raise NoModelLoadedError("no model is loaded; choose one first")
        vectors = []
        for text in texts:
            vector = [0.0] * 64
            vector[0] = 1.0
            for word in text.lower().split():
                digest = hashlib.sha256(word.encode("utf-8")).digest()
                vector[1 + digest[0] % 63] += 1.0 if digest[1] % 2 else -1.0
            norm = math.sqrt(sum(x * x for x in vector))
            vectors.append([x / norm for x in vector])
        return vectors

    def cancel(self) -> None:
        if self._active is not None:
            self._active.cancel()

    def unload(self) -> None:
        self.model_info = None

    def loaded_models(self) -> list[ModelInfo]:
        return [self.model_info] if self.model_info else []

    def stats(self) -> dict:
        return {"model": self.model_info.to_dict() if self.model_info else None}


