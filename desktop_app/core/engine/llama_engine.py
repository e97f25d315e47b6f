"""The inference engine: one GGUF model in llama.cpp, driven by messages.

It satisfies the engine contract (contract.py): ``load(path, options) ->
ModelInfo``, ``generate(messages, params) -> Generation`` (a per-request handle
of TextDelta ... ReplyFinished events), ``cancel()``, ``unload()``,
``loaded_models()``, ``stats()``; plus ``render_prompt`` and
``count_prompt_tokens``, which only a local engine can answer.

``keep_loaded`` models stay open (default 1); loading one of them again is
instant. Idle ones are closed first when free memory runs short.

One generation runs at a time, on the caller's thread. ``cancel`` is
honoured within one token while decoding, and inside prompt evaluation
through llama.cpp's abort callback, which is only installed while the prompt
is being evaluated: it is a Python call per graph node, too costly per token.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from .. import cpu_topology, hardware, offload
from ..errors import EngineError, ModelFileError, NoModelLoadedError
from ..fit import kv_bytes_per_token_from_gguf
from ..gguf_inspect import GGUFInfo, inspect_gguf
from .decode import Sampler
from .embedder import Embedder
from .llama_log import install_log_bridge
from .history_fit import HistoryFitter
from .loaded_model import LoadedModel, ModelPool, file_identity
from .context_cells import FIRST_CELLS
from .thread_watch import ThreadWatch
from .contract import Generation, cancelled_before_start
from .grammar import grammar_for
from .memory_check import check_memory
from .model_file import OpenedModel, open_model_file, unchangeable
from .prompt import ChatPromptFormatter, RenderedPrompt, StopMatcher
from .prompt_lookup import PromptLookup
from .repetition import LoopGuard
from .templates import choose_chat_template
from .thread_probe import ThreadProbe, default_probe
from .types import (EngineEvent, GenerationParams, LoadOptions, Message, ModelInfo,
                    ReplyFinished, ReplyStats, TextDelta)

if TYPE_CHECKING:
    from ..policy import ModelGate

log = logging.getLogger(__name__)


class _StderrToLog:
    """A file-like that sends llama-cpp-python's Python-level prints to logging."""

    def write(self, text: str) -> int:
        if text.strip():
            log.debug("llama-cpp-python: %s", text.rstrip())
        return len(text)

    def flush(self) -> None:
        pass


class LlamaEngine:
    def __init__(self, *, cpu: hardware.CpuInfo | None = None, keep_loaded: int = 1,
                 memory=hardware.memory_info, gpu=None, devices=None,
                 others_busy=cpu_topology.other_programs_cpu_use,
                 thread_probe: "ThreadProbe | None | str" = "default",
                 gate: "ModelGate | None" = None) -> None:
        """``gate`` is the organization's allow-list; every load goes through it.
        ``memory`` and ``gpu`` report free RAM and video memory (default: the offload
        device's, from ``devices``: () -> (backend names, [offload.Device]), llama.cpp's
        own list by default); ``others_busy`` the CPUs other programs use (tests pass fakes).
        ``thread_probe`` measures automatic threads at a model's first load and caches them
        (thread_probe.py; "default": in the user's cache folder; None: never measure)."""
        self._cpu = cpu or hardware.cpu_info()
        self._gate = gate
        self._memory = memory
        self._gpu = gpu
        self._devices = devices
        self._others_busy = others_busy
        self._thread_probe = default_probe() if thread_probe == "default" else thread_probe
        self._model: LoadedModel | None = None
        self._pool = ModelPool(keep=keep_loaded, memory=memory)
        self._fitter = HistoryFitter()
        self._active: Generation | None = None  # the request being answered
        self._busy = threading.Lock()
        self._last_stats: ReplyStats | None = None
        self._abort_cb = None
        self.on_restart = None  # the contract's; an engine in this process never restarts
        self._embedder = Embedder(cpu=self._cpu, gate=gate, open_file=_open_file,
                                  unchangeable=_unchangeable)

    # -- loading -----------------------------------------------------------
    @property
    def model_info(self) -> ModelInfo | None:
        return self._model.info if self._model else None

    @property
    def keep_loaded(self) -> int:
        return self._pool.keep

    @keep_loaded.setter
    def keep_loaded(self, count: int) -> None:
        self._pool.keep = max(1, count)
        with self._busy:
            self._pool.trim()

    def loaded_models(self) -> list[ModelInfo]:
        """Every model held open, least recently used first (the active one last)."""
        return self._pool.infos()

    def load(self, path: str | Path, options: LoadOptions = LoadOptions(), *,
             name: str | None = None) -> ModelInfo:
        """Load a GGUF and make it the active model.

        On any failure the previously active model stays active. A model still
        held open with the same options is reused at once, if its file is still
        the one it was loaded from. A load that clearly will not fit in free
        memory raises ``InsufficientMemoryError`` before llama.cpp opens the file.
        ``name`` is what people see (the catalog's name); by default the GGUF's own.
        """
        key = (str(Path(path).resolve()), tuple(sorted(options.to_dict().items())))
        identity = file_identity(path)
        with self._busy:
            kept = self._pool.take(key)
            # A kept model passed the gate when it was opened, from bytes no one could
            # change since (model_file.py), so it is served without hashing again.
            if kept is not None and identity is not None and kept.identity == identity:
                self._model = kept
                log.info("switched to %s, kept loaded (not opened again)", kept.info.name)
                return kept.info
            if kept is not None and kept is not self._model:
                # Its file was replaced or removed. (An active one stays active until
                # a new model loads; the pool closes it then.)
                self._pool.remove(key)
        # The file is opened once: the gate hashes that open file and llama.cpp loads
        # it through the descriptor, never by path again (model_file.py).
        gguf = inspect_gguf(path)  # raises a ModelFileError naming what is wrong
        opened = _open_file(path)
        try:
            with self._busy:
                plan = self._plan_offload(gguf, options)
                if options.n_gpu_layers is None:  # "auto": the plan's number
                    options = replace(options, n_gpu_layers=plan.layers)
                if options.flash_attn is None:  # "auto": see LoadOptions.flash_attn
                    options = replace(options,
                                      flash_attn=offload.flash_attention(None, plan)[0])
                self._make_room(gguf, options, name, plan)
                if self._gate is not None and self._gate.restricts:
                    opened = _unchangeable(opened)
                    self._gate.check_descriptor(opened.fd, Path(path), name=name)
                # The header of the bytes loaded, not of whatever the path holds now.
                gguf = replace(inspect_gguf(opened.load_path), path=str(path))
                new = self._open(gguf, options, name, opened.load_path, plan)
                new.identity = identity
                self._pool.add(key, new)
                self._model = new
                self._pool.trim()
        finally:
            opened.close()
        log.info("loaded %s (%s, ctx %d, %d threads [%s], %s, flash attention %s, "
                 "template: %s)", new.info.name, new.info.quantization,
                 new.info.context_size, new.info.n_threads, new.info.threads_reason,
                 new.info.offload, "on" if options.flash_attn else "off",
                 new.info.chat_template)
        return new.info

    def _plan_offload(self, gguf: GGUFInfo, options: LoadOptions) -> offload.OffloadPlan:
        """Where the layers go (offload.py): from llama.cpp's devices in this process."""
        if self._devices is not None:
            backends, devices = self._devices()
        else:
            from . import llama_api
            try:
                backends, devices = llama_api.backends_and_devices()
            except (OSError, AttributeError) as exc:  # an old or odd build: CPU only
                log.warning("llama.cpp's devices could not be listed: %s", exc)
                backends, devices = (), []
        n_ctx = _context_size(gguf, options)
        shape = offload.model_shape(
            block_count=gguf.block_count, parameter_count=gguf.parameter_count,
            file_size=gguf.file_size, metadata=gguf.metadata, architecture=gguf.architecture,
            kv_bytes_per_token=kv_bytes_per_token_from_gguf(gguf), n_ctx=n_ctx,
            step_tokens=0 if options.flash_attn else _step_tokens(options, n_ctx))
        return offload.plan_offload(shape, devices, requested=options.n_gpu_layers,
                                    backends=tuple(backends))

    def _make_room(self, gguf: GGUFInfo, options: LoadOptions, name: str | None,
                   plan: offload.OffloadPlan | None = None) -> None:
        """Raise InsufficientMemoryError if the load clearly will not fit in free memory,
        after closing idle kept models (least recently used first) to make room."""
        while True:
            n_ctx = _context_size(gguf, options)
            gpu = None
            if options.n_gpu_layers != 0:
                gpu = self._gpu() if self._gpu is not None else _device_memory(plan)
            problem = check_memory(
                gguf, n_ctx=n_ctx, n_gpu_layers=options.n_gpu_layers,
                model_name=name or gguf.name or Path(gguf.path).stem, memory=self._memory(),
                gpu=gpu,
                step_tokens=0 if options.flash_attn else _step_tokens(options, n_ctx))
            if problem is None:
                return
            closed = self._pool.close_oldest_idle(active=self._model)
            if closed is None:
                log.info("refused to load %s: %s", gguf.path, problem)
                raise problem
            log.info("unloaded %s to make room for %s", closed.name, gguf.path)

    def _open(self, gguf: GGUFInfo, options: LoadOptions, name: str | None,
              load_path: str | None = None,
              plan: offload.OffloadPlan | None = None) -> LoadedModel:
        """``load_path`` names the open file to load (by default ``gguf.path``)."""
        from . import llama_api

        bridge = install_log_bridge()
        bridge.take_errors()
        busy = self._others_busy() if options.n_threads is None else None
        threads = hardware.thread_choice(self._cpu, options.n_threads, others_busy=busy)
        n_threads = threads.threads
        n_ctx = _context_size(gguf, options)
        first = min(n_ctx, FIRST_CELLS)
        started = time.perf_counter()
        try:
            # llama-cpp-python's Python-level prints are captured here, native logs by
            # the bridge (see llama_api.open_llama).
            with contextlib.redirect_stderr(_StderrToLog()):  # type: ignore[type-var]
                # Opened small and grown with the conversation: context_cells.py
                llama = llama_api.open_llama(
                    load_path or gguf.path, n_ctx=first, n_threads=n_threads,
                    n_batch=min(options.n_batch, first),
                    n_ubatch=_step_tokens(options, first),
                    n_gpu_layers=options.n_gpu_layers,
                    flash_attn=bool(options.flash_attn))
        except (ValueError, RuntimeError, OSError) as exc:
            reason = "; ".join(bridge.take_errors()[-2:]) or str(exc)
            raise EngineError(
                f"llama.cpp could not load {Path(gguf.path).name}: {reason}") from exc
        if options.n_threads is None and self._thread_probe is not None:
            threads = self._measured_threads(llama, gguf, options, busy, threads)
            n_threads = threads.threads
        try:
            formatter, template_note = self._formatter_for(llama, gguf, options.chat_format)
        except Exception:
            llama.close()
            raise
        info = ModelInfo(
            path=gguf.path, name=name or gguf.name or Path(gguf.path).stem,
            architecture=gguf.architecture or "unknown",
            quantization=gguf.quantization_label(), parameter_count=gguf.parameter_count,
            file_size=gguf.file_size, context_size=n_ctx,
            trained_context=gguf.context_length, n_threads=n_threads,
            n_gpu_layers=options.n_gpu_layers, chat_template=template_note,
            load_seconds=round(time.perf_counter() - started, 3),
            offload=plan.status if plan else "", threads_reason=threads.reason)
        loaded = LoadedModel(llama, info, formatter)
        if options.n_threads is None:  # automatic: they follow other programs' use
            loaded.decoder.watch = ThreadWatch(
                self._quiet_threads(gguf, options), n_threads,
                lambda n: llama_api.set_threads(llama, n), reason=threads.reason)
            loaded.decoder.watch.run_idle_sampler()
        return loaded

    def _quiet_threads(self, gguf: GGUFInfo, options: LoadOptions) -> int:
        """Automatic threads on a quiet machine: the topology's count, or fewer where the
        measurement cached for this model found fewer as fast (thread_probe.py)."""
        quiet = hardware.thread_choice(self._cpu).threads
        if self._thread_probe is not None:
            try:
                measured = self._thread_probe.cached(self._cpu, gguf.path,
                                                     options.n_gpu_layers)
            except Exception as exc:  # noqa: BLE001 - a bad cache must not fail the load
                log.warning("thread measurement not read: %s", exc)
                measured = None
            if measured is not None:
                quiet = min(quiet, measured.best)
        return quiet

    def _measured_threads(self, llama, gguf: GGUFInfo, options: LoadOptions,
                          busy: float | None,
                          chosen: hardware.ThreadChoice) -> hardware.ThreadChoice:
        """The probe's count (cached, or measured now on ``llama``'s empty context) set on
        ``llama``; ``chosen`` (what it was opened with) if anything goes wrong."""
        from . import llama_api

        try:
            measured = self._thread_probe.choose(llama, self._cpu, gguf.path,
                                                 n_gpu_layers=options.n_gpu_layers,
                                                 others_busy=busy)
            llama_api.set_threads(llama, measured.threads)
            return measured
        except Exception as exc:  # noqa: BLE001 - a failed probe must not fail the load
            log.warning("thread measurement failed (%s: %s); %d threads [%s]",
                        type(exc).__name__, exc, chosen.threads, chosen.reason)
            llama_api.drop_positions_from(llama.ctx, 0)
            llama_api.set_threads(llama, chosen.threads)
            return chosen

    @staticmethod
    def _formatter_for(llama, gguf: GGUFInfo,
                       override: str | None) -> tuple[ChatPromptFormatter, str]:
        from . import llama_api

        bos, eos = llama_api.special_token_texts(llama)
        try:
            choice = choose_chat_template(embedded=gguf.chat_template,
                                          architecture=gguf.architecture,
                                          has_token=llama_api.vocab_has_token(llama),
                                          override=override)
        except ValueError as exc:
            raise EngineError(f"the catalog's chat format for this model is unusable: {exc}") from exc
        if choice.source != "embedded":
            log.warning("%s: chat template %s", gguf.path, choice.note)
        formatter = ChatPromptFormatter(choice.template, bos_token=bos, eos_token=eos,
                                        extra_stops=choice.stops)
        return formatter, choice.note

    def unload(self) -> None:
        """Close every loaded model and give its memory back."""
        with self._busy:
            self._model = None
            self._pool.close_all()
            self._embedder.close()

    # -- embeddings ----------------------------------------------------------
    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """One unit vector per text, from the GGUF at ``model`` (default: the active
        model's file) in an embedding context of its own (embedder.py), opened on first
        use and kept open until another file is asked for or ``unload``."""
        with self._busy:
            if model is None:
                path = self._require_model().info.path
                layers = self._require_model().info.n_gpu_layers
            else:
                path, layers = model, 0
            return self._embedder.embed(path, texts, n_gpu_layers=layers)

    # -- generating --------------------------------------------------------
    def cancel(self) -> None:
        """Stop the running generation (thread-safe; a no-op when idle)."""
        active = self._active
        if active is not None:
            active.cancel()

    def render_prompt(self, messages: list[Message]) -> RenderedPrompt:
        """The exact text (and stop strings) the active model would be given."""
        return self._require_model().formatter.render(messages)

    def count_prompt_tokens(self, messages: list[Message]) -> int:
        model = self._require_model()
        return len(self._tokenize(model, model.formatter.render(messages).text))

    def generate(self, messages: list[Message],
                 params: GenerationParams = GenerationParams()) -> Generation:
        """A handle on the assistant's answer to ``messages`` (see contract.py); the
        last event is ReplyFinished. Raises ``ContextOverflowError`` (or another
        ``EngineError``) while iterating. The model is the one active when it starts."""
        self._require_model()
        messages = [dict(m) for m in messages]
        return Generation(lambda handle: self._locked_generate(handle, messages, params))

    def _locked_generate(self, handle: Generation, messages: list[Message],
                         params: GenerationParams) -> Iterator[EngineEvent]:
        with self._busy:
            if handle.cancelled:  # cancelled before it began: llama.cpp is not touched
                yield cancelled_before_start()
                return
            self._active = handle
            try:
                yield from self._generate(self._require_model(), messages, params,
                                          handle.cancel_event)
            finally:
                self._active = None

    def _generate(self, model: LoadedModel, messages: list[Message],
                  params: GenerationParams, cancel: threading.Event) -> Iterator[EngineEvent]:
        started = time.perf_counter()
        if params.json_schema:
            params = replace(params, grammar=grammar_for(params), json_schema=None)
        n_ctx = model.info.context_size
        fitted = self._fitter.fit(
            messages, n_ctx=n_ctx, max_tokens=params.max_tokens,
            tokenize=lambda kept: self._tokenize(model, model.formatter.render(kept).text))
        tokens = fitted.tokens
        llama = model.llama
        decoder = model.decoder
        cached = decoder.reuse_prefix(tokens)
        decoder.reserve(len(tokens))  # before the abort callback goes on the context
        budget = min(params.max_tokens, n_ctx - len(tokens))
        decoder_text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopMatcher(model.formatter.stop_strings)
        # Per token, as little Python as possible: it runs with caches cold from the
        # decode (see decode.py). One lookup gives end-of-generation, bytes and text;
        # the UTF-8 decoder is needed only around characters split across tokens; the
        # stop matcher only for text holding a stop string's first character (else,
        # while it holds nothing back, it would pass the text through unchanged).
        texts = decoder.texts
        stop_starts = frozenset(stop[0] for stop in model.formatter.stop_strings if stop)
        held, partial = 0, False  # characters the matcher holds; a split character pending
        parts: list[str] = []
        n_out, first_at, reason = 0, None, "stop"
        self._set_abort(llama, cancel)
        lookup = PromptLookup() if params.prompt_lookup else None
        guard = LoopGuard() if params.stop_loops and not params.grammar else None
        if decoder.watch is not None:
            decoder.watch.start()
        with Sampler(decoder, params) as sampler:
            confidence = sampler.confidence
            stream = decoder.stream(tokens[cached:], sampler, cancel, lookup=lookup)
            try:
                for token in stream:
                    if first_at is None:
                        first_at = time.perf_counter()
                        self._set_abort(llama, None)
                    entry = texts[token]
                    if entry is None:  # end of generation
                        reason = "stop"
                        break
                    n_out += 1
                    piece, piece_text = entry
                    if piece_text is None or partial:
                        piece_text = decoder_text.decode(piece)
                        partial = bool(decoder_text.getstate()[0])
                    if held or not stop_starts.isdisjoint(piece_text):
                        text, hit = stops.feed(piece_text)
                        held += len(piece_text) - len(text)
                    else:
                        text, hit = piece_text, False
                    if text:
                        parts.append(text)
                        yield TextDelta(text)
                    if hit:
                        reason = "stop"
                        break
                    if guard is not None and guard.feed(token):
                        reason = "repetition"
                        log.info("answer stopped after %d tokens: a loop of %d token(s)",
                                 n_out, guard.period)
                        break
                    if n_out >= budget:
                        reason = "context_full" if budget < params.max_tokens else "length"
                        break
                else:
                    reason = "cancelled" if cancel.is_set() else "stop"
            finally:
                stream.close()
                self._set_abort(llama, None)
        if reason != "stop":
            tail = stops.flush() + decoder_text.decode(b"", final=True)
            if tail:
                parts.append(tail)
                yield TextDelta(tail)
        finished = time.perf_counter()
        stats = ReplyStats(
            prompt_tokens=len(tokens), cached_prompt_tokens=cached, completion_tokens=n_out,
            time_to_first_token_s=round((first_at or finished) - started, 4),
            decode_tokens_per_s=_rate(n_out, first_at, finished),
            total_s=round(finished - started, 4),
            context_used=len(tokens) + n_out, context_size=n_ctx, dropped_messages=fitted.dropped,
            draft_tokens=lookup.drafted if lookup else 0,
            draft_accepted=lookup.accepted if lookup else 0,
            n_threads=decoder.watch.current if decoder.watch else model.info.n_threads,
            threads_note=decoder.watch.note() if decoder.watch else "",
            **(confidence.fields() if confidence is not None else {}))
        self._last_stats = stats
        yield ReplyFinished(reason=reason, text="".join(parts), stats=stats)

    def stats(self) -> dict:
        return {
            "model": self._model.info.to_dict() if self._model else None,
            "loaded_models": [info.name for info in self._pool.infos()],
            "last_reply": self._last_stats.to_dict() if self._last_stats else None,
        }

    # -- helpers -----------------------------------------------------------
    def _require_model(self) -> LoadedModel:
        if self._model is None:
            raise NoModelLoadedError("no model is loaded; choose one first")
        return self._model

    @staticmethod
    def _tokenize(model: LoadedModel, text: str) -> list[int]:
        # The template already placed any BOS it wants, hence add_bos=False.
        return model.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _set_abort(self, llama, cancel: threading.Event | None) -> None:
        from . import llama_api

        # cancel.is_set is called by ggml per graph node while it is on
        callback = llama_api.set_abort_check(llama, None if cancel is None else cancel.is_set)
        if callback is not None:
            self._abort_cb = callback  # llama.cpp holds a raw pointer to it


def _open_file(path: str | Path) -> OpenedModel:
    """The model file, open; a file that cannot be opened raises the ModelFileError
    ``inspect_gguf`` names (missing, a folder, unreadable)."""
    try:
        return open_model_file(path)
    except OSError as exc:
        inspect_gguf(path)  # says what is wrong in its own words
        raise ModelFileError(f"{Path(path).name} cannot be opened: "
                             f"{exc.strerror or exc}", path=str(path)) from exc


def _unchangeable(opened: OpenedModel) -> OpenedModel:
    try:
        return unchangeable(opened)
    except OSError as exc:  # no room for the snapshot: refused, never loaded unchecked
        raise ModelFileError(f"{opened.path.name} could not be read to be checked: "
                             f"{exc.strerror or exc}", path=str(opened.path)) from exc


def _device_memory(plan: offload.OffloadPlan | None) -> hardware.GpuMemory | None:
    """The offload device's memory, for the memory pre-check (None: everything in RAM)."""
    device = plan.device if plan is not None else None
    if device is None:
        return None
    return hardware.GpuMemory(device.description, device.total_bytes, device.free_bytes)


def _context_size(gguf: GGUFInfo, options: LoadOptions) -> int:
    """The context a load really gets: the requested one, capped by the trained one."""
    return min(options.n_ctx, gguf.context_length or options.n_ctx)


def _step_tokens(options: LoadOptions, n_ctx: int) -> int:
    """llama.cpp's n_ubatch for a load: tokens per compute step of a prompt."""
    return max(1, min(options.n_ubatch, options.n_batch, n_ctx))


def _rate(n_tokens: int, first_at: float | None, finished: float) -> float:
    if first_at is None or n_tokens < 2 or finished <= first_at:
        return 0.0
    return round((n_tokens - 1) / (finished - first_at), 2)
