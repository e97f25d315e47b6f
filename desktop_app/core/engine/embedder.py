"""Embeddings for ``LlamaEngine``: a llama.cpp context of its own for the embedding model.

The embedding model is opened the first time it is asked for (``embedding=True``, mean
pooling: llama_api.open_embedding_llama) and kept open while it is used; asking for
another file closes it first, and ``close()`` (the engine's ``unload``) gives it back.
It goes through the same checks as any load: the header first (``inspect_gguf``), the
organization's allow-list on the open file (``ModelGate.check_descriptor``), and llama.cpp
reads the file through that descriptor, never by path again (model_file.py).
Vectors are L2-normalized. Callers serialize calls (the engine's lock).

Texts go to llama.cpp in groups of at most ``GROUP_TOKENS`` tokens, one decode per group
(a longer text alone). llama-cpp-python would pack every text into decodes of up to
``n_ctx`` (2,048) tokens, and a decode's attention is computed over all of its tokens at
once: 2,048 tokens cost four times the attention work (and score buffers) of four decodes
of 512, all but the diagonal blocks masked away. One decode per text is as fast on an idle
machine but pays every decode's fixed cost (a thread barrier per graph node) per text,
which a busy machine makes expensive. Measured with SmolLM2 on passages of 800 characters
(benchmarks/bench_doc_retrieval.py --compare-grouping): groups of 512 embed 1.9x as fast
as 2,048-token decodes; on a heavily loaded machine (llama-cpp-python directly, the same
settings) 1.3x as fast as those and 2.2x as fast as one per text. The thread count is
chosen as the chat model's is: fewer beside busy programs (--compare-threads: 1 thread
embeds 1.6x as fast as 2 on two busy cores).
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .. import cpu_topology, hardware
from ..errors import EngineError
from ..gguf_inspect import inspect_gguf
from .llama_log import install_log_bridge
from .loaded_model import file_identity

if TYPE_CHECKING:
    from ..policy import ModelGate
    from .model_file import OpenedModel

log = logging.getLogger(__name__)

EMBEDDING_CONTEXT = 2048  # tokens per text, at most (a longer one is cut); capped by training
GROUP_TOKENS = 512  # tokens per decode: several short texts, or one long one


def check_texts(texts: list[str]) -> list[str]:
    """``texts`` as a list of strings, or an EngineError saying what is wrong."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise EngineError("embeddings are made from a list of texts; "
                          "pass each text as a string in a list")
    return list(texts)


def token_groups(lengths: list[int], limit: int) -> list[range]:
    """Consecutive index ranges whose lengths sum to at most ``limit`` (a longer text alone)."""
    groups, start, total = [], 0, 0
    for i, length in enumerate(lengths):
        if i > start and total + length > limit:
            groups.append(range(start, i))
            start, total = i, 0
        total += length
    if start < len(lengths):
        groups.append(range(start, len(lengths)))
    return groups


def normalized(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else list(vector)


class Embedder:
    def __init__(self, *, cpu: hardware.CpuInfo, gate: "ModelGate | None",
                 open_file: Callable[[str | Path], "OpenedModel"],
                 unchangeable: Callable[["OpenedModel"], "OpenedModel"],
                 others_busy: Callable[[], float | None] = cpu_topology.other_cpu_use) -> None:
        self._cpu = cpu
        self._others_busy = others_busy
        self.threads: int | None = None  # chosen when the model is opened
        self._gate = gate
        self._open_file = open_file
        self._unchangeable = unchangeable
        self._llama = None
        self._key: tuple[str, object] | None = None  # (resolved path, file identity)
        self.group_tokens = GROUP_TOKENS  # EMBEDDING_CONTEXT: llama-cpp-python's own packing

    @property
    def path(self) -> str | None:
        return self._key[0] if self._key else None

    def embed(self, path: str | Path, texts: list[str], *,
              n_gpu_layers: int = 0, name: str | None = None) -> list[list[float]]:
        texts = check_texts(texts)
        if not texts:
            return []
        llama = self._context(path, n_gpu_layers, name)
        from . import llama_api

        try:
            # counted as llama-cpp-python's embed() counts them
            lengths = [len(llama.tokenize(text.encode("utf-8"))) for text in texts]
            vectors = []
            for group in token_groups(lengths, self.group_tokens):
                vectors.extend(llama_api.embed_texts(llama, [texts[i] for i in group]))
            return [normalized(v) for v in vectors]
        except (ValueError, RuntimeError) as exc:
            raise EngineError(f"llama.cpp could not embed these texts with "
                              f"{Path(path).name}: {exc}") from exc

    def _context(self, path: str | Path, n_gpu_layers: int, name: str | None):
        key = (str(Path(path).resolve()), file_identity(path))
        if self._llama is not None and key == self._key and key[1] is not None:
            return self._llama
        self.close()
        gguf = inspect_gguf(path)  # raises a ModelFileError naming what is wrong
        opened = self._open_file(path)
        try:
            if self._gate is not None and self._gate.restricts:
                opened = self._unchangeable(opened)
                self._gate.check_descriptor(opened.fd, Path(path), name=name)
            self._llama = self._open(opened.load_path, gguf, n_gpu_layers)
            self._key = key
        finally:
            opened.close()
        log.info("opened %s for embeddings (%d threads)", Path(path).name,
                 self.threads or 0)
        return self._llama

    def _open(self, load_path: str, gguf, n_gpu_layers: int):
        from . import llama_api
        from .llama_engine import _StderrToLog

        bridge = install_log_bridge()
        bridge.take_errors()
        n_ctx = min(EMBEDDING_CONTEXT, gguf.context_length or EMBEDDING_CONTEXT)
        # as the chat model's load does: beside busy programs fewer threads, since every
        # graph node waits for its slowest thread (benchmarks/results.md, "Documents")
        threads = hardware.choose_threads(self._cpu, None, others_busy=self._others_busy())
        self.threads = threads
        try:
            with contextlib.redirect_stderr(_StderrToLog()):  # type: ignore[type-var]
                return llama_api.open_embedding_llama(
                    load_path, n_ctx=n_ctx, n_threads=threads,
                    n_gpu_layers=n_gpu_layers)
        except (ValueError, RuntimeError, OSError) as exc:
            reason = "; ".join(bridge.take_errors()[-2:]) or str(exc)
            raise EngineError(f"llama.cpp could not open {Path(gguf.path).name} for "
                              f"embeddings: {reason}") from exc

    def close(self) -> None:
        llama, self._llama, self._key = self._llama, None, None
        if llama is not None:
            llama.close()
