"""Typed errors with messages a person can act on.

Every error Scalpel shows to a user derives from :class:`ScalpelError`. Its
``str()`` is a single sentence meant for the status line or the CLI's stderr;
it never contains a traceback. Callers catch the layer they care about
(``ModelFileError`` for anything wrong with a file, ``EngineError`` for
anything that went wrong inside llama.cpp) and show ``str(error)``.
"""

from __future__ import annotations

from enum import IntEnum

MB = 1000 * 1000  # decimal units, as the Hub and file managers show sizes


def format_size(n_bytes: int) -> str:
    """Human size with one unit, e.g. ``98 MB`` or ``1.4 GB``."""
    if n_bytes >= 1000 * MB:
        return f"{n_bytes / (1000 * MB):.1f} GB"
    if n_bytes >= MB:
        return f"{n_bytes / MB:.0f} MB"
    if n_bytes >= 1000:
        return f"{n_bytes / 1000:.0f} KB"
    return f"{n_bytes} bytes"


class ScalpelError(Exception):
    """Base of every error meant to be shown to a person."""


class ConfigError(ScalpelError):
    """A settings file or value is unusable."""


class InvalidSettingError(ConfigError):
    """A new value for a setting breaks its rule; nothing was changed."""


class SettingLockedError(ConfigError):
    """The organization's policy locks this setting; nothing was changed."""


class SettingsSaveError(ConfigError):
    """The settings file could not be written; the change applies until Scalpel closes."""


class ModelFileError(ScalpelError):
    """A model file cannot be used; the message says why."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ModelNotFoundError(ModelFileError):
    """No file exists at the path, or no known model has the id."""


class ModelNotAllowedError(ModelFileError):
    """The organization's policy does not allow this model file."""


class NotGGUFError(ModelFileError):
    """The file exists but is not a GGUF model (wrong magic or empty)."""


class UnsupportedGGUFError(ModelFileError):
    """A GGUF version or tensor type this build cannot read."""


class TruncatedModelError(ModelFileError):
    """The file ends before the data its header promises."""

    def __init__(self, message: str, *, path: str | None = None,
                 actual_size: int = 0, expected_size: int = 0) -> None:
        super().__init__(message, path=path)
        self.actual_size = actual_size
        self.expected_size = expected_size


class SessionBusyError(ScalpelError):
    """The chat cannot do that while an answer is being written."""


class EngineError(ScalpelError):
    """llama.cpp failed to load a model or to generate."""


class NoModelLoadedError(EngineError):
    """Generation was asked for before any model was loaded."""


class EngineCrashedError(EngineError):
    """The engine process ended in the middle of a request (crash, kill, out of memory)."""


class ContextOverflowError(EngineError):
    """The prompt does not fit in the model's context window."""

    def __init__(self, prompt_tokens: int, context_size: int) -> None:
        super().__init__(
            f"The conversation is {prompt_tokens:,} tokens but the model's context holds "
            f"{context_size:,}. Shorten the message, start a new chat, or raise the "
            "context size in settings."
        )
        self.prompt_tokens = prompt_tokens
        self.context_size = context_size


class InsufficientMemoryError(EngineError):
    """The model plus its context cache clearly will not fit in free memory (checked before
    llama.cpp opens the file). The figures are bytes for the memory that is short: RAM, or
    the GPU's video memory when ``video`` is true."""

    def __init__(self, *, model_name: str, needed_bytes: int, available_bytes: int,
                 model_bytes: int, kv_cache_bytes: int, overhead_bytes: int, n_ctx: int,
                 suggested_n_ctx: int | None, video: bool = False) -> None:
        memory = "video memory" if video else "memory"
        parts = [f"{format_size(model_bytes)} model",
                 f"{format_size(kv_cache_bytes)} context cache for {n_ctx:,} tokens"]
        if overhead_bytes:
            parts.append(f"{format_size(overhead_bytes)} working memory")
        first = (f"{model_name} needs about {format_size(needed_bytes)} of {memory} "
                 f"({' + '.join(parts)}) but only {format_size(available_bytes)} is free.")
        smaller = "fewer GPU layers or a smaller model" if video else "a smaller model"
        if suggested_n_ctx:
            advice = (f"Set the context to {suggested_n_ctx:,} tokens or less, or choose "
                      f"{smaller}.")
        else:
            advice = f"Choose {smaller}, or close other programs and try again."
        super().__init__(f"{first} {advice}")
        self.model_name = model_name
        self.needed_bytes = needed_bytes
        self.available_bytes = available_bytes
        self.model_bytes = model_bytes
        self.kv_cache_bytes = kv_cache_bytes
        self.overhead_bytes = overhead_bytes
        self.n_ctx = n_ctx
        self.suggested_n_ctx = suggested_n_ctx
        self.video = video


class DownloadError(ScalpelError):
    """A model download failed; nothing half-installed is left behind."""


class NetworkUnavailableError(DownloadError):
    """The Hub (or mirror) could not be reached at all."""


class RemoteNotFoundError(DownloadError):
    """The repository, revision or file does not exist on the Hub."""


class AccessDeniedError(DownloadError):
    """The repository is gated or private (HTTP 401/403)."""


class DownloadStalledError(DownloadError):
    """No bytes arrived for too long, even after retries."""


class DiskFullError(DownloadError):
    """Not enough free disk space for the file."""


class IntegrityError(DownloadError):
    """The downloaded bytes do not match the expected sha256 or size."""


class DownloadsDisabledError(DownloadError):
    """The organization's policy turns downloads off (or refuses this file)."""


class DownloadCancelledError(DownloadError):
    """The person cancelled the download (the partial file is kept to resume)."""


class PresetError(ConfigError):
    """A preset file is unusable; the message names the file and the field."""

    def __init__(self, message: str, *, file: str | None = None,
                 field: str | None = None) -> None:
        where = ", ".join(part for part in (file, f"field '{field}'" if field else None) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.field = field
        self.reason = message


class ExitCode(IntEnum):
    """How the ``scalpel`` command ends; the one place these numbers are defined."""

    OK = 0
    FAILURE = 1       # a ScalpelError or a file problem: one line on stderr says why
    USAGE = 2         # bad arguments, as argparse reports them
    INTERRUPTED = 130  # Ctrl+C (128 + SIGINT, as shells report it)


class UsageError(ScalpelError):
    """The command line asks for something that cannot be done as written (an empty prompt,
    a value out of range, a missing action). Reported like argparse does, exit code 2."""

    exit_code = ExitCode.USAGE


class RemoteEngineError(EngineError):
    """The organization's model server (the remote engine) could not answer. ``kind`` says
    how, for code: "refused", "dns", "tls", "unreachable", "proxy", "ca_bundle", "auth",
    "model_not_found", "endpoint", "rate_limited", "server", "rejected", "timeout", "cut",
    "malformed" or "unsupported". ``host`` is the server's host[:port]; ``status`` the HTTP
    status when there was one; ``retry_after`` the seconds a 429/503 asked to wait."""

    def __init__(self, message: str, *, kind: str, host: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.host = host
        self.status = status
        self.retry_after = retry_after
        self.cut = False
        self.partial_text = ""


class RemoteModelNotFoundError(RemoteEngineError, ModelNotFoundError):
    """The server does not list (or does not know) the model asked for. Also a
    ``ModelNotFoundError``: a failed load keeps the model that was loaded, as for a file."""

    def __init__(self, message: str, *, host: str, model: str, status: int | None = None) -> None:
        super().__init__(message, kind="model_not_found", host=host, status=status)
        self.path = model


class RemoteAnswerCutError(RemoteEngineError):
    """The answer stopped part-way (the connection closed, the server went silent, or a
    piece could not be read). Every piece that arrived was yielded before this was raised;
    ``partial_text`` is that text joined, ``cut`` is true, so a session can keep it marked
    as incomplete. ``kind`` is "cut", "timeout", "malformed" or "server"."""

    def __init__(self, message: str, *, kind: str, host: str, partial_text: str) -> None:
        super().__init__(message, kind=kind, host=host)
        self.cut = True
        self.partial_text = partial_text


class EscalationRefusedError(ScalpelError):
    """A request may not go to the organization's bigger model (escalation off, the chat
    kept on this computer, a task the policy forbids); the sentence says which."""


class ConsentNeededError(ScalpelError):
    """In "ask" mode the first escalation of a chat waits for the person to see what
    would be sent and to whom (``preview``), then to send again with consent."""

    def __init__(self, message: str, *, preview: str, endpoint: str, model: str) -> None:
        super().__init__(message)
        self.preview = preview
        self.endpoint = endpoint
        self.model = model
