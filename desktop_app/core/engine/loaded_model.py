"""One model open in llama.cpp, and the pool of models kept loaded.

``LoadedModel`` holds a ``llama_cpp.Llama`` with what decoding needs close at
hand (the vocabulary, and the ``Decoder`` with its KV-cache tokens and token texts).
``ModelPool`` keeps up to ``keep`` of them, least recently used first out, and
drops the idle ones while free memory is below a reserve, so switching back to
a recent model is instant without starving the machine.

Each model remembers its file's identity at load (``file_identity``): a file
replaced at the same path is loaded afresh, never served from the pool.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from typing import Callable, Hashable

from .. import hardware
from .decode import Decoder
from .prompt import ChatPromptFormatter
from .types import ModelInfo

log = logging.getLogger(__name__)

GB = 1000 ** 3

FileIdentity = tuple[int, int, int, int]


def file_identity(path) -> FileIdentity | None:
    """(st_dev, st_ino, st_size, st_mtime_ns) of the file at ``path``; None if it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class LoadedModel:
    def __init__(self, llama, info: ModelInfo, formatter: ChatPromptFormatter) -> None:
        self.llama = llama
        self.info = info
        self.formatter = formatter
        self.decoder = Decoder(llama, cap=info.context_size)
        self.vocab = self.decoder.vocab
        self.identity: FileIdentity | None = None  # the file as it was when loaded

    def close(self) -> None:
        if self.decoder.watch is not None:
            self.decoder.watch.close()
        self.llama.close()


class ModelPool:
    """Loaded models by key, most recently used last."""

    def __init__(self, *, keep: int = 1,
                 memory: Callable[[], hardware.MemoryInfo] = hardware.memory_info,
                 reserve_bytes: int = 2 * GB) -> None:
        self.keep = keep
        self._memory = memory
        self._reserve = reserve_bytes
        self._models: OrderedDict[Hashable, LoadedModel] = OrderedDict()

    def __len__(self) -> int:
        return len(self._models)

    def infos(self) -> list[ModelInfo]:
        return [model.info for model in self._models.values()]

    def take(self, key: Hashable) -> LoadedModel | None:
        """The model loaded under ``key``, marked as the most recently used."""
        model = self._models.get(key)
        if model is not None:
            self._models.move_to_end(key)
        return model

    def add(self, key: Hashable, model: LoadedModel) -> None:
        old = self._models.pop(key, None)
        self._models[key] = model
        if old is not None and old is not model:
            old.close()

    def trim(self) -> list[ModelInfo]:
        """Close least recently used models beyond ``keep`` or while memory is short.

        The most recently used model (the active one) is never closed here.
        """
        closed: list[ModelInfo] = []
        while len(self._models) > 1 and (len(self._models) > max(1, self.keep)
                                         or self._memory_short()):
            _key, model = self._models.popitem(last=False)
            model.close()
            closed.append(model.info)
            log.info("unloaded %s to %s", model.info.name,
                     "free memory" if len(self._models) < self.keep else "keep the limit")
        return closed

    def close_oldest_idle(self, active: LoadedModel | None) -> ModelInfo | None:
        """Close the least recently used model other than ``active``; None if there is none."""
        for key, model in self._models.items():
            if model is not active:
                del self._models[key]
                model.close()
                return model.info
        return None

    def remove(self, key: Hashable) -> None:
        model = self._models.pop(key, None)
        if model is not None:
            model.close()

    def close_all(self) -> None:
        while self._models:
            _key, model = self._models.popitem(last=False)
            model.close()

    def _memory_short(self) -> bool:
        available = self._memory().available_bytes
        return available is not None and available < self._reserve
