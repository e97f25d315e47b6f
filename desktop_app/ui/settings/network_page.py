"""Network: whether downloads may happen, the Hub mirror, proxy, CA bundle and Hub token.

Each is the person's to set unless the organization's policy (policy.json) sets it; then
it is shown greyed with who decided (downloads turned off by policy cannot be turned on). A change reaches the next download: the window gives
the download queue a new Hub client when either changes (``installer``).
"""

from __future__ import annotations

from ...core.settings import RULES
from .fields import NEXT_DOWNLOAD, ChoiceField, TextField
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
            self.downloads = self.add(downloads, ChoiceField(
                "downloads_enabled", "Downloads", RULES["downloads_enabled"],
                [("On: models can be downloaded when you ask (Models, Ctrl+M)", True),
                 ("Off: Scalpel never contacts the Hugging Face Hub", False)],
                applies=NEXT_DOWNLOAD))
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
            "Connection", "For downloads and your organization's bigger model. Left empty, "
            "Scalpel connects directly, or through the system's proxy variables "
            "(HTTPS_PROXY) and certificate file (SSL_CERT_FILE) if they are set.")
        self.proxy = self.add(connection, TextField(
            "proxy", "Proxy", RULES["proxy"], applies=NEXT_DOWNLOAD,
            placeholder="None: http://proxy.example:3128 to use one"),
            value=policy.proxy, locked=where if policy.proxy else None)
        self.ca_bundle = self.add(connection, TextField(
            "ca_bundle", "CA bundle", RULES["ca_bundle"], applies=NEXT_DOWNLOAD,
            placeholder="None: the usual public certificate authorities"),
            value=policy.ca_bundle, locked=where if policy.ca_bundle else None)
        self.finish()
