"""A small OpenAI-compatible chat server on 127.0.0.1 that fails on request.

``FaultServer(fault=..., tls=(cert, key)).start()``; set ``.fault`` between requests.
It lists one model ("big-model", 8,192 tokens) and streams "one two three four " as
SSE chunks, then a finish chunk, a usage chunk and ``[DONE]``. Faults:
  "401", "403", "404", "429" (Retry-After: 7), "503"   that status, on every path
  "no_usage"      the normal stream without a usage chunk
  "length"        finish_reason "length"
  "cut"           two pieces, then the connection is dropped mid-body
  "eof"           two pieces, then the body ends cleanly (no finish, no [DONE])
  "malformed"     two pieces, then a ``data:`` line that is not JSON
  "bad_first"     a ``data:`` line that is not JSON, first
  "error_event"   one piece, then an ``{"error": ...}`` payload inside the stream
  "json"          a 200 with application/json instead of a stream
  "slow_first"    nothing at all for ``delay`` seconds, then the normal stream
  "stall"         two pieces, then silence for ``delay`` seconds
  "hang"          one piece, then silence until stop()
  "old_schema"    a 500 naming response_format for ``json_schema``; ``json_object`` works
Everything stays on this machine; ``requests`` records (method, path, headers, body).
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "big-model"
WORDS = ["one ", "two ", "three ", "four "]


class FaultServer:
    def __init__(self, *, fault: str = "ok", delay: float = 2.0,
                 tls: tuple[str, str] | None = None) -> None:
        self.fault, self.delay = fault, delay
        self.requests: list[tuple[str, str, dict, dict | None]] = []
        self.release = threading.Event()
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "FaultServer":
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def _chunk(text: str = "", finish: str | None = None) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "model": MODEL,
            "choices": [{"index": 0, "delta": {"content": text} if text else {},
                         "finish_reason": finish}]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner: FaultServer

    def log_message(self, *_args) -> None:
        pass

    def do_GET(self) -> None:
        self._record(None)
        if not self._status_fault():
            self._json(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "max_model_len": 8192}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self._record(body)
        if self._status_fault():
            return
        owner, fault = self.server_owner, self.server_owner.fault
        if fault == "old_schema" and body.get("response_format", {}).get("type") == "json_schema":
            self._json(500, {"detail": "literal_error at ('body', 'response_format', 'type')"})
            return
        if fault == "json":
            self._json(200, {"choices": [{"message": {"content": "hi"}}]})
            return
        if fault == "slow_first":
            owner.release.wait(owner.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if fault == "eof":
            self.send_header("Connection", "close")  # the body ends when the socket does
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._stream(fault, owner)
        except OSError:
            pass  # the client hung up

    def _stream(self, fault: str, owner: FaultServer) -> None:
        if fault == "bad_first":
            return self._send("data: this is not json\n\n", final=True)
        count = {"cut": 2, "eof": 2, "malformed": 2, "stall": 2, "hang": 1,
                 "error_event": 1}.get(fault, len(WORDS))
        for word in WORDS[:count]:
            self._send(f"data: {json.dumps(_chunk(word))}\n\n", plain=fault == "eof")
        if fault == "eof":
            self.close_connection = True
            return
        if fault == "cut":
            self.close_connection = True
            self.connection.shutdown(2)  # mid-body: the chunked body never ends
            return
        if fault in ("stall", "hang"):
            owner.release.wait(owner.delay if fault == "stall" else 30)
            return self._send("", final=True)
        if fault == "malformed":
            return self._send("data: {oops\n\n", final=True)
        if fault == "error_event":
            return self._send('data: {"error": {"message": "out of memory"}}\n\n', final=True)
        self._send(f"data: {json.dumps(_chunk(finish='length' if fault == 'length' else 'stop'))}"
                   "\n\n")
        if fault != "no_usage":
            usage = {**_chunk(), "choices": [],
                     "usage": {"prompt_tokens": 12, "completion_tokens": 42}}
            self._send(f"data: {json.dumps(usage)}\n\n")
        self._send("data: [DONE]\n\n", final=True)

    def _send(self, text: str, *, final: bool = False, plain: bool = False) -> None:
        data = text.encode()
        if plain:
            self.wfile.write(data)
        else:
            if data:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            if final:
                self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _status_fault(self) -> bool:
        fault = self.server_owner.fault
        if fault not in ("401", "403", "404", "429", "503"):
            return False
        message = {"401": "Invalid API key", "403": "Key not allowed",
                   "404": f"The model '{MODEL}' does not exist", "429": "Rate limit reached",
                   "503": "Overloaded"}[fault]
        self._json(int(fault), {"error": {"message": message}},
                   {"Retry-After": "7"} if fault == "429" else {})
        return True

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: dict | None) -> None:
        self.server_owner.requests.append((self.command, self.path, dict(self.headers), body))
