"""The API benchmark's requests/s counts completed answers only (text and a finish reason),
for Scalpel and llama_cpp.server alike; its GUI benchmark's stall figures are the heartbeat's."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.bench_api import Streamed, requests_per_second, stream
from benchmarks.bench_api_gui import stall_figures


def sse(*chunks: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + \
        b"data: [DONE]\n\n"


def delta(content: str | None = None, finish: str | None = None) -> dict:
    return {"choices": [{"delta": {"content": content} if content else {},
                         "finish_reason": finish}]}


REPLIES = {  # what the fake server answers, in turn
    "answer": (200, sse(delta("Hello"), delta(" there"), delta(finish="length"))),
    "empty": (200, sse(delta(finish="stop"))),  # a reply with no text
    "cut": (200, sse(delta("Hel"))),            # interrupted: [DONE] without a finish reason
    "refused": (429, b'{"error": "busy"}'),
}


@pytest.fixture
def server():
    """A chat-completions server that answers each request with the next reply of ``plan``."""
    plan: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server naming
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                status, body = REPLIES[plan.pop(0)]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    yield httpd.server_address[1], plan
    httpd.shutdown()
    httpd.server_close()


def test_a_stream_says_whether_it_was_a_completed_answer(server):
    port, plan = server
    plan.extend(["answer", "empty", "cut"])
    answer, empty, cut = (stream(port, None, "hi", 8) for _ in range(3))
    assert answer.completed and answer.characters == len("Hello there")
    assert answer.tokens == 2 and answer.finish_reason == "length"
    assert not empty.completed and empty.finish_reason == "stop"
    assert not cut.completed and cut.characters == 3 and cut.finish_reason is None
    assert Streamed.from_dict(answer.to_dict()) == answer


@pytest.mark.parametrize("clients", [1, 3])
def test_requests_per_second_counts_only_completed_answers(server, clients):
    port, plan = server
    plan.extend(["answer", "cut", "empty", "refused", "answer", "answer"])
    rate, unanswered = requests_per_second(port, None, clients, total=6)
    assert unanswered == 3  # cut short, empty, refused
    assert rate > 0 and not plan


def test_stall_figures_are_the_longest_and_99th_percentile_gap():
    gaps = [0.005] * 199 + [0.080]
    figures = stall_figures(gaps)
    assert figures["max_ms"] == pytest.approx(80.0)
    assert figures["p99_ms"] < 80.0 and figures["gaps"] == 200
    with pytest.raises(RuntimeError, match="too few"):
        stall_figures([0.005])
