"""The remote engine against the ``openai`` client, both talking to the same llama_cpp.server.

Side by side in one run: ``python -m llama_cpp.server`` serves the GGUF on 127.0.0.1;
each round makes one greedy streamed answer through ``RemoteEngine`` and one through
``openai.OpenAI(...).chat.completions.create(stream=True)`` with the same request
(order alternating between rounds). Both are timed the same way, as a caller sees them:
time to first token from the call to the first piece of text, decode tok/s from the
first piece to the last (pieces counted, since llama-cpp-python's server sends no usage).
Targets (issue 15): tok/s ratio >= 0.95, time to first token within 30 ms (medians).

    python benchmarks/bench_remote.py [--model PATH] [--rounds 5] [--tokens 128]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_decode import starter_model_path  # noqa: E402
from benchmarks.report import Row, at_least, markdown_table, verdict  # noqa: E402
from desktop_app.core.engine import GenerationParams, TextDelta  # noqa: E402
from desktop_app.core.engine.remote import RemoteEngine  # noqa: E402

STORY = [{"role": "user", "content":
          "Write a long, detailed story about a lighthouse keeper and a storm."}]
RATIO_TARGET = 0.95
TTFT_TARGET_MS = 30.0


def start_server(model: Path, threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host",
         "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with direct.open(f"{url}/models", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("llama_cpp.server did not start")


def _timing(called: float, stamps: list[float]) -> tuple[float, float, int]:
    """(time to first token in s, decode tok/s, pieces) from the call and each piece's time."""
    if not stamps:
        return 0.0, 0.0, 0
    span = stamps[-1] - stamps[0]
    rate = (len(stamps) - 1) / span if len(stamps) > 1 and span > 0 else 0.0
    return stamps[0] - called, rate, len(stamps)


def through_engine(engine: RemoteEngine, tokens: int) -> tuple[float, float, int]:
    stamps: list[float] = []
    called = time.perf_counter()
    for event in engine.generate(STORY, GenerationParams(temperature=0, max_tokens=tokens)):
        if isinstance(event, TextDelta):
            stamps.append(time.perf_counter())
    return _timing(called, stamps)


def through_openai(client, model: str, tokens: int) -> tuple[float, float, int]:
    stamps: list[float] = []
    called = time.perf_counter()
    stream = client.chat.completions.create(
        model=model, messages=STORY, max_tokens=tokens, temperature=0, top_p=0.95,
        stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
    return _timing(called, stamps)


def run(model: Path, rounds: int, tokens: int, threads: int) -> dict:
    import openai

    process, url = start_server(model, threads)
    try:
        engine = RemoteEngine(endpoint=url, model=str(model))
        engine.load(None)
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
        through_engine(engine, 8)  # warm both: the server's prompt cache, the connections
        through_openai(client, str(model), 8)
        ours, theirs = [], []
        for index in range(rounds):
            pair = [lambda: ours.append(through_engine(engine, tokens)),
                    lambda: theirs.append(through_openai(client, str(model), tokens))]
            for measure in (pair if index % 2 == 0 else pair[::-1]):
                measure()
        engine.unload()
        client.close()
    finally:
        process.kill()
        process.wait(10)
    ratios = [a[1] / b[1] for a, b in zip(ours, theirs) if b[1]]
    ttft_ms = [(a[0] - b[0]) * 1000 for a, b in zip(ours, theirs)]
    return {"ours": ours, "theirs": theirs, "ratio": statistics.median(ratios),
            "ttft_diff_ms": statistics.median(ttft_ms), "rounds": rounds, "tokens": tokens}


def rows(result: dict) -> list[Row]:
    ours_rate = statistics.median(r[1] for r in result["ours"])
    theirs_rate = statistics.median(r[1] for r in result["theirs"])
    ours_ttft = statistics.median(r[0] for r in result["ours"]) * 1000
    theirs_ttft = statistics.median(r[0] for r in result["theirs"]) * 1000
    diff = result["ttft_diff_ms"]
    return [
        Row("remote engine decode tok/s vs openai client (same llama_cpp.server)",
            f"{ours_rate:.1f}", f"{theirs_rate:.1f}", f"{result['ratio']:.2f}",
            f">= {RATIO_TARGET}", at_least(result["ratio"], RATIO_TARGET)),
        Row("remote engine time to first token vs openai client",
            f"{ours_ttft:.1f} ms", f"{theirs_ttft:.1f} ms", f"{diff:+.1f} ms",
            f"within {TTFT_TARGET_MS:.0f} ms", verdict(abs(diff) <= TTFT_TARGET_MS)),
    ]


def notes(result: dict) -> list[str]:
    per_round = ", ".join(f"{a[1]:.1f}/{b[1]:.1f} tok/s, {a[0] * 1000:.0f}/{b[0] * 1000:.0f} ms"
                          for a, b in zip(result["ours"], result["theirs"]))
    return [f"remote vs openai client, {result['rounds']} alternating rounds of "
            f"{result['tokens']} greedy tokens (ratio and TTFT difference are medians of "
            f"per-round figures; ours/theirs per round): {per_round}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    result = run(starter_model_path(args.model), args.rounds, args.tokens, args.threads)
    print(markdown_table(rows(result)))
    print("\n".join(f"- {line}" for line in notes(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
