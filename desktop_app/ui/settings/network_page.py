"""Network: whether downloads may happen, the Hub mirror, proxy, CA bundle and Hub token.

Downloads, the proxy and the CA bundle are the organization's to set (policy.json); the
page shows what applies and who decided. The mirror and the token are the person's,
unless the policy names a mirror. A change reaches the next download: the window gives
the download queue a new Hub client when either changes (``installer``).
"""

from __future__ import annotations

from ...core.settings import RULES
from .fields import NEXT_DOWNLOAD, TextField
from .page import SettingsPage, info

LOCKED = "Set by your organization"


class NetworkPage(SettingsPage):
    title = "Network"

    def __init__(self, services, **options) -> None:
        super().__init__(services, **options)
        policy = services.policy
        where = str(policy.file) if policy.file else ""
        downloads = self.section("Downloads")
        if policy.downloads_allowed:
            downloads.addRow(info("On: models can be downloaded from the Hugging Face Hub "
                                  "(or the mirror below) in Models (Ctrl+M). Nothing is "
                                  "downloaded unless you ask."))
        else:
            off = info(f"Off. {LOCKED} ({where}): models come from your IT department.")
            off.setEnabled(False)
            off.setObjectName("downloads_off")
            downloads.addRow(off)
        hub = self.section("Hugging Face Hub",
                           "Changes here apply from the next download.")
        self.mirror = self.add(hub, TextField(
            "hub_endpoint", "Mirror", RULES["hub_endpoint"], applies=NEXT_DOWNLOAD,
            placeholder="None: https://huggingface.co (or HF_ENDPOINT)"),
            value=policy.hub_endpoint, locked=where if policy.hub_endpoint else None)
        self.token = self.add(hub, TextField(
            "hub_token", "Access token", RULES["hub_token"], secret=True,
            applies=NEXT_DOWNLOAD, placeholder="None: HF_TOKEN or `hf auth login` is used"))
        self.token.set_note("Only needed for gated or private repos. Kept as plain text in "
                            f"{services.paths.settings_file}.")
        connection = self.section(
            "Connection", "The proxy and the certificate bundle are set by your "
            "organization's policy (policy.json), not here.")
        for label, value, name in (("Proxy", policy.proxy, "proxy"),
                                   ("CA bundle", policy.ca_bundle, "ca_bundle")):
            text = (f"{value}  ({LOCKED})" if value else
                    "None set: Scalpel connects directly, or through the system's proxy "
                    "variables (HTTPS_PROXY) if they are set." if name == "proxy" else
                    "None set: the usual public certificate authorities are trusted (or "
                    "SSL_CERT_FILE, if set).")
            shown = info(text)
            shown.setObjectName(name)
            shown.setEnabled(not value)
            connection.addRow(f"{label}:", shown)
        self.finish()
