"""A forwarding HTTP proxy on 127.0.0.1 that records what went through it.

Plain-HTTP forwarding only (absolute-URI requests, as a client configured with
``proxy=http://...`` sends them to an http:// target), enough to prove that
downloads follow the organization's proxy setting.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
              "te", "trailers", "transfer-encoding", "upgrade"}


class ForwardingProxy:
    def __init__(self) -> None:
        self.seen: list[str] = []  # "METHOD absolute-url"
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ForwardingProxy":
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: ForwardingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._forward()

    def do_HEAD(self) -> None:  # noqa: N802
        self._forward()

    def _forward(self) -> None:
        self.owner.seen.append(f"{self.command} {self.path}")
        target = urlsplit(self.path)
        if target.scheme != "http":
            self.send_error(400, "this test proxy forwards absolute http:// URLs only")
            return
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, headers=headers)
        response = upstream.getresponse()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            while chunk := response.read(1 << 16):
                self.wfile.write(chunk)
        upstream.close()
