"""The local API: what going through HTTP costs, against the in-app engine and against
llama-cpp-python's own server, on the same model, prompt and threads.

Side by side, in alternating rounds (the machine is shared and noisy; medians):
* decode tok/s as a streaming client sees it (first text to the last chunk):
  ``scalpel serve`` vs the window's engine (``EngineProcess``) called directly
  (target: API >= 0.95 x in-app) vs ``python -m llama_cpp.server``;
* time to first token (request sent -> first text) for each;
* requests/s for short completions (8 tokens) with 1, 4 and 16 concurrent clients,
  for ``scalpel serve`` and llama_cpp.server.

    python benchmarks/bench_api.py [--model PATH] [--threads 2] [--rounds 3]

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_decode import DEFAULT_THREADS, starter_model_path  # noqa: E402
from benchmarks.report import Row, at_least, format_ratio, markdown_table  # noqa: E402
from desktop_app.core.engine import GenerationParams, LoadOptions, TextDelta  # noqa: E402
from desktop_app.core.engine.process import EngineProcess  # noqa: E402

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
SHORT = "Say hello."
DECODE_TOKENS = 128
CONCURRENCY = (1, 4, 16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stream(port: int, token: str | None, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    """(TTFT s, decode tok/s, tokens) of one greedy streamed chat completion."""
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
    chunks, usage = 0, None
    while line := response.readline():
        if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
            continue
        data = json.loads(line[6:])
        usage = data.get("usage") or usage
        if data.get("choices") and data["choices"][0]["delta"].get("content"):
            now = time.perf_counter()
            first = first or now
            last = now
            chunks += 1
    conn.close()
    tokens = usage["completion_tokens"] if usage else chunks
    if first is None:  # no text at all (a reply that ended at once)
        return time.perf_counter() - sent, 0.0, tokens
    return first - sent, (tokens - 1) / (last - first) if last > first else 0.0, tokens


def in_app(engine: EngineProcess, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    sent = time.perf_counter()
    first = last = None
    with engine.generate([{"role": "user", "content": prompt}],
                         GenerationParams(temperature=0, max_tokens=max_tokens)) as handle:
        for event in handle:
            now = time.perf_counter()
            if isinstance(event, TextDelta):
                first = first or now
                last = now
            else:
                tokens = event.stats.completion_tokens
                last = now
    return first - sent, (tokens - 1) / (last - first), tokens


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
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", model,
                             "--n_threads", str(threads), "--n_threads_batch", str(threads),
                             "--n_ctx", "4096", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, None, proc)
    return proc, port


def requests_per_second(port: int, token: str | None, clients: int, total: int) -> tuple[float, int]:
    """(completed requests per second, refused) for ``total`` short completions."""
    left = [total]
    refused = [0]
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            try:
                answered = stream(port, token, SHORT, 8)[2] > 0
            except (RuntimeError, OSError):
                answered = False
            if not answered:  # refused, failed, or an empty reply: not a completion
                with lock:
                    refused[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (total - refused[0]) / (time.perf_counter() - started), refused[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = starter_model_path(args.model)
    home = Path(tempfile.mkdtemp(prefix="bench-api-"))
    engine = EngineProcess()
    engine.load(model, LoadOptions(n_ctx=4096, n_threads=args.threads))
    scalpel, port, token = start_scalpel(model, args.threads, home)
    llama = llama_port = None
    skip = ""
    try:
        llama, llama_port = start_llama_server(model, args.threads)
    except Exception as exc:  # noqa: BLE001 - the column is skipped, with the reason
        skip = f"llama_cpp.server did not start ({exc}); pip install 'llama-cpp-python[server]'"
    sides = {"in-app": lambda p, n: in_app(engine, p, n),
             "api": lambda p, n: stream(port, token, p, n)}
    if llama_port:
        sides["llama_cpp.server"] = lambda p, n: stream(llama_port, None, p, n)
    figures: dict[str, list[tuple[float, float, int]]] = {name: [] for name in sides}
    try:
        for run in sides.values():  # warm-up: prompt caches, first-request costs
            run(PROMPT, 16)
        for round_ in range(args.rounds):
            names = list(sides)
            names = names[round_ % len(names):] + names[:round_ % len(names)]
            for name in names:
                figures[name].append(sides[name](PROMPT, DECODE_TOKENS))
        rates = {n: statistics.median(f[1] for f in v) for n, v in figures.items()}
        ttft = {n: statistics.median(f[0] for f in v) * 1000 for n, v in figures.items()}
        rows = [Row("API decode tok/s vs in-app engine", f"{rates['api']:.1f}",
                    f"{rates['in-app']:.1f}", format_ratio(rates["api"] / rates["in-app"]),
                    ">= 0.95", at_least(rates["api"] / rates["in-app"], 0.95)),
                Row("API TTFT ms vs in-app engine", f"{ttft['api']:.0f}",
                    f"{ttft['in-app']:.0f}", format_ratio(ttft["api"] / ttft["in-app"]))]
        if llama_port:
            rows += [Row("API decode tok/s vs llama_cpp.server", f"{rates['api']:.1f}",
                         f"{rates['llama_cpp.server']:.1f}",
                         format_ratio(rates["api"] / rates["llama_cpp.server"])),
                     Row("API TTFT ms vs llama_cpp.server", f"{ttft['api']:.0f}",
                         f"{ttft['llama_cpp.server']:.0f}",
                         format_ratio(ttft["api"] / ttft["llama_cpp.server"]))]
        else:
            rows.append(Row("API vs llama_cpp.server", "-", f"skipped: {skip}"))
        for clients in CONCURRENCY:
            total = max(8, clients * 2) * max(1, args.rounds // 2)
            ours, refused = requests_per_second(port, token, clients, total)
            reference = "-"
            if llama_port:
                theirs, their_refused = requests_per_second(llama_port, None, clients, total)
                reference = f"{theirs:.2f}" + (f" ({their_refused} failed)" if their_refused else "")
            rows.append(Row(f"req/s, 8-token completions, {clients} client(s), {total} req",
                            f"{ours:.2f}" + (f" ({refused} refused)" if refused else ""),
                            reference))
        print(markdown_table(rows))
        print()
        for name, values in figures.items():
            print(f"{name}: " + ", ".join(f"{r:.1f} tok/s / {t * 1000:.0f} ms TTFT / {n} tok"
                                          for t, r, n in values))
    finally:
        engine.unload()
        for proc in (scalpel, llama):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    main()
