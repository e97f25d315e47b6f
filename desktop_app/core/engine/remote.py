"""RemoteEngine: the organization's bigger model behind the same engine contract.

Any OpenAI-compatible chat-completions server (vLLM, llama.cpp's llama-server,
llama-cpp-python's server, Ollama's /v1, LM Studio, a cloud endpoint). ``load`` asks
``GET /models`` whether the model is there; ``generate`` streams ``POST
/chat/completions`` over SSE. HTTP is httpx2 (the client huggingface_hub and the
``openai`` package use here): one pooled client per engine, made on first use, with
the policy's proxy and its CA bundle added to the usual roots; TLS is always verified.

Each request's response is read on its own thread ("scalpel-remote-stream") into a
queue, so ``cancel()`` from any thread ends the handle at once, even while the server
has not yet sent a byte; the socket is shut down so the server sees the hang-up.

A stream that stops part-way never loses what arrived: every piece is yielded as a
``TextDelta`` first, then ``RemoteAnswerCutError`` is raised (``cut`` true,
``partial_text`` the pieces joined), so a session keeps the text and marks it.
"""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path

from ..errors import NoModelLoadedError, RemoteEngineError, RemoteModelNotFoundError
from . import chat_completions as wire
from . import remote_faults as faults
from .contract import Generation, cancelled_before_start
from .remote_stream import ResponseStream, error_detail
from .types import (GenerationParams, LoadOptions, Message, ModelInfo, ReplyFinished,
                    ReplyStats, TextDelta)


class RemoteEngine:
    def __init__(self, *, endpoint: str, model: str, api_key: str | None = None,
                 proxy: str | None = None, ca_bundle: str | Path | None = None,
                 connect_timeout_s: float = 10.0, read_timeout_s: float = 120.0) -> None:
        self.endpoint = endpoint
        self.base = wire.base_url(endpoint)
        self.host = wire.host_of(endpoint)
        self.model = model
        self.proxy = proxy
        self.ca_bundle = str(ca_bundle) if ca_bundle else None
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s   # for the first byte and between pieces
        self.on_restart = None
        self._headers = {"Accept": "text/event-stream"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._lock = threading.Lock()
        self._client = None
        self._info: ModelInfo | None = None
        self._active: set[Generation] = set()
        self._requests = 0

    # -- the contract's properties ---------------------------------------------------------
    @property
    def model_info(self) -> ModelInfo | None:
        return self._info

    @property
    def keep_loaded(self) -> int:
        return 1  # a remote model holds nothing on this computer

    @keep_loaded.setter
    def keep_loaded(self, count: int) -> None:
        pass

    # -- load / unload ------------------------------------------------------------------------
    def load(self, path: str | Path | None = None, options: LoadOptions = LoadOptions(), *,
             name: str | None = None) -> ModelInfo:
        """Check that the server lists the model. ``path`` is the model's id on the server
        (None or "": the one given to the constructor; a Path is used as its text, which
        is how llama-cpp-python's server names a model started without an alias)."""
        model = str(path) if path not in (None, "") else self.model
        started = time.monotonic()
        response = self._request("GET", "/models", model=model)
        try:
            entries = wire.model_entries(response.json())
        except ValueError as exc:
            raise faults.not_a_stream(host=self.host, content_type=str(exc)) from exc
        entry = next((e for e in entries if e["id"] == model), None)
        if entry is None:
            known = ", ".join(sorted(e["id"] for e in entries)[:5]) or "none"
            raise RemoteModelNotFoundError(
                f"The organization's model at {self.host} has no model named '{model}' "
                f"(it lists: {known}): check the model name in {faults.SETTINGS}.",
                host=self.host, model=model)
        stated = wire.server_context(entry)
        self.model = model
        self._info = ModelInfo(
            path=f"{self.base}#{model}", name=name or model, architecture="remote",
            quantization="remote", parameter_count=0, file_size=0,
            context_size=stated or options.n_ctx, trained_context=stated, n_threads=0,
            n_gpu_layers=0, chat_template=f"the server's own ({self.host})",
            load_seconds=round(time.monotonic() - started, 4))
        return self._info

    def unload(self) -> None:
        self.cancel()
        with self._lock:
            client, self._client = self._client, None
            self._info = None
        if client is not None:
            client.close()

    def loaded_models(self) -> list[ModelInfo]:
        return [self._info] if self._info else []

    def stats(self) -> dict:
        return {"model": self._info.to_dict() if self._info else None, "where": "remote",
                "endpoint": self.base, "requests": self._requests,
                "answering": len(self._active)}

    # -- answers ------------------------------------------------------------------------------
    def generate(self, messages: list[Message],
                 params: GenerationParams = GenerationParams()) -> Generation:
        if self._info is None:
            raise NoModelLoadedError("no model is loaded; choose one first")
        info, model = self._info, self.model
        return Generation(lambda handle: self._answer(handle, list(messages), params, info,
                                                      model))

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """``POST /embeddings``: one unit vector per text, in order (``model`` None: the
        loaded model). A server that makes no embeddings answers with its HTTP error."""
        from .embedder import check_texts, normalized

        if model is None and self._info is None:
            raise NoModelLoadedError("no model is loaded; choose one first")
        texts = check_texts(texts)
        if not texts:
            return []
        name = str(model) if model is not None else self.model
        with self._lock:
            self._requests += 1
        response = self._request("POST", "/embeddings", model=name,
                                 json={"model": name, "input": texts})
        try:
            rows = sorted(response.json()["data"], key=lambda row: row["index"])
            vectors = [normalized([float(x) for x in row["embedding"]]) for row in rows]
        except (ValueError, KeyError, TypeError) as exc:
            vectors, problem = [], f"no usable data: {exc}"
        else:
            problem = f"{len(vectors)} vectors for {len(texts)} texts"
        if len(vectors) != len(texts) or not vectors:
            raise RemoteEngineError(
                f"The organization's model at {self.host} sent embeddings Scalpel cannot "
                f"read ({problem}): check that the endpoint in {faults.SETTINGS} is an "
                "OpenAI-compatible API.", kind="malformed", host=self.host)
        return vectors

    def cancel(self) -> None:
        with self._lock:
            active = list(self._active)
        for handle in active:
            handle.cancel()

    def _answer(self, handle: Generation, messages: list[Message], params: GenerationParams,
                info: ModelInfo, model: str):
        if handle.cancelled:
            yield cancelled_before_start()
            return
        if params.grammar:
            raise faults.grammar_unsupported(host=self.host)
        body = wire.request_body(model, messages, params)
        bodies = [body] + ([wire.json_object_body(body)] if params.json_schema else [])
        with self._lock:
            self._active.add(handle)
            self._requests += 1
        parts: list[str] = []
        started = time.monotonic()
        first_at = last_at = None
        chunks, usage_in, usage_out, reason, done = 0, None, None, None, False
        try:
            for kind, value in self._items(handle, bodies):
                if handle.cancelled:
                    break
                if kind == "status":
                    status, retry_after, detail = value
                    raise faults.http_failure(status, host=self.host, model=model,
                                              path="/chat/completions", detail=detail,
                                              retry_after=retry_after)
                if kind == "content-type":
                    raise faults.not_a_stream(host=self.host, content_type=value)
                if kind == "error":
                    raise self._failure(value, "".join(parts), started=first_at is not None)
                if kind == "done":
                    done = True
                    break
                try:
                    chunk = wire.read_chunk(value)
                except wire.MalformedChunk as exc:
                    raise faults.answer_cut("malformed", host=self.host,
                                            partial_text="".join(parts), detail=str(exc))
                if chunk.error:
                    raise faults.answer_cut("server", host=self.host,
                                            partial_text="".join(parts), detail=chunk.error)
                usage_in = chunk.prompt_tokens if chunk.prompt_tokens is not None else usage_in
                usage_out = (chunk.completion_tokens if chunk.completion_tokens is not None
                             else usage_out)
                reason = chunk.finish_reason or reason
                if chunk.text:
                    last_at = time.monotonic()
                    first_at = first_at or last_at
                    chunks += 1
                    parts.append(chunk.text)
                    yield TextDelta(chunk.text)
            if not handle.cancelled and reason is None and not done:
                raise faults.answer_cut("cut", host=self.host, partial_text="".join(parts))
            finished = time.monotonic()
            n_out = usage_out if usage_out is not None else chunks
            n_in = usage_in or 0
            stats = ReplyStats(
                prompt_tokens=n_in, completion_tokens=n_out,
                time_to_first_token_s=round((first_at or finished) - started, 4),
                decode_tokens_per_s=_rate(n_out, first_at, last_at),
                total_s=round(finished - started, 4), context_used=n_in + n_out,
                context_size=info.context_size)
            yield ReplyFinished(reason="cancelled" if handle.cancelled else
                                wire.finish_reason(reason), text="".join(parts), stats=stats)
        finally:
            with self._lock:
                self._active.discard(handle)

    def _items(self, handle: Generation, bodies: list[dict]):
        """The stream's items; a body the server refuses for its ``response_format`` is
        sent again in the next form (llama-cpp-python's server knows only ``json_object``
        with a ``schema``). Each stream is closed when left, and ends on ``cancel()``."""
        for index, body in enumerate(bodies):
            stream = ResponseStream(self._http(), f"{self.base}/chat/completions", body,
                                    self._headers)
            handle.when_cancelled(stream.abort)
            try:
                for kind, value in stream.items():
                    if (kind == "status" and index + 1 < len(bodies)
                            and "response_format" in value[2]):
                        break
                    yield kind, value
                else:
                    return
            finally:
                stream.abort()

    def _failure(self, exc: BaseException, partial: str, *, started: bool) -> RemoteEngineError:
        if isinstance(exc, RemoteEngineError):
            return exc
        import httpx2

        if isinstance(exc, httpx2.ReadTimeout) and (started or partial):
            return faults.answer_cut("timeout", host=self.host, partial_text=partial,
                                     silent_s=self.read_timeout_s)
        if started or partial or isinstance(exc, (httpx2.RemoteProtocolError,
                                                  httpx2.ReadError)):
            return faults.answer_cut("cut", host=self.host, partial_text=partial)
        return faults.transport_failure(exc, host=self.host, first_byte_s=self.read_timeout_s,
                                        proxy=self.proxy)

    # -- HTTP -----------------------------------------------------------------------------------
    def _http(self):
        with self._lock:
            if self._client is None:
                import httpx2

                timeout = httpx2.Timeout(self.read_timeout_s, connect=self.connect_timeout_s)
                self._client = httpx2.Client(proxy=self.proxy, verify=self._verify(),
                                             timeout=timeout, follow_redirects=False)
            return self._client

    def _verify(self) -> ssl.SSLContext | bool:
        if not self.ca_bundle:
            return True
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
        try:
            context.load_verify_locations(cafile=self.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise faults.bad_ca_bundle(self.ca_bundle, exc, host=self.host) from exc
        return context

    def _request(self, method: str, path: str, *, model: str, json: dict | None = None):
        import httpx2

        try:
            response = self._http().request(method, f"{self.base}{path}",
                                            headers=self._headers, json=json)
        except httpx2.HTTPError as exc:
            raise faults.transport_failure(exc, host=self.host, first_byte_s=self.read_timeout_s,
                                           proxy=self.proxy) from exc
        if response.status_code != 200:
            raise faults.http_failure(response.status_code, host=self.host, model=model,
                                      path=path, detail=error_detail(response.text),
                                      retry_after=response.headers.get("retry-after"))
        return response


def _rate(n_tokens: int, first_at: float | None, last_at: float | None) -> float:
    if first_at is None or last_at is None or n_tokens < 2 or last_at <= first_at:
        return 0.0
    return round((n_tokens - 1) / (last_at - first_at), 2)
