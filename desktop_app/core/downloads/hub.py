"""What the Hugging Face Hub (or an internal mirror) says about a file.

Only this module and ``transfer`` import huggingface_hub, and only when a
download is asked for: loading and chatting never touch the network stack.
The endpoint follows the Hub's own ``HF_ENDPOINT`` convention unless a
setting names one; the token is the setting, else the Hub's usual token
(``HF_TOKEN`` or ``hf auth login``). TLS verification is never turned off.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import (AccessDeniedError, DownloadError, NetworkUnavailableError,
                      RemoteNotFoundError)

DEFAULT_ENDPOINT = "https://huggingface.co"
METADATA_TIMEOUT_S = 15.0
REACH_TIMEOUT_S = 2.0     # no answer to a TCP connect (or DNS) in this long: offline


@dataclass(frozen=True)
class RemoteFile:
    repo: str
    filename: str
    revision: str           # what was asked for ("main" or a commit)
    commit: str | None      # the commit the Hub resolved it to
    url: str                # where the bytes come from (after the Hub's redirects)
    size: int
    sha256: str | None      # the LFS object id; None for small non-LFS files

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RepoFile:
    filename: str
    size: int | None


def resolve_endpoint(setting: str | None = None) -> str:
    return (setting or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


class HubClient:
    def __init__(self, *, endpoint: str | None = None, token: str | None = None,
                 proxy: str | None = None, ca_bundle: Path | None = None) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.token = token
        self.proxy, self.ca_bundle = proxy, ca_bundle

    def _prepare_network(self) -> None:
        from ..logs import into_log_file_only
        from .network import use_network_settings

        into_log_file_only("huggingface_hub")  # its warnings: to scalpel.log, not the terminal
        use_network_settings(proxy=self.proxy, ca_bundle=self.ca_bundle)

    @property
    def host(self) -> str:
        return urlparse(self.endpoint).netloc or self.endpoint

    def _token(self) -> str | bool | None:
        return self.token or None  # None: huggingface_hub falls back to HF_TOKEN / login

    def check_reachable(self, timeout: float = REACH_TIMEOUT_S) -> None:
        """Raise NetworkUnavailableError ("offline ...") within ``timeout`` seconds when the
        Hub (or the proxy in front of it) takes no TCP connection.

        huggingface_hub retries a dead network for 15-35 s in silence; one connect with a
        deadline answers in about two. DNS runs on a helper thread because getaddrinfo
        has no timeout of its own."""
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            raise NetworkUnavailableError("offline: downloads are off because HF_HUB_OFFLINE is set")
        target = urlparse(self.proxy or self.endpoint)
        host = target.hostname or self.host
        port = target.port or (443 if target.scheme == "https" else 80)
        outcome: list[BaseException | None] = []

        def connect() -> None:
            try:
                socket.create_connection((host, port), timeout=timeout).close()
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                outcome.append(exc)

        worker = threading.Thread(target=connect, name="scalpel-hub-probe", daemon=True)
        worker.start()
        worker.join(timeout + 0.5)
        what = "the proxy " + host if self.proxy else self.host
        if not outcome:
            raise NetworkUnavailableError(f"offline: {what} did not answer within "
                                          f"{timeout:.0f} s; check the network connection "
                                          "or proxy settings")
        error = outcome[0]
        if error is None:
            return
        if isinstance(error, socket.gaierror):
            reason = "its name could not be looked up"
        elif isinstance(error, (socket.timeout, TimeoutError)):
            reason = f"no answer within {timeout:.0f} s"
        elif isinstance(error, ConnectionRefusedError):
            reason = "the connection was refused"
        else:
            reason = getattr(error, "strerror", None) or type(error).__name__
        raise NetworkUnavailableError(f"offline: cannot reach {what} ({reason}); check the "
                                      "network connection or proxy settings")

    def describe_file(self, repo: str, filename: str, revision: str | None = None) -> RemoteFile:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        self._prepare_network()
        self.check_reachable()
        revision = revision or "main"
        url = hf_hub_url(repo, filename, revision=revision, endpoint=self.endpoint)
        with self._translate_errors(repo, filename):
            meta = get_hf_file_metadata(url, token=self._token(), timeout=METADATA_TIMEOUT_S,
                                        endpoint=self.endpoint, retry_on_errors=True)
        if meta.size is None:
            raise DownloadError(f"{self.host} did not say how big {filename} is; try again later")
        etag = (meta.etag or "").strip('"')
        sha256 = etag if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag) else None
        return RemoteFile(repo=repo, filename=filename, revision=revision,
                          commit=meta.commit_hash, url=meta.location or url,
                          size=meta.size, sha256=sha256)

    def list_gguf_files(self, repo: str, revision: str | None = None) -> list[RepoFile]:
        from huggingface_hub import HfApi

        self._prepare_network()
        self.check_reachable()
        api = HfApi(endpoint=self.endpoint, token=self._token())
        with self._translate_errors(repo, None):
            entries = list(api.list_repo_tree(repo, revision=revision, recursive=True))
        files = [RepoFile(e.path, getattr(e, "size", None)) for e in entries
                 if e.path.lower().endswith(".gguf") and hasattr(e, "size")]
        return sorted(files, key=lambda f: f.filename)

    @contextlib.contextmanager
    def _translate_errors(self, repo: str, filename: str | None):
        """Turn huggingface_hub/httpx errors into Scalpel's DownloadErrors."""
        try:
            yield
        except DownloadError:
            raise
        except Exception as exc:
            raise translate_error(exc, self.host, repo, filename) from exc


def translate_error(exc: BaseException, host: str, repo: str, filename: str | None) -> DownloadError:
    from huggingface_hub import errors as hub_errors

    what = f"{repo}/{filename}" if filename else repo
    if isinstance(exc, hub_errors.GatedRepoError) or _status(exc) in (401, 403):
        return AccessDeniedError(
            f"{repo} needs permission: accept its license on the model's Hugging Face page "
            "with your account, then add an access token in Settings (or set HF_TOKEN)")
    if isinstance(exc, hub_errors.RepositoryNotFoundError):
        return RemoteNotFoundError(f"no model repository named {repo} on {host}")
    if isinstance(exc, hub_errors.RevisionNotFoundError):
        return RemoteNotFoundError(f"{repo} has no such revision on {host}")
    if isinstance(exc, hub_errors.RemoteEntryNotFoundError) or _status(exc) == 404:
        return RemoteNotFoundError(f"{what} was not found on {host}")
    if isinstance(exc, hub_errors.OfflineModeIsEnabled):
        return NetworkUnavailableError("downloads are off: HF_HUB_OFFLINE is set")
    if _is_network_error(exc):
        return NetworkUnavailableError(
            f"offline: cannot reach {host}; check the network connection or proxy settings")
    status = _status(exc)
    if status:
        return DownloadError(f"{host} answered HTTP {status} for {what}; try again later")
    return DownloadError(f"downloading {what} failed: {exc}".splitlines()[0])


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_network_error(exc: BaseException) -> bool:
    import httpx2

    return isinstance(exc, (httpx2.TransportError, ConnectionError, TimeoutError))
