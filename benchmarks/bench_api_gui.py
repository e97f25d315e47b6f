"""The window stays responsive while its Local API streams a long answer (target < 50 ms).

In a fresh offscreen process the real window opens the way the footprint benchmark
opens it (``bench_footprint.window_after_one_reply``: the default model, the starter
SmolLM2, loaded in the real engine process, one question answered), then File > Local
API is turned on (``window.api_panel.start()``: uvicorn on a thread of this process,
on the window's engine). A 5 ms heartbeat on the GUI thread (``bench_gui_stream.
Heartbeat``) records every gap between its ticks:

- idle: the window with the API on and nobody calling, for ``IDLE_S``;
- busy: while an ``openai`` client in another process streams a long greedy completion
  through the API; only the gaps between its first and last text count (both processes
  read the same monotonic clock).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_api_gui.py [--tokens 400] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks.bench_footprint import run_loop, window_after_one_reply  # noqa: E402
from benchmarks.bench_gui_stream import Heartbeat  # noqa: E402
from benchmarks.report import Row, below, markdown_table  # noqa: E402

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
IDLE_S = 3.0
TARGET_MS = 50.0


def stall_figures(gaps: list[float]) -> dict:
    """Longest gap and 99th percentile gap (ms) of a heartbeat, and how many gaps."""
    if len(gaps) < 2:
        raise RuntimeError(f"the heartbeat ticked {len(gaps)} time(s): too few to measure")
    return {"max_ms": max(gaps) * 1000,
            "p99_ms": statistics.quantiles(gaps, n=100)[98] * 1000, "gaps": len(gaps)}


# -- the client, in its own process -------------------------------------------------------
def stream_with_openai(address: str, token: str, max_tokens: int) -> dict:
    """One greedy streamed chat completion through the ``openai`` client; when its first
    and last text came (``time.perf_counter()``), tokens, characters, finish reason."""
    from openai import OpenAI

    client = OpenAI(base_url=address, api_key=token, max_retries=0, timeout=600)
    sent = time.perf_counter()
    first = last = None
    text, tokens, finish = [], None, None
    for chunk in client.chat.completions.create(
            model="", messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens,
            temperature=0, stream=True, stream_options={"include_usage": True}):
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        if chunk.choices[0].delta.content:
            last = time.perf_counter()
            first = first or last
            text.append(chunk.choices[0].delta.content)
    if first is None or first == last:
        raise RuntimeError(f"the API streamed {len(text)} piece(s) of text: too few to measure")
    return {"sent": sent, "first": first, "last": last, "tokens": tokens,
            "characters": len("".join(text)), "finish_reason": finish}


# -- the window ----------------------------------------------------------------------------
def run_client(address: str, token: str, max_tokens: int, timeout_s: float) -> dict:
    """Start the client process and keep the GUI's event loop turning until it is done."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        client = subprocess.Popen([sys.executable, __file__, "--client", address, "--tokens",
                                   str(max_tokens)], stdin=subprocess.PIPE, stdout=out,
                                  stderr=err, text=True)
        client.stdin.write(token + "\n")  # the token never goes on a command line
        client.stdin.close()
        deadline = time.monotonic() + timeout_s
        while client.poll() is None and time.monotonic() < deadline:
            run_loop(0.05)
        if client.poll() is None:
            client.kill()
            client.wait()
            raise RuntimeError(f"the API client took more than {timeout_s:.0f} s")
        out.seek(0)
        err.seek(0)
        out, err = out.read(), err.read()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if client.returncode != 0 or not lines:
        raise RuntimeError(f"the API client failed ({client.returncode}): {err[-400:]}")
    return json.loads(lines[-1])


def measure_in_this_process(max_tokens: int) -> dict:
    app, window, _reply = window_after_one_reply()
    panel = window.api_panel
    address = panel.start()
    if address is None:
        raise RuntimeError("the window's Local API did not start (see the window's error bar)")
    heartbeat = Heartbeat(5)
    heartbeat.start()
    run_loop(IDLE_S)
    idle = stall_figures(heartbeat.gaps())
    heartbeat.start()  # afresh: only the busy part
    reply = run_client(address, panel.token().value, max_tokens, timeout_s=600)
    heartbeat.stop()
    busy = stall_figures(heartbeat.gaps(reply["first"], reply["last"]))
    panel.stop()
    window.close()
    app.quit()
    decode = (reply["tokens"] or 0) - 1
    return {"idle_max_ms": idle["max_ms"], "idle_p99_ms": idle["p99_ms"],
            "busy_max_ms": busy["max_ms"], "busy_p99_ms": busy["p99_ms"],
            "busy_ticks": busy["gaps"], "tokens": reply["tokens"],
            "characters": reply["characters"], "finish_reason": reply["finish_reason"],
            "stream_s": reply["last"] - reply["first"],
            "tok_per_s": decode / (reply["last"] - reply["first"]) if decode > 0 else 0.0}


# -- the suite's side ---------------------------------------------------------------------
def measure(tokens: int = 400, timeout_s: float = 600) -> dict:
    """Run this benchmark in a fresh offscreen process and return its figures."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, __file__, "--json", "--tokens", str(tokens)],
                          capture_output=True, text=True, env=env, timeout=timeout_s)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench_api_gui failed ({done.returncode}): {done.stderr[-400:]}")
    return json.loads(lines[-1])


def stall_row(f: dict) -> Row:
    """Longest GUI stall while the API streams, against the same window idle."""
    what = (f"{f['tokens']} tokens at {f['tok_per_s']:.0f} tok/s to an openai client "
            "in another process")
    return Row(f"Longest GUI stall while the Local API streams ({what})",
               f"{f['busy_max_ms']:.1f} ms (p99 {f['busy_p99_ms']:.1f} ms)",
               f"idle window, API on: {f['idle_max_ms']:.1f} ms (p99 {f['idle_p99_ms']:.1f} ms)",
               f"{f['busy_max_ms'] / f['idle_max_ms']:.2f}" if f["idle_max_ms"] else "-",
               f"< {TARGET_MS:.0f} ms", below(f["busy_max_ms"], TARGET_MS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=400, help="max_tokens of the long answer")
    parser.add_argument("--json", action="store_true", help="measure here, print JSON")
    parser.add_argument("--client", metavar="ADDRESS",
                        help="(internal) be the API client; the token comes on stdin")
    args = parser.parse_args()
    if args.client:
        print(json.dumps(stream_with_openai(args.client, sys.stdin.readline().strip(),
                                            args.tokens)))
        return 0
    if args.json:
        print(json.dumps(measure_in_this_process(args.tokens)))
        return 0
    figures = measure(args.tokens)
    print(markdown_table([stall_row(figures)]))
    print(f"\n{figures['tokens']} tokens, {figures['characters']:,} characters in "
          f"{figures['stream_s']:.1f} s (finish: {figures['finish_reason']}); "
          f"{figures['busy_ticks']} heartbeat gaps while streaming")
    return 0


if __name__ == "__main__":
    sys.exit(main())
