"""A llama.cpp context sized to the conversation, grown as it lengthens.

llama.cpp allocates a context's KV cache for all of its cells up front, and
decoding is slower with a bigger cache even while most of it is empty: on
SmolLM2 with 2 threads, a reply after a 44-token prompt decodes about 12%
faster in a 256-cell context than in a 4,096-cell one (``benchmarks/
bench_reference.py``, the side "context sized like llama-bench's"). It also
holds the memory: 90 MB of f16 cache at 4,096 cells.

So a model opens with ``FIRST_CELLS`` cells (capped by the person's context
size), and when the conversation needs more, the context is replaced by one
twice as big (capped again), with the sequence's KV cache copied across
(``llama_state_seq_get_data`` / ``set_data``): nothing is evaluated again.
"""

from __future__ import annotations

import logging

from ..errors import EngineError

log = logging.getLogger(__name__)

FIRST_CELLS = 512
SEQUENCE = 0


def cells_for(needed: int, current: int, cap: int) -> int:
    """The cells to grow to: ``current`` doubled until it holds ``needed``, at most ``cap``."""
    cells = max(current, 1)
    while cells < needed:
        cells *= 2
    return min(cells, cap)


def grow_context(llama, cells: int) -> None:
    """Give ``llama`` (a ``llama_cpp.Llama``) a context of ``cells`` cells holding the same
    sequence; its old context is freed. Raises EngineError if llama.cpp cannot."""
    from . import llama_api

    state = llama_api.save_sequence(llama, SEQUENCE)
    try:
        new = llama_api.new_context(llama, cells)
    except ValueError as exc:
        raise EngineError(f"llama.cpp could not make room for a longer conversation "
                          f"({cells:,} tokens): {exc}. Start a new chat or close other "
                          "programs.") from exc
    if state.size and not llama_api.restore_sequence(new, state, SEQUENCE):
        llama_api.close_context(new)
        raise EngineError("llama.cpp could not carry the conversation into a bigger context; "
                          "start a new chat")
    llama_api.replace_context(llama, new, cells)
    log.debug("context grown to %d cells (%d bytes of cache state copied)", cells, state.size)
