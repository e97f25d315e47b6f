"""The Fit column's speed estimate against a measured answer on the starter.

Measures this machine's memory bandwidth the way the model manager does
(``fit.measure_memory_bandwidth``, not the cached figure), estimates the starter's
decode speed from its file size (``fit.estimate_speed``), then measures the real
decode speed of greedy answers on the starter with Scalpel's engine, and prints both.

    python benchmarks/bench_fit_estimate.py [--threads 2] [--tokens 128] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_decode import open_engine, scalpel_rate, starter_model_path  # noqa: E402
from desktop_app.core.fit import (DECODE_EFFICIENCY, estimate_speed,  # noqa: E402
                                  measure_memory_bandwidth)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    model = starter_model_path(args.model)
    size = Path(model).stat().st_size
    bandwidths = [measure_memory_bandwidth() for _ in range(3)]
    bandwidth = statistics.median(b for b in bandwidths if b)
    estimate = estimate_speed(file_size=size, bandwidth_bps=bandwidth)
    engine = open_engine(model, args.threads)
    try:
        scalpel_rate(engine, 16)   # warm up
        rates = [scalpel_rate(engine, args.tokens)[0] for _ in range(args.rounds)]
    finally:
        engine.unload()
    measured = statistics.median(rates)
    print(f"model: {Path(model).name}, {size / 1e6:.1f} MB, {args.threads} thread(s)")
    print(f"memory bandwidth (numpy copy of 256 MB, read+write counted): "
          f"{', '.join(f'{b / 1e9:.1f}' for b in bandwidths)} GB/s -> {bandwidth / 1e9:.1f}")
    print(f"estimated decode: {estimate:.1f} tok/s (efficiency {DECODE_EFFICIENCY})")
    print(f"measured decode: {measured:.1f} tok/s (rounds: "
          f"{', '.join(f'{r:.1f}' for r in rates)})")
    print(f"measured / estimated: {measured / estimate:.2f}")
    print(f"efficiency that would match the starter: {DECODE_EFFICIENCY * measured / estimate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
