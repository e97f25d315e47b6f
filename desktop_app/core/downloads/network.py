"""The organization's proxy and CA bundle for every request huggingface_hub makes.

huggingface_hub shares one httpx client per process; its factory is replaced
once, here, so metadata calls and the byte transfer in ``fetch`` both go
through the proxy and trust the extra CA (added to the usual roots, so public
hosts keep working). Without a policy nothing is changed and the usual
``HTTPS_PROXY``/``SSL_CERT_FILE`` environment applies.
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

from ..errors import DownloadError

_lock = threading.Lock()
_configured: tuple[str | None, str | None] | None = None


def use_network_settings(*, proxy: str | None, ca_bundle: Path | None) -> None:
    global _configured
    key = (proxy, str(ca_bundle) if ca_bundle else None)
    with _lock:
        if key == _configured or (_configured is None and key == (None, None)):
            return
        verify = _ssl_context(ca_bundle) if ca_bundle else True
        import httpx2
        from huggingface_hub import set_client_factory
        from huggingface_hub.utils import _http

        hook = getattr(_http, "hf_request_event_hook", None)

        def factory() -> "httpx2.Client":
            return httpx2.Client(event_hooks={"request": [hook]} if hook else None,
                                 follow_redirects=True, timeout=None, proxy=proxy,
                                 verify=verify)

        set_client_factory(factory)
        _configured = key


def _ssl_context(ca_bundle: Path) -> ssl.SSLContext:
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    try:
        context.load_verify_locations(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise DownloadError(f"the CA bundle your organization's policy names ({ca_bundle}) "
                            f"cannot be used: {getattr(exc, 'strerror', None) or exc}") from exc
    return context
