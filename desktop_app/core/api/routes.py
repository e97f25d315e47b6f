"""The API's endpoints on Starlette: models, chat completions, embeddings, health.

``create_app`` wires them behind the ``Guard`` (security.py). Every error leaves in
OpenAI's body shape (errors.py). Chat requests are admitted (limits.py), then run on
the engine (generation_run.py); a stream's headers go out with its first token, so a
request that fails before that (unknown model, context overflow, window busy with
another model) gets its real status code rather than a broken stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..json_files import MAX_DEPTH, nesting_depth
from ..engine.types import ReplyFinished, TextDelta
from ..errors import ScalpelError
from .chat_request import ChatRequest, parse_chat_request
from .chat_response import Completion, StopScanner, finish_reason, sse
from .config import ApiOptions
from .embeddings import embedding_response, parse_embedding_request
from .engine_host import EngineHost
from .errors import ApiError, from_scalpel_error
from .generation_run import GenerationRun
from .limits import Admission
from .security import too_large

log = logging.getLogger(__name__)

class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, counted as it arrives (a chunked body has no Content-Length)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8") or "null"
        depth = nesting_depth(text)  # before json.loads: deep nesting would recurse
        if depth > MAX_DEPTH:
            raise ApiError(400, f"The request body is nested {depth:,} levels deep; at most "
                                f"{MAX_DEPTH} are accepted.", None, "invalid_json")
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON ({exc}).", None,
                       "invalid_json") from exc


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_gone(request: Request, run: GenerationRun, work) -> Any:
    """``work`` (a coroutine), or ClientGone (and the run cancelled) if the client leaves."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if task in done:
        return task.result()
    task.cancel()
    run.cancel()
    raise ClientGone()


class Api:
    def __init__(self, host: EngineHost, options: ApiOptions) -> None:
        self.host = host
        self.options = options
        self.admission = Admission(options.queue_size)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(self, request: Request) -> Response:
        data = await run_in_threadpool(self.host.list_models)
        return JSONResponse({"object": "list", "data": data})

    async def model(self, request: Request) -> Response:
        wanted = request.path_params["model_id"]
        data = await run_in_threadpool(self.host.list_models)
        for item in data:
            if item["id"] == wanted:
                return JSONResponse(item)
        raise ApiError(404, f"There is no model or preset called {wanted!r} here.", "model",
                       "model_not_found")

    async def embeddings(self, request: Request) -> Response:
        body = parse_embedding_request(await read_json(request, self.options.max_body_bytes))
        request.state.model = body.model
        ticket = self.admission.enter()
        try:
            model_id, vectors = await run_in_threadpool(self._embed, body.model,
                                                        list(body.texts))
        finally:
            ticket.release()
        return JSONResponse(embedding_response(body, model_id, vectors))

    def _embed(self, wanted: str, texts: list[str]) -> tuple[str, list[list[float]]]:
        """On a worker thread, after the requests before it (the host's lock)."""
        services = self.host.services
        ref = services.embedding_model()
        if ref is None:
            configured = services.settings.embedding_model
            problem = (f"the embedding model set in settings ({configured!r}) is not installed"
                       if configured else "no embedding model is installed or set")
            raise ApiError(404, f"This server cannot make embeddings: {problem}. Install an "
                           "embedding model (a GGUF such as nomic-embed-text), or set "
                           "\"embedding_model\" in Scalpel's settings.json to a model id or "
                           "file path.", "model", "no_embedding_model")
        if wanted and wanted not in (ref.id, str(ref.path)):
            raise ApiError(404, f"There is no embedding model called {wanted!r} here; this "
                           f"server embeds with {ref.id!r}.", "model", "model_not_found")
        try:
            with self.host.lock:
                return ref.id, self.host.engine.embed(texts, model=str(ref.path))
        except ScalpelError as exc:
            raise from_scalpel_error(exc) from exc

    async def chat(self, request: Request) -> Response:
        body = await read_json(request, self.options.max_body_bytes)
        chat = parse_chat_request(body, max_tokens_cap=self.options.max_tokens_cap)
        request.state.model = chat.model
        target = await run_in_threadpool(self.host.resolve, chat.model)
        ticket = self.admission.enter()
        try:
            run = GenerationRun(self.host, target, chat.messages, chat,
                                cap=self.options.max_tokens_cap, ticket=ticket).start()
        except BaseException:
            ticket.release()
            raise
        try:
            first = await _unless_gone(request, run, run.next())
            if not chat.stream:
                return await _unless_gone(request, run, self._whole(run, chat, first))
        except ClientGone:
            return Response(status_code=499)
        except BaseException:
            run.cancel()
            raise
        return StreamingResponse(self._stream(run, chat, first), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    async def _whole(self, run: GenerationRun, chat: ChatRequest, item: Any) -> Response:
        scanner, parts, finished = StopScanner(chat.stop), [], None
        while item is not None:
            if isinstance(item, TextDelta):
                parts.append(scanner.feed(item.text))
                if scanner.hit:
                    run.cancel()
            elif isinstance(item, ReplyFinished):
                finished = item
            item = await run.next()
        parts.append(scanner.flush())
        reply = Completion(run.model).whole(
            "".join(parts), finish_reason(finished.reason if finished else "stop", scanner.hit),
            finished.stats if finished else None)
        return JSONResponse(reply)

    async def _stream(self, run: GenerationRun, chat: ChatRequest, item: Any):
        completion, scanner, finished = Completion(run.model), StopScanner(chat.stop), None
        try:
            yield sse(completion.chunk({"role": "assistant", "content": ""}))
            while item is not None:
                if isinstance(item, TextDelta):
                    text = scanner.feed(item.text)
                    if scanner.hit:
                        run.cancel()
                    if text:
                        yield sse(completion.chunk({"content": text}))
                elif isinstance(item, ReplyFinished):
                    finished = item
                item = await run.next()
            if tail := scanner.flush():
                yield sse(completion.chunk({"content": tail}))
            reason = finish_reason(finished.reason if finished else "stop", scanner.hit)
            yield sse(completion.chunk({}, reason))
            if chat.include_usage:
                yield sse(completion.usage_chunk(finished.stats if finished else None))
            yield sse("[DONE]")
        except ApiError as exc:  # failed part-way: the error as the last event
            yield sse(exc.body())
        finally:
            run.cancel()  # a no-op once finished; a client gone mid-stream lands here


def create_app(host: EngineHost, options: ApiOptions) -> tuple[Starlette, Api]:
    api = Api(host, options)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        message = ("No such endpoint; this server offers /v1/models, /v1/chat/completions, "
                   "/v1/embeddings and /health." if status == 404 else
                   f"{request.method} is not allowed here." if status == 405 else
                   str(exc.detail))
        return error_response(ApiError(status, message, None, None, dict(exc.headers or {})))

    routes = [Route("/health", api.health, methods=["GET"]),
              Route("/v1/models", api.models, methods=["GET"]),
              Route("/v1/models/{model_id:path}", api.model, methods=["GET"]),
              Route("/v1/chat/completions", api.chat, methods=["POST"]),
              Route("/v1/embeddings", api.embeddings, methods=["POST"])]
    app = Starlette(routes=routes, exception_handlers={ApiError: api_error,
                                                       HTTPException: http_error})
    return app, api
