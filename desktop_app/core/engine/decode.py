"""Decoding through llama.cpp's own API: KV-cache reuse, batched prompt, sampler chain.

``Llama.generate`` costs about 15% of decode speed on a small model in Python
bookkeeping per token (batch objects rebuilt, numpy token arrays, its sampling
wrapper). Here one token costs three C calls: ``llama_sampler_sample`` (which
also accepts the token into the chain's state), a write into a preallocated
one-token array, and ``llama_decode`` on a batch built once per model.

Every ``llama_decode`` streams the whole model through the CPU caches, so the
Python that runs between two decodes starts cold: each distinct function and
object it touches costs microseconds, not nanoseconds (a ctypes call ~20 µs, a
stop-string check ~55 µs, measured by ``benchmarks/decode_profile.py``). Hence
a plain greedy reply skips the sampler chain (``Decoder.argmax``: numpy over
the logits in place, instead of llama.cpp copying 49k candidates per token),
and ``TokenTexts`` answers "end of generation? which bytes? which text?" for a
token in one dict lookup.

The calls into llama.cpp are ``llama_api``'s; the per-token ones are its C
functions bound to locals here, with no Python layer between.
"""

from __future__ import annotations

import ctypes
import threading
from typing import TYPE_CHECKING, Iterator

from ..errors import EngineError
from .confidence import TokenConfidence, observing
from .context_cells import cells_for, grow_context
from .types import GenerationParams

if TYPE_CHECKING:
    from .prompt_lookup import PromptLookup
    from .thread_watch import ThreadWatch

RANDOM_SEED = 0xFFFFFFFF      # llama.cpp's LLAMA_DEFAULT_SEED: a fresh random seed
PENALTY_LAST_N = 64           # tokens the repeat penalty looks back over


class Decoder:
    """Owns one context's KV cache: which tokens it holds, and how to extend it."""

    def __init__(self, llama, *, cap: int | None = None) -> None:
        from . import llama_api

        self._api = llama_api
        self._llama = llama  # keeps the context alive
        self.ctx = llama.ctx
        self.cells = llama.n_ctx()
        self.cap = max(cap or self.cells, self.cells)  # the most cells it may grow to
        self.vocab = llama_api.model_vocab(llama)
        self.n_batch = llama.n_batch
        self.kv_tokens: list[int] = []   # what the KV cache holds, position by position
        self._one, self._one_batch = llama_api.one_token_batch()
        self.texts = TokenTexts(self.vocab)
        self.n_vocab = llama_api.vocab_size(self.vocab)
        self._logits_at = llama_api.logits_address_function()
        self._logits_address: int | None = None
        self._logits = None  # numpy view of the last token's logits, at _logits_address
        self.watch: "ThreadWatch | None" = None  # automatic threads (thread_watch.py)

    # -- the KV cache -------------------------------------------------------
    def reserve(self, needed: int) -> None:
        """Grow the context (see context_cells.py) so that it holds ``needed`` tokens,
        as far as the cap allows; the cached tokens are carried over."""
        if needed <= self.cells or self.cells >= self.cap:
            return
        cells = cells_for(needed, self.cells, self.cap)
        grow_context(self._llama, cells)
        self.ctx, self.cells = self._llama.ctx, cells
        self._logits_address = None

    def reuse_prefix(self, tokens: list[int]) -> int:
        """Drop cached positions past the shared prefix; return how many are reused.

        At least one prompt token is always evaluated so that logits exist.
        """
        shared = 0
        for cached, wanted in zip(self.kv_tokens, tokens):
            if cached != wanted:
                break
            shared += 1
        shared = min(shared, max(0, len(tokens) - 1))
        self.truncate(shared)
        return shared

    def truncate(self, length: int) -> None:
        """Keep the first ``length`` cached positions, forget the rest."""
        self._api.drop_positions_from(self.ctx, length)
        del self.kv_tokens[length:]

    def evaluate(self, tokens: list[int], cancel: threading.Event) -> bool:
        """Run ``tokens`` through the model in batches; False if cancelled midway."""
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start:start + self.n_batch]
            if not self._decode(chunk, cancel):
                return False
            self.kv_tokens.extend(chunk)
        return True

    def _decode(self, chunk: list[int], cancel: threading.Event) -> bool:
        code = self._api.decode_tokens(self.ctx, chunk)
        if code == 0:
            return True
        self.truncate(len(self.kv_tokens))  # forget a half-written batch
        if code == self._api.DECODE_ABORTED or cancel.is_set():
            return False
        if code == self._api.DECODE_NO_ROOM:
            raise EngineError("the model's context is full; start a new chat or raise the "
                              "context size")
        raise EngineError(f"llama.cpp failed to decode (error {code})")

    # -- generation ---------------------------------------------------------
    def argmax(self) -> int:
        """The greedy choice from the last decoded token's logits, read in place.

        The same token llama.cpp's greedy sampler picks (the first of equal highest);
        llama.cpp keeps the logits buffer between decodes, so its numpy view is
        rebuilt only if the address moves.
        """
        return int(self.logits().argmax())

    def logits(self, index: int = -1):
        """A numpy view (no copy) of the logits after the last decoded batch's token
        ``index`` (-1: its last; other indices need a batch that asked for them)."""
        address = self._logits_at(self.ctx, index)
        if address != self._logits_address:
            if not address:
                raise EngineError("llama.cpp has no logits to sample from")
            import numpy

            row = (ctypes.c_float * self.n_vocab).from_address(address)
            self._logits = numpy.frombuffer(row, dtype=numpy.float32)
            self._logits_address = address
        return self._logits

    def stream(self, new_tokens: list[int], sampler: "Sampler",
               cancel: threading.Event, *, lookup: "PromptLookup | None" = None
               ) -> Iterator[int]:
        """Evaluate the prompt's uncached tail, then yield sampled tokens until the
        caller stops asking (or cancel). Each yielded token is decoded only when the
        caller asks for the next one, so an end-of-generation token never enters the cache.

        With ``lookup``, tokens are drafted from the conversation and checked in
        batches (prompt_lookup.py): the same tokens, fewer decodes when the answer copies."""
        if lookup is not None:
            yield from lookup.stream(self, new_tokens, sampler, cancel)
            return
        if not self.evaluate(new_tokens, cancel):
            return
        sample = sampler.sample
        decode = self._api.decode_function()
        one, batch, ctx = self._one, self._one_batch, self.ctx
        cells, kv = self.cells, self.kv_tokens
        watched = self.watch.after_token if self.watch is not None else None
        while not cancel.is_set():
            token = sample()
            yield token
            one[0] = token
            if len(kv) >= cells and cells < self.cap:
                self.reserve(len(kv) + 1)
                ctx, cells = self.ctx, self.cells
            code = decode(ctx, batch)
            if code != 0:
                self.decode_failed(code, cancel)
                return
            self.kv_tokens.append(token)
            if watched is not None:
                watched()

    def decode_failed(self, code: int, cancel: threading.Event) -> None:
        """After a failed decode: forget its half-written batch; raise unless cancelled."""
        self.truncate(len(self.kv_tokens))
        if code != self._api.DECODE_ABORTED and not cancel.is_set():
            if code == self._api.DECODE_NO_ROOM:
                raise EngineError("the model's context is full; start a new chat")
            raise EngineError(f"llama.cpp failed to decode (error {code})")


class Sampler:
    """How one reply picks its tokens: ``sample()`` returns the next one.

    A llama.cpp sampler chain (its grammar and penalty state are per reply), or,
    for plain greedy decoding (no grammar, no repeat penalty), ``Decoder.argmax``:
    the same tokens without the chain's per-token copy of the vocabulary.
    """

    def __init__(self, decoder: Decoder, params: GenerationParams) -> None:
        from .llama_api import SamplerChain

        self.chain: SamplerChain | None = None
        self.confidence = TokenConfidence(decoder.logits) if params.token_confidence else None
        if _plain_greedy(params):
            self.sample = self._observed(decoder.argmax)
            self.sample_at = self._observed_at(lambda i: int(decoder.logits(i).argmax()))
            return
        self.chain = SamplerChain()
        try:
            _add_stages(self.chain, decoder.vocab, params)
        except Exception:
            self.close()
            raise
        chain, sample = self.chain.pointer, self.chain.sample_function()
        if _greedy_under_grammar(params):
            pick = self._grammar_first(decoder, sample)
            self.sample = self._observed(lambda: pick(-1))
            self.sample_at = self._observed_at(pick)
            return
        # decoder.ctx looked up per token: the context may be replaced by a bigger one
        self.sample = self._observed(lambda: sample(chain, decoder.ctx, -1))
        self.sample_at = self._observed_at(lambda i: sample(chain, decoder.ctx, i))

    def _grammar_first(self, decoder: Decoder, sample):
        """Greedy under a grammar, the vocabulary paid for only when needed: the highest
        logit is also the highest the grammar allows whenever the grammar allows it, so
        that token is checked alone first (one candidate, not 49k) and the chain (grammar
        over every token, then greedy) runs only when it is refused. The same tokens."""
        from .llama_api import TokenCheck

        chain = self.chain.pointer
        grammar, check = self.chain.stage(0), TokenCheck()
        accept = self.chain.accept_function()

        def pick(index: int) -> int:
            token = int(decoder.logits(index).argmax())
            if check.allows(grammar, token):
                accept(chain, token)
                return token
            return sample(chain, decoder.ctx, index)

        return pick

    def _observed(self, sample):
        return observing(sample, self.confidence) if self.confidence is not None else sample

    def _observed_at(self, sample_at):
        """``sample_at(i)``: the pick after the last batch's token ``i`` (prompt_lookup.py)."""
        confidence = self.confidence
        if confidence is None:
            return sample_at

        def sample_and_observe(index: int) -> int:
            token = sample_at(index)
            confidence.observe(token, index)
            return token

        return sample_and_observe

    def close(self) -> None:
        if self.chain is not None:
            self.chain.close()
            self.chain = None

    def __enter__(self) -> "Sampler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _penalised(params: GenerationParams) -> bool:
    return bool(params.repeat_penalty) and params.repeat_penalty != 1.0


def _plain_greedy(params: GenerationParams) -> bool:
    """Greedy with nothing that needs the chain's state (grammar, penalty history)."""
    return params.temperature <= 0 and not params.grammar and not _penalised(params)


def _greedy_under_grammar(params: GenerationParams) -> bool:
    """Greedy with a grammar and nothing else that changes the logits: the chain is then
    [grammar, greedy] (``_add_stages``), which ``Sampler._grammar_first`` shortcuts."""
    return params.temperature <= 0 and bool(params.grammar) and not _penalised(params)


def _add_stages(chain, vocab, params: GenerationParams) -> None:
    """The samplers in llama.cpp's usual order; greedy when temperature is 0."""
    if params.grammar and not chain.add_grammar(vocab, params.grammar):
        raise EngineError("the preset's output format (grammar) is invalid; "
                          "check its JSON schema")
    if _penalised(params):
        chain.add_penalties(vocab, last_n=PENALTY_LAST_N, repeat=params.repeat_penalty)
    if params.temperature <= 0:
        chain.add_greedy()
        return
    if params.top_k > 0:
        chain.add_top_k(params.top_k)
    if 0 < params.top_p < 1:
        chain.add_top_p(params.top_p)
    if params.min_p > 0:
        chain.add_min_p(params.min_p)
    chain.add_temperature(params.temperature)
    chain.add_distribution(RANDOM_SEED if params.seed is None else params.seed & 0xFFFFFFFF)


TokenText = tuple[bytes, str | None] | None


class TokenTexts(dict):
    """token -> what a reply needs of it, worked out once per model (a vocabulary is finite).

    ``None`` for an end-of-generation token, else ``(piece, text)``: the token's
    bytes and, when those are complete UTF-8 on their own, their text (else None:
    a piece of a character, for the incremental decoder).
    """

    def __init__(self, vocab) -> None:
        from . import llama_api

        super().__init__()
        self._is_eog = llama_api.is_end_of_generation_function()
        self._piece = llama_api.token_piece
        self._vocab = vocab

    def __missing__(self, token: int) -> TokenText:
        entry: TokenText = None
        if not self._is_eog(self._vocab, token):
            piece = self.piece(token)
            try:
                entry = (piece, piece.decode("utf-8"))
            except UnicodeDecodeError:
                entry = (piece, None)
        self[token] = entry
        return entry

    def piece(self, token: int) -> bytes:
        """The token's bytes as llama.cpp renders them (special tokens as nothing)."""
        return self._piece(self._vocab, token)
