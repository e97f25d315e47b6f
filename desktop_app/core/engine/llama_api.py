"""Every call into llama-cpp-python: its ``Llama``, llama.cpp's C API, its private members.

This is the only module that imports ``llama_cpp`` (``tests/test_layers.py``
checks it), and the only one that reaches into ``Llama``'s private members
(``_ctx``, ``_model``, ``_internals``). A llama-cpp-python upgrade that renames
or changes one of them is fixed here.

The rest of the engine imports this module where it used to import
``llama_cpp``: lazily, in the engine's process, so that importing the engine
package (the window does, for its plain-data types) never loads libllama.

The per-token loop must stay as it is measured (``decode.py``,
``benchmarks/decode_profile.py``): for it, functions here return llama.cpp's
C functions themselves (``decode_function``, ``SamplerChain.sample_function``)
for the caller to bind to locals, never a Python wrapper. They are looked up on
``llama_cpp`` at that moment, so a profiler's timer installed there is seen.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Callable, NamedTuple

import llama_cpp
from llama_cpp import _internals
from llama_cpp.llama_grammar import json_schema_to_gbnf

DECODE_ABORTED = 2  # llama_decode's return code when the abort callback fired
DECODE_NO_ROOM = 1  # llama_decode's return code when the KV cache has no free slot


# -- the build ------------------------------------------------------------------
def version() -> str:
    return llama_cpp.__version__


def library_dir() -> Path:
    """llama-cpp-python's folder of native libraries (libllama, libggml, backends)."""
    return Path(llama_cpp.__file__).resolve().parent / "lib"


def ggml_registry():
    """ggml's backend registry, its backends loaded from ``library_dir`` in a
    GGML_BACKEND_DL build (ggml_devices.py). Called before any model is opened."""
    from . import ggml_devices
    from .llama_log import install_log_bridge

    install_log_bridge()  # ggml's "loaded CPU backend from ..." lines go to the log
    return ggml_devices.registry(library_dir())


def backends_and_devices() -> tuple[tuple[str, ...], list]:
    """(registered backends' names, ``offload.Device`` per device) in this process."""
    registry = ggml_registry()
    return tuple(registry.backend_names()), registry.devices()


def supports_gpu_offload() -> bool:
    ggml_registry()
    return bool(llama_cpp.llama_supports_gpu_offload())


def build_info() -> dict[str, object]:
    """What this llama.cpp build can do (``scalpel doctor``)."""
    registry = ggml_registry()
    return {
        "version": version(),
        "gpu_offload": supports_gpu_offload(),
        "backends_loaded_from_files": registry.dynamic,
        "cpu_features": registry.cpu_features(),
        "mmap": bool(llama_cpp.llama_supports_mmap()),
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
    }


# -- a model: open, vocabulary, logs ---------------------------------------------
def open_llama(path: str, *, n_ctx: int, n_threads: int, n_batch: int, n_ubatch: int,
               n_gpu_layers: int, flash_attn: bool) -> "llama_cpp.Llama":
    """A ``llama_cpp.Llama`` on ``path``. Raises ValueError, RuntimeError or OSError.

    ``verbose=True`` keeps llama-cpp-python from swapping the process's file
    descriptors (it breaks windowed builds); its Python-level prints go to
    ``sys.stderr``, which the caller redirects. llama.cpp's own log goes through
    ``set_log_callback``.
    """
    ggml_registry()
    llama = llama_cpp.Llama(
        model_path=path, n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
        n_batch=n_batch, n_ubatch=n_ubatch, n_gpu_layers=n_gpu_layers,
        flash_attn=flash_attn, verbose=True)
    llama.verbose = False
    return llama


def open_embedding_llama(path: str, *, n_ctx: int, n_threads: int,
                         n_gpu_layers: int) -> "llama_cpp.Llama":
    """A ``llama_cpp.Llama`` on ``path`` for embeddings only: ``embedding=True`` and mean
    pooling (which also works over a causal model), one text per compute step of up to
    ``n_ctx`` tokens. Raises ValueError, RuntimeError or OSError, like ``open_llama``."""
    ggml_registry()
    llama = llama_cpp.Llama(
        model_path=path, embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, n_threads=n_threads,
        n_threads_batch=n_threads, n_gpu_layers=n_gpu_layers, verbose=True)
    llama.verbose = False
    return llama


def embed_texts(llama, texts: list[str]) -> list[list[float]]:
    """One L2-normalized vector per text (a text longer than the context is cut to it).
    Raises ValueError or RuntimeError when llama.cpp refuses."""
    vectors = llama.embed(texts, normalize=True, truncate=True)
    return [[float(x) for x in vector] for vector in vectors]


def model_vocab(llama):
    """The model's ``llama_vocab`` pointer."""
    return llama_cpp.llama_model_get_vocab(llama.model)


def vocab_size(vocab) -> int:
    return llama_cpp.llama_vocab_n_tokens(vocab)


def is_end_of_generation_function() -> Callable:
    """``llama_vocab_is_eog(vocab, token)``, to bind."""
    return llama_cpp.llama_vocab_is_eog


def token_piece(vocab, token: int) -> bytes:
    """The token's bytes as llama.cpp renders them (special tokens as nothing)."""
    to_piece = llama_cpp.llama_token_to_piece
    buffer = ctypes.create_string_buffer(64)
    n = to_piece(vocab, token, buffer, 64, 0, False)
    if n < 0:  # longer than 64 bytes: -n is its size
        buffer = ctypes.create_string_buffer(-n)
        n = to_piece(vocab, token, buffer, -n, 0, False)
    return buffer.raw[:max(n, 0)]


def special_token_texts(llama) -> tuple[str, str]:
    """(BOS, EOS) as text, for chat templates; "" for a model without one."""
    model = llama._model
    bos = model.token_get_text(llama.token_bos()) if llama.token_bos() >= 0 else ""
    eos = model.token_get_text(llama.token_eos()) if llama.token_eos() >= 0 else ""
    return bos, eos


def vocab_has_token(llama) -> Callable[[str], bool]:
    """Does this text tokenize to exactly one (special) token of ``llama``'s vocabulary?"""
    def has_token(text: str) -> bool:
        try:
            tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        except (RuntimeError, ValueError):
            return False
        return len(tokens) == 1

    return has_token


def set_log_callback(receive: Callable[[int, bytes], None]):
    """Send llama.cpp's whole log (one global hook) to ``receive(level, text)``.
    Returns the ctypes callback: keep it for as long as the process lives."""
    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        receive(level, text)

    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return callback


# -- a context: decoding, the KV cache, cancel -----------------------------------
def decode_function() -> Callable:
    """``llama_decode(ctx, batch) -> int``, to bind (0: done; see DECODE_*)."""
    return llama_cpp.llama_decode


def one_token_batch():
    """(array, batch): a one-token array and a batch over it, to make once and reuse:
    write a token into ``array[0]``, then decode ``batch``."""
    one = (llama_cpp.llama_token * 1)()
    return one, llama_cpp.llama_batch_get_one(one, 1)


def decode_tokens(ctx, tokens: list[int]) -> int:
    """``llama_decode`` of ``tokens`` as one batch; its return code."""
    array = (llama_cpp.llama_token * len(tokens))(*tokens)  # alive until the call returns
    return llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(array, len(tokens)))


def drop_positions_from(ctx, position: int) -> None:
    """Forget the KV cache from ``position`` on, in every sequence."""
    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), -1, position, -1)


def set_threads(llama, n_threads: int, n_threads_batch: int | None = None) -> None:
    """Decode with ``n_threads`` from now on (``llama_set_n_threads`` on the open context:
    no reload); ``llama``'s saved context parameters follow, so a context grown later
    (context_cells.py) keeps the count."""
    batch = n_threads if n_threads_batch is None else n_threads_batch
    llama_cpp.llama_set_n_threads(llama.ctx, n_threads, batch)
    llama.context_params.n_threads, llama.context_params.n_threads_batch = n_threads, batch
    llama.n_threads, llama.n_threads_batch = n_threads, batch


def threads_of(llama) -> tuple[int, int]:
    """(decode threads, batch threads) the context uses now."""
    return llama_cpp.llama_n_threads(llama.ctx), llama_cpp.llama_n_threads_batch(llama.ctx)


class ScoredBatch:
    """A batch of up to ``size`` consecutive tokens of sequence 0 with logits for every
    one (``llama_batch_get_one`` keeps only the last's): a token and its drafted
    successors, checked in one decode (prompt_lookup.py). ``close()`` frees it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._batch = llama_cpp.llama_batch_init(size, 0, 1)
        batch = self._batch
        for i in range(size):      # the same for every use: sequence 0, logits on
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1

    def decode(self, ctx, tokens: list[int], start: int) -> int:
        """``llama_decode`` of ``tokens`` at positions ``start``...; its return code.
        Afterwards ``llama_get_logits_ith(ctx, i)`` is the logits after ``tokens[i]``."""
        batch = self._batch
        token, pos = batch.token, batch.pos
        for i, value in enumerate(tokens):
            token[i] = value
            pos[i] = start + i
        batch.n_tokens = len(tokens)
        return llama_cpp.llama_decode(ctx, batch)

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None


def logits_address_function() -> Callable[[object, int], int | None]:
    """``llama_get_logits_ith(ctx, i)`` returning a plain address (no ctypes pointer
    object per call), to bind."""
    return ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32)(
        ctypes.cast(llama_cpp.llama_get_logits_ith, ctypes.c_void_p).value)


def set_abort_check(llama, should_abort: Callable[[], bool] | None):
    """Have llama.cpp call ``should_abort()`` per graph node of ``llama``'s context (a
    True stops the decode: DECODE_ABORTED), or, with None, nothing. Returns the ctypes
    callback (None when off): keep it while it is installed."""
    if should_abort is None:
        llama_cpp.llama_set_abort_callback(llama.ctx, llama_cpp.ggml_abort_callback(), None)
        return None

    @llama_cpp.ggml_abort_callback
    def callback(_data) -> bool:
        return should_abort()

    llama_cpp.llama_set_abort_callback(llama.ctx, callback, None)
    return callback


# -- growing a context (context_cells.py) -----------------------------------------
class SequenceState(NamedTuple):
    buffer: ctypes.Array
    size: int  # bytes of ``buffer`` used; 0 for an empty sequence


def save_sequence(llama, sequence: int) -> SequenceState:
    """A copy of one sequence's KV cache in ``llama``'s context."""
    ctx = llama._ctx.ctx
    size = llama_cpp.llama_state_seq_get_size(ctx, sequence)
    buffer = (ctypes.c_uint8 * max(size, 1))()
    return SequenceState(buffer, llama_cpp.llama_state_seq_get_data(ctx, buffer, size, sequence))


def new_context(llama, cells: int):
    """A new context for ``llama``'s model, with its settings but ``cells`` cells.
    Raises ValueError when llama.cpp cannot make it (memory)."""
    params = llama_cpp.llama_context_params.from_buffer_copy(llama.context_params)
    params.n_ctx = cells
    return _internals.LlamaContext(model=llama._model, params=params, verbose=False)


def restore_sequence(context, state: SequenceState, sequence: int) -> bool:
    """Put a ``save_sequence`` copy into ``context`` (from ``new_context``); False if refused."""
    return bool(llama_cpp.llama_state_seq_set_data(context.ctx, state.buffer, state.size,
                                                   sequence))


def close_context(context) -> None:
    context.close()


def replace_context(llama, context, cells: int) -> None:
    """Make ``context`` (``cells`` cells) ``llama``'s own, and free its old one."""
    old = llama._ctx
    llama._ctx = context
    llama.context_params.n_ctx = cells
    old.close()


# -- sampling ---------------------------------------------------------------------
class SamplerChain:
    """A llama.cpp sampler chain: stages added in order, all freed by ``close()``."""

    def __init__(self) -> None:
        params = llama_cpp.llama_sampler_chain_default_params()
        params.no_perf = True
        self.pointer = llama_cpp.llama_sampler_chain_init(params)

    def sample_function(self) -> Callable:
        """``llama_sampler_sample(chain, ctx, -1) -> token``, to bind with ``self.pointer``."""
        return llama_cpp.llama_sampler_sample

    def add_grammar(self, vocab, gbnf: str) -> bool:
        """Tokens must match GBNF ``gbnf`` from its rule ``root``; False if it is invalid."""
        stage = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
        if stage:
            self._add(stage)
        return bool(stage)

    def add_penalties(self, vocab, *, last_n: int, repeat: float) -> None:
        self._add(llama_cpp.llama_sampler_init_penalties(vocab_size(vocab), last_n, repeat,
                                                         0.0, 0.0))

    def add_greedy(self) -> None:
        self._add(llama_cpp.llama_sampler_init_greedy())

    def add_top_k(self, k: int) -> None:
        self._add(llama_cpp.llama_sampler_init_top_k(k))

    def add_top_p(self, p: float) -> None:
        self._add(llama_cpp.llama_sampler_init_top_p(p, 1))

    def add_min_p(self, p: float) -> None:
        self._add(llama_cpp.llama_sampler_init_min_p(p, 1))

    def add_temperature(self, temperature: float) -> None:
        self._add(llama_cpp.llama_sampler_init_temp(temperature))

    def add_distribution(self, seed: int) -> None:
        """The random pick (``seed`` 0xFFFFFFFF: a fresh random seed)."""
        self._add(llama_cpp.llama_sampler_init_dist(seed))

    def stage(self, index: int):
        """The chain's ``index``-th stage (owned by the chain)."""
        return llama_cpp.llama_sampler_chain_get(self.pointer, index)

    def accept_function(self) -> Callable:
        """``llama_sampler_accept(chain, token)``: every stage takes ``token`` as chosen
        (a grammar advances), to bind with ``self.pointer``."""
        return llama_cpp.llama_sampler_accept

    def _add(self, stage) -> None:
        llama_cpp.llama_sampler_chain_add(self.pointer, stage)

    def close(self) -> None:
        if self.pointer:
            llama_cpp.llama_sampler_free(self.pointer)
            self.pointer = None


class TokenCheck:
    """Whether one sampler stage (a grammar) lets a token through: the stage applied to a
    one-token candidate list, as llama.cpp's own common sampler does before it pays for
    the whole vocabulary. The list is built once and reused."""

    def __init__(self) -> None:
        self._data = llama_cpp.llama_token_data(0, 0.0, 0.0)
        self._array = llama_cpp.llama_token_data_array(
            data=ctypes.pointer(self._data), size=1, selected=-1, sorted=False)
        self._array_ref = ctypes.byref(self._array)
        self._apply = llama_cpp.llama_sampler_apply

    def allows(self, stage, token: int) -> bool:
        data, array = self._data, self._array
        data.id, data.logit, data.p = token, 0.0, 0.0
        array.size, array.selected = 1, -1
        self._apply(stage, self._array_ref)
        return data.logit != float("-inf")


# -- grammars -----------------------------------------------------------------------
def schema_to_gbnf(schema_json: str) -> str:
    """llama.cpp's own JSON-schema-to-GBNF converter (as shipped in llama-cpp-python);
    it raises bare exceptions on schemas it cannot convert."""
    return json_schema_to_gbnf(schema_json)
