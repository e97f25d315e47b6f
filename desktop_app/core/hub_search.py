"""Search the Hugging Face Hub (or the configured mirror) for GGUF models by name.

"Add from Hugging Face" used to need an exact ``owner/name``; people know a model
by its name ("qwen3 4b"), not by who quantized it. This asks the Hub's model
search for GGUF repos, most downloaded first, and lists one repo's GGUF files with
their sizes and quantizations. It runs on a worker thread (the window) or in the
CLI, through the same HubClient as downloads: its endpoint, token, proxy and CA
bundle, and its two-second "offline" answer when the Hub cannot be reached.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from .downloads.hub import HubClient

SEARCH_LIMIT = 30
_QUANT = re.compile(r"(?i)(?<![A-Z0-9])(I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32|FP16|FP32)"
                    r"(?=[-_.][^/]*$|$)")
_SHARD = re.compile(r"(?i)-(\d{5})-of-(\d{5})\.gguf$")


def quantization_of(filename: str) -> str | None:
    """``Qwen3-4B-Q4_K_M.gguf`` -> ``Q4_K_M``; ``model.f16.gguf`` -> ``F16``; None if unnamed."""
    stem = filename.rsplit("/", 1)[-1]
    stem = _SHARD.sub("", stem)
    stem = stem[: -len(".gguf")] if stem.lower().endswith(".gguf") else stem
    found = _QUANT.findall(stem)
    return found[-1].upper() if found else None


@dataclass(frozen=True)
class HubRepo:
    """One search hit: a model repo with GGUF files."""

    id: str
    downloads: int
    likes: int
    license: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HubFile:
    """One downloadable GGUF file of a repo."""

    filename: str
    size: int | None
    quantization: str | None
    note: str = ""        # "vision projector (not a chat model)", ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HubSearch:
    def __init__(self, hub: HubClient) -> None:
        self.hub = hub

    def search(self, text: str, *, limit: int = SEARCH_LIMIT) -> list[HubRepo]:
        """GGUF repos whose name matches ``text``, most downloaded first."""
        from huggingface_hub import HfApi

        text = " ".join(text.split())
        if not text:
            return []
        self.hub._prepare_network()
        self.hub.check_reachable()
        api = HfApi(endpoint=self.hub.endpoint, token=self.hub._token())
        with self.hub._translate_errors(f"the search for {text!r}", None):
            found = list(api.list_models(search=text, filter="gguf", sort="downloads",
                                         limit=limit,
                                         expand=["downloads", "likes", "tags"]))
        repos = [HubRepo(id=m.id, downloads=int(getattr(m, "downloads", 0) or 0),
                         likes=int(getattr(m, "likes", 0) or 0),
                         license=_license(getattr(m, "tags", None)))
                 for m in found]
        return sorted(repos, key=lambda r: (-r.downloads, r.id.lower()))

    def files(self, repo: str) -> list[HubFile]:
        """The repo's single-file GGUF models (split models and projectors are noted)."""
        files = []
        for f in self.hub.list_gguf_files(repo):
            name = f.filename.rsplit("/", 1)[-1]
            note = ""
            if "mmproj" in name.lower():
                note = "vision projector, not a model on its own"
            elif (shard := _SHARD.search(name)) is not None:
                note = f"part {int(shard.group(1))} of {int(shard.group(2))} of a split model"
            files.append(HubFile(f.filename, f.size, quantization_of(f.filename), note))
        return sorted(files, key=lambda f: (bool(f.note), f.size or 0, f.filename))


def _license(tags: object) -> str | None:
    for tag in tags or ():
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag[len("license:"):]
    return None
