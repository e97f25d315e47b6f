"""A local HTTP server on 127.0.0.1 that answers like the Hugging Face Hub.

It serves real files (the SmolLM2 GGUF) at ``/<repo>/resolve/<rev>/<file>``
with the Hub's headers (``X-Repo-Commit``, ``ETag``/``X-Linked-Etag`` =
sha256, ``X-Linked-Size``, ``Content-Length``, Range), the tree listing at
``/api/models/<repo>/tree/<rev>``, and the Hub's error codes. Faults can be
switched on per test: drop the connection, stall, corrupt a byte, ignore
Range, answer 401/404, throttle. It counts the body bytes it sent.
The model search (``/api/models?search=&filter=gguf&sort=downloads``) answers
from the hosted repos, with the downloads and tags set by ``describe_repo``.

Run it by hand for the benchmark or a manual check:
``python tests/hub_server.py PATH_TO_GGUF`` (serves it as ``local/models``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Faults:
    drop_after: int | None = None       # close the connection after this many body bytes
    drop_times: int = 1                 # ...on this many responses
    stall_after: int | None = None      # stop sending once the file offset passes this
    stall_seconds: float = 5.0
    stall_times: int = 1
    corrupt_at: int | None = None       # flip the byte at this file offset
    ignore_range: bool = False
    rate_bps: int | None = None         # throttle body bytes per second
    status: int | None = None           # answer every file request with this status
    error_code: str | None = None       # ...and this X-Error-Code


@dataclass
class HostedFile:
    path: Path
    size: int
    sha256: str


@dataclass
class FakeHub:
    files: dict[tuple[str, str], HostedFile] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    bytes_sent: int = 0
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    repo_info: dict[str, dict] = field(default_factory=dict)  # repo -> downloads, likes, tags
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def host_file(self, repo: str, filename: str, path: Path, *, sha256: str | None = None) -> HostedFile:
        path = Path(path)
        digest = sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
        hosted = HostedFile(path, path.stat().st_size, digest)
        self.files[(repo, filename)] = hosted
        return hosted

    def describe_repo(self, repo: str, *, downloads: int = 0, likes: int = 0,
                      tags: tuple[str, ...] = ("gguf",)) -> None:
        """What the model search says about ``repo`` (hosted files make it searchable)."""
        self.repo_info[repo] = {"downloads": downloads, "likes": likes, "tags": list(tags)}

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeHub":
        hub = self

        class Handler(_HubHandler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def count(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n


class _HubHandler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._route(send_body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._route(send_body=True)

    def _route(self, *, send_body: bool) -> None:
        path = unquote(urlparse(self.path).path)
        self.fake.requests.append((self.command, path, self.headers.get("Range")))
        parts = path.strip("/").split("/")
        if parts == ["api", "models"]:
            return self._search(parse_qs(urlparse(self.path).query))
        if parts[:2] == ["api", "models"] and "tree" in parts:
            i = parts.index("tree")
            return self._tree("/".join(parts[2:i]))
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._file("/".join(parts[:2]), "/".join(parts[4:]), send_body)
        self._error(404, "RepoNotFound", "Repository not found")

    def _tree(self, repo: str) -> None:
        entries = [{"type": "file", "path": name, "size": f.size, "oid": f.sha256[:40],
                    "lfs": {"oid": f.sha256, "size": f.size, "pointerSize": 134}}
                   for (r, name), f in self.fake.files.items() if r == repo]
        if not entries:
            return self._error(404, "RepoNotFound", "Repository not found")
        entries.append({"type": "file", "path": "README.md", "size": 12, "oid": "0" * 40})
        body = json.dumps(entries).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _search(self, query: dict[str, list[str]]) -> None:
        """The Hub's model search: words of ``search`` in the repo id, ``filter`` tags, sorted
        by downloads (most first), at most ``limit``."""
        words = " ".join(query.get("search", [""])).lower().split()
        wanted_tags = set(query.get("filter", []))
        repos = sorted({r for r, _ in self.fake.files} | set(self.fake.repo_info))
        found = []
        for repo in repos:
            info = {"downloads": 0, "likes": 0, "tags": ["gguf"], **self.fake.repo_info.get(repo, {})}
            if all(w in repo.lower() for w in words) and wanted_tags <= set(info["tags"]):
                found.append({"id": repo, "modelId": repo, "_id": repo, **info})
        if query.get("sort", [""])[0] == "downloads":
            found.sort(key=lambda m: -m["downloads"])
        limit = int(query.get("limit", ["1000"])[0])
        body = json.dumps(found[:limit]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _file(self, repo: str, filename: str, send_body: bool) -> None:
        faults = self.fake.faults
        if faults.status:
            return self._error(faults.status, faults.error_code, "Access denied")
        if not any(r == repo for r, _ in self.fake.files):
            return self._error(404, "RepoNotFound", "Repository not found")
        hosted = self.fake.files.get((repo, filename))
        if hosted is None:
            return self._error(404, "EntryNotFound", "Entry not found")
        start = self._range_start(hosted.size)
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hosted.sha256}"')
        self.send_header("X-Linked-Etag", f'"{hosted.sha256}"')
        self.send_header("X-Linked-Size", str(hosted.size))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(hosted.size - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{hosted.size - 1}/{hosted.size}")
        self.end_headers()
        if send_body:
            self._send_body(hosted, start)

    def _range_start(self, size: int) -> int:
        header = self.headers.get("Range", "")
        if self.fake.faults.ignore_range or not header.startswith("bytes="):
            return 0
        first = header[len("bytes="):].split("-")[0]
        return min(int(first or 0), size)

    def _send_body(self, hosted: HostedFile, start: int) -> None:
        faults = self.fake.faults
        sent = 0
        with open(hosted.path, "rb") as f:
            f.seek(start)
            offset = start
            while block := f.read(64 * 1024):
                block = _maybe_corrupt(block, offset, faults.corrupt_at)
                if faults.drop_after is not None and faults.drop_times > 0 \
                        and sent + len(block) > faults.drop_after:
                    faults.drop_times -= 1
                    self._write(block[: max(0, faults.drop_after - sent)])
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if faults.stall_after is not None and faults.stall_times > 0 \
                        and offset + len(block) > faults.stall_after:
                    faults.stall_times -= 1
                    time.sleep(faults.stall_seconds)
                    self.close_connection = True
                    return
                if not self._write(block):
                    return
                sent += len(block)
                offset += len(block)
                if faults.rate_bps:
                    time.sleep(len(block) / faults.rate_bps)

    def _write(self, block: bytes) -> bool:
        try:
            self.wfile.write(block)
        except (BrokenPipeError, ConnectionResetError):
            return False
        self.fake.count(len(block))
        return True


def _maybe_corrupt(block: bytes, offset: int, at: int | None) -> bytes:
    if at is None or not offset <= at < offset + len(block):
        return block
    i = at - offset
    return block[:i] + bytes([block[i] ^ 0xFF]) + block[i + 1:]


if __name__ == "__main__":
    import sys

    hub = FakeHub()
    hub.host_file("local/models", Path(sys.argv[1]).name, Path(sys.argv[1]))
    if len(sys.argv) > 2:
        hub.faults.rate_bps = int(sys.argv[2])
    hub.start()
    print(hub.url, flush=True)
    threading.Event().wait()
