"""The local API: what going through HTTP costs, against the in-app engine and against
llama-cpp-python's own server, on the same model, prompt and threads.

Side by side, each side once per round in rotating order (the machine is shared and
noisy; medians, and ratios as medians of per-round ratios):
* decode tok/s as a streaming client sees it (first text to the last text):
  ``scalpel serve`` vs the window's engine (``EngineProcess``) called directly
  (target: API >= 0.95 x in-app) vs ``python -m llama_cpp.server``;
* time to first token (request sent -> first text) for each;
* requests/s for short completions (8 tokens) with 1, 4 and 16 concurrent clients,
  for ``scalpel serve`` and llama_cpp.server; only completed answers count (text and a
  finish reason: not refused, failed, empty or cut short).
The window's responsiveness while its API streams is ``bench_api_gui``.

    python benchmarks/bench_api.py [--model PATH] [--threads 2] [--rounds 3] [--requests 16]

llama_cpp.server needs ``pip install "llama-cpp-python[server]==0.3.36"`` (extra Python
packages only); without them that column is skipped and says so.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_decode import DEFAULT_THREADS, starter_model_path  # noqa: E402
from benchmarks.report import (INFO, SKIPPED, Row, at_least, format_ratio,  # noqa: E402
                               markdown_table)
from desktop_app.core.engine import (GenerationParams, LoadOptions,  # noqa: E402
                                     ReplyFinished, TextDelta)
from desktop_app.core.engine.process import EngineProcess  # noqa: E402

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
SHORT = "Say hello."
SHORT_TOKENS = 8
DECODE_TOKENS = 128
CONCURRENCY = (1, 4, 16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Streamed:
    """One streamed reply as its client saw it."""
    ttft_s: float        # request sent -> first text
    tok_per_s: float     # decode rate, first text -> last text
    tokens: int          # completion tokens (the usage figure, else text chunks)
    characters: int      # of text received
    finish_reason: str | None  # None: the stream ended without saying why (cut short)

    @property
    def completed(self) -> bool:
        """An answer: some text, and a stream that ended with a finish reason."""
        return self.characters > 0 and self.finish_reason is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Streamed":
        return cls(**data)


def stream(port: int, token: str | None, prompt: str, max_tokens: int) -> Streamed:
    """One greedy streamed chat completion over plain HTTP."""
    body = json.dumps({"model": "", "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": max_tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    sent = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read()[:200]!r}")
    first = last = None
    chunks, characters, usage, finish = 0, 0, None, None
    while line := response.readline():
        if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
            continue
        data = json.loads(line[6:])
        usage = data.get("usage") or usage
        if not data.get("choices"):
            continue
        choice = data["choices"][0]
        finish = choice.get("finish_reason") or finish
        if choice["delta"].get("content"):
            now = time.perf_counter()
            first = first or now
            last = now
            chunks += 1
            characters += len(choice["delta"]["content"])
    conn.close()
    tokens = usage["completion_tokens"] if usage else chunks
    if first is None:  # no text at all (a reply that ended at once)
        return Streamed(time.perf_counter() - sent, 0.0, tokens, 0, finish)
    rate = (tokens - 1) / (last - first) if last > first else 0.0
    return Streamed(first - sent, rate, tokens, characters, finish)


def in_app(engine: EngineProcess, prompt: str, max_tokens: int) -> Streamed:
    """The same request straight to the engine process, as the window makes it."""
    sent = time.perf_counter()
    first = last = None
    characters, tokens, finish = 0, 0, None
    with engine.generate([{"role": "user", "content": prompt}],
                         GenerationParams(temperature=0, max_tokens=max_tokens)) as handle:
        for event in handle:
            now = time.perf_counter()
            if isinstance(event, TextDelta):
                first = first or now
                last = now
                characters += len(event.text)
            elif isinstance(event, ReplyFinished):
                tokens, finish = event.stats.completion_tokens, event.reason
    if first is None or last == first:
        raise RuntimeError(f"the engine gave {tokens} token(s): too few to time")
    return Streamed(first - sent, (tokens - 1) / (last - first), tokens, characters, finish)


def wait_ready(port: int, token: str | None, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1/models",
                         headers={"Authorization": f"Bearer {token}"} if token else {})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not start in time")


def start_scalpel(model: str, threads: int, home: Path) -> tuple[subprocess.Popen, int, str]:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "settings.json").write_text(json.dumps({"n_threads": threads}))
    env = {**os.environ, "SCALPEL_HOME": str(home)}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "desktop_app", "serve", "--port", str(port),
                             "--model", model, "--queue", "64"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    token = subprocess.run([sys.executable, "-m", "desktop_app", "serve", "--show-token"],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    wait_ready(port, token, proc)
    return proc, port, token


def start_llama_server(model: str, threads: int) -> tuple[subprocess.Popen, int]:
    """llama-cpp-python's server on the same model and threads. It queues concurrent
    requests like Scalpel (``--interrupt_requests False``; by default a new request cuts
    the one being streamed short)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", model,
                             "--n_threads", str(threads), "--n_threads_batch", str(threads),
                             "--n_ctx", "4096", "--interrupt_requests", "False",
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, None, proc)
    except Exception:
        proc.kill()
        proc.wait()
        raise
    return proc, port


def requests_per_second(port: int, token: str | None, clients: int,
                        total: int) -> tuple[float, int]:
    """(completed answers per second, requests that were not) for ``total`` short
    completions: refused, failed, empty, or cut short all count against the rate."""
    left = [total]
    unanswered = [0]
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            try:
                answered = stream(port, token, SHORT, SHORT_TOKENS).completed
            except (RuntimeError, OSError, ValueError, http.client.HTTPException):
                answered = False
            if not answered:
                with lock:
                    unanswered[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (total - unanswered[0]) / (time.perf_counter() - started), unanswered[0]


def run(model: str, threads: int, rounds: int, *, requests: int = 8) -> dict:
    """Every figure: streamed replies per side and round, requests/s per concurrency.
    ``requests``: short completions per client count (at least 2 per client)."""
    home = Path(tempfile.mkdtemp(prefix="bench-api-"))
    engine = EngineProcess()
    scalpel = llama = None
    try:
        engine.load(model, LoadOptions(n_ctx=4096, n_threads=threads))
        scalpel, port, token = start_scalpel(model, threads, home)
        llama_port, skip = None, ""
        try:
            llama, llama_port = start_llama_server(model, threads)
        except Exception as exc:  # noqa: BLE001 - the column is skipped, with the reason
            skip = (f"llama_cpp.server did not start ({exc}); "
                    "pip install 'llama-cpp-python[server]'")
        sides = {"in-app": lambda p, n: in_app(engine, p, n),
                 "api": lambda p, n: stream(port, token, p, n)}
        if llama_port:
            sides["llama_cpp.server"] = lambda p, n: stream(llama_port, None, p, n)
        for side in sides.values():  # warm-up: prompt caches, first-request costs
            side(PROMPT, 16)
        replies: dict[str, list[dict]] = {name: [] for name in sides}
        for round_ in range(rounds):  # each side once per round, in rotating order
            names = list(sides)
            names = names[round_ % len(names):] + names[:round_ % len(names)]
            for name in names:
                replies[name].append(sides[name](PROMPT, DECODE_TOKENS).to_dict())
        rates = []
        for clients in CONCURRENCY:
            total = max(requests, clients * 2)
            ours = requests_per_second(port, token, clients, total)
            theirs = requests_per_second(llama_port, None, clients, total) if llama_port else None
            rates.append({"clients": clients, "requests": total, "api": ours,
                          "llama_cpp.server": theirs})
    finally:
        engine.unload()
        for proc in (scalpel, llama):
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    return {"replies": replies, "rates": rates, "skip": skip}


def _median(figures: dict, side: str, field: str) -> float:
    return statistics.median(r[field] for r in figures["replies"][side])


def _per_round_ratio(figures: dict, side: str, reference: str, field: str) -> float | None:
    """Median over rounds of side / reference (each round ran both, close in time)."""
    pairs = zip(figures["replies"][side], figures["replies"][reference])
    ratios = [a[field] / b[field] for a, b in pairs if b[field]]
    return statistics.median(ratios) if ratios else None


def rows(figures: dict) -> list[Row]:
    """The suite's rows: decode and TTFT against the in-app engine and llama_cpp.server,
    requests/s at each concurrency."""
    result = []
    for reference in ("in-app", "llama_cpp.server"):
        if reference not in figures["replies"]:
            result.append(Row("API vs llama_cpp.server", "-", f"skipped: {figures['skip']}",
                              target="report", verdict=SKIPPED))
            continue
        name = "the in-app engine process" if reference == "in-app" else reference
        decode = _per_round_ratio(figures, "api", reference, "tok_per_s")
        result.append(Row(
            f"API decode tok/s, {DECODE_TOKENS} tokens streamed (vs {name}, same model and "
            "prompt)", f"{_median(figures, 'api', 'tok_per_s'):.1f}",
            f"{_median(figures, reference, 'tok_per_s'):.1f}", format_ratio(decode),
            *(("≥ 0.95", at_least(decode, 0.95)) if reference == "in-app" else ("report", INFO))))
        result.append(Row(
            f"API time to first token (vs {name})",
            f"{_median(figures, 'api', 'ttft_s') * 1000:.0f} ms",
            f"{_median(figures, reference, 'ttft_s') * 1000:.0f} ms",
            format_ratio(_per_round_ratio(figures, "api", reference, "ttft_s")), "report"))
    for rate in figures["rates"]:
        ours, unanswered = rate["api"]
        reference = "-"
        if rate["llama_cpp.server"] is not None:
            theirs, their_unanswered = rate["llama_cpp.server"]
            reference = (f"llama_cpp.server {theirs:.2f}"
                         + (f" ({their_unanswered} not answered)" if their_unanswered else ""))
        result.append(Row(
            f"API requests/s, {SHORT_TOKENS}-token completions, {rate['clients']} concurrent "
            f"client(s), {rate['requests']} requests", f"{ours:.2f}"
            + (f" ({unanswered} not answered)" if unanswered else ""), reference,
            format_ratio(ours / theirs) if reference != "-" and theirs else "-", "report"))
    return result


def notes(figures: dict) -> list[str]:
    per_side = "; ".join(
        f"{name} " + ", ".join(f"{r['tok_per_s']:.1f} tok/s / {r['ttft_s'] * 1000:.0f} ms"
                               for r in replies)
        for name, replies in figures["replies"].items())
    return [f"API rounds (decode tok/s / TTFT, {DECODE_TOKENS} tokens, each side once per "
            f"round in rotating order): {per_side}; requests/s count only completed answers "
            "(text and a finish reason); llama_cpp.server runs with --interrupt_requests False"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=16,
                        help="short completions per concurrency level (at least 2 per client)")
    args = parser.parse_args()
    figures = run(starter_model_path(args.model), args.threads, args.rounds,
                  requests=args.requests)
    print(markdown_table(rows(figures)))
    print()
    print("\n".join(notes(figures)))


if __name__ == "__main__":
    main()
