"""`scalpel models download` with no network: "offline" in a couple of seconds, not after
15-35 s of silent retries, and nothing left half-installed."""

from __future__ import annotations

import socket
import time


def test_models_download_offline_says_so_within_seconds(scalpel, scalpel_home):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    started = time.monotonic()
    result = scalpel("models", "download", "qwen2.5-0.5b-instruct",
                     env={"HF_ENDPOINT": f"http://127.0.0.1:{port}"}, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "offline" in result.stderr and "Traceback" not in result.stderr
    assert "b'" not in result.stderr
    assert elapsed < 8.0, f"took {elapsed:.1f} s (the process start included)"
    assert not list((scalpel_home / "data" / "models").rglob("*.gguf"))
