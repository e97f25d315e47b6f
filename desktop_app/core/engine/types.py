"""Plain data going in and out of the engine.

Everything here is a frozen dataclass of str/int/float/None fields with a
``to_dict`` / ``from_dict`` pair, so the same API can later run in a child
process and cross a pipe as JSON without its callers changing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Union

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


class _PlainData:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class LoadOptions(_PlainData):
    n_ctx: int = 4096          # capped by the model's trained context
    n_threads: int | None = None  # None: hardware.choose_threads
    # None: "auto", as many as fit the GPU's free memory (core/offload.py); 0: none;
    # -1: every layer the build can offload
    n_gpu_layers: int | None = None
    n_batch: int = 512
    # Tokens per compute step while reading a prompt. Without flash attention llama.cpp's
    # scratch buffer grows with n_ctx * n_ubatch (SmolLM2 at 4,096 tokens: 99 MB at 512,
    # 57 MB at 256); llama-bench measured no prompt-speed difference between 256 and 512.
    n_ubatch: int = 256
    chat_format: str | None = None  # a templates.FORMATS name that overrides the file's
    # llama.cpp's flash attention. None: "auto", on when every layer runs on the CPU and
    # off when layers go to a GPU (there a device without the kernel would run attention
    # on the CPU). On the CPU it decodes faster while a chat is short and about as fast
    # later (SmolLM2, 2 threads, per token: +11% at 44 tokens, even at 300, -3..+1% at
    # 700-1,500; prompts +3..7%; benchmarks/bench_attention.py, results.md), needs no
    # attention-score buffer (57 MB at 4,096 cells), and gives a token the same logits
    # alone or in a prompt-lookup batch on one thread (prompt_lookup.py).
    flash_attn: bool | None = None


@dataclass(frozen=True)
class GenerationParams(_PlainData):
    max_tokens: int = 1024
    temperature: float = 0.7   # 0 means greedy
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None    # None: random
    grammar: str | None = None  # GBNF the answer must match
    # A JSON schema (as JSON text) the answer must match; the engine turns it into a
    # grammar beside llama.cpp (engine/grammar.py), so the window never loads llama.cpp.
    json_schema: str | None = None
    # Collect the answer's token log-probabilities (ReplyStats.logprob_*), the local
    # model's own signal of a weak answer (core/escalation); off only to measure its cost.
    token_confidence: bool = True
    # Draft tokens from the conversation and check them in one batch (prompt_lookup.py):
    # the same tokens, faster when the answer copies its input. Presets opt in.
    prompt_lookup: bool = False
    # End the answer with the reason "repetition" once it loops on one short phrase
    # (repetition.py; never under a grammar). Engines that cannot tell ignore it.
    stop_loops: bool = True


@dataclass(frozen=True)
class RenderedPrompt:
    """The exact text a model is given for a chat, and where its answer stops."""
    text: str
    stop_strings: tuple[str, ...]


@dataclass(frozen=True)
class ModelInfo(_PlainData):
    path: str
    name: str
    architecture: str
    quantization: str
    parameter_count: int
    file_size: int
    context_size: int          # the context this load actually has
    trained_context: int | None
    n_threads: int
    n_gpu_layers: int
    chat_template: str         # "embedded" or "fallback: <format> (...)"
    load_seconds: float
    offload: str = ""           # where the layers run and why (offload.OffloadPlan.status)
    threads_reason: str = ""    # why n_threads (hardware.ThreadChoice.reason)


@dataclass(frozen=True)
class ReplyStats(_PlainData):
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0   # reused from the previous turn's KV cache
    completion_tokens: int = 0
    time_to_first_token_s: float = 0.0
    decode_tokens_per_s: float = 0.0
    total_s: float = 0.0
    context_used: int = 0
    context_size: int = 0
    dropped_messages: int = 0       # oldest messages left out to fit the context (not system)
    # The answer's own confidence (None: not measured, e.g. a remote engine): quantiles of
    # the natural-log probability of each token it chose (length does not bias them, unlike
    # the sequence's product), and the first token's margin over the runner-up.
    scored_tokens: int = 0
    logprob_min: float | None = None
    logprob_p05: float | None = None
    logprob_p10: float | None = None
    logprob_p25: float | None = None
    logprob_p50: float | None = None
    logprob_mean: float | None = None
    first_token_margin: float | None = None
    # Prompt-lookup decoding (GenerationParams.prompt_lookup): tokens guessed from the
    # conversation and checked, and how many of them the model kept.
    draft_tokens: int = 0
    draft_accepted: int = 0
    # Decode threads when the reply ended: fewer than the load's while other programs
    # took cores (engine/thread_watch.py); 0 where the engine does not say.
    n_threads: int = 0
    threads_note: str = ""   # why n_threads is below the quiet machine's count, if it is


@dataclass(frozen=True)
class TextDelta(_PlainData):
    """A piece of the answer, in order; the pieces join to the full text."""
    text: str
    type: str = "text"


@dataclass(frozen=True)
class ReplyFinished(_PlainData):
    """The last event of every generation that did not raise."""
    reason: str                # "stop", "length", "context_full", "repetition", "cancelled"
    text: str
    stats: ReplyStats
    type: str = "finished"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReplyFinished":
        return cls(reason=data["reason"], text=data["text"],
                   stats=ReplyStats.from_dict(data["stats"]))


EngineEvent = Union[TextDelta, ReplyFinished]


def event_from_dict(data: dict[str, Any]) -> EngineEvent:
    if data.get("type") == "text":
        return TextDelta.from_dict(data)
    if data.get("type") == "finished":
        return ReplyFinished.from_dict(data)
    raise ValueError(f"unknown engine event type: {data.get('type')!r}")
