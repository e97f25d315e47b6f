"""Stop an answer that has fallen into a loop ("leave leave leave …"), as it decodes.

Small models sometimes repeat a word or a sentence until the length limit: seconds of
text no one reads, at the cost of the laptop's battery. ``LoopGuard`` watches the tokens
as they come and says when the end of the answer has become one short phrase said again
and again: ``MIN_RUN`` tokens in a row, each equal to the token ``period`` places before
it, for a period of 1..``MAX_PERIOD`` tokens. The engine then ends the answer with the
reason "repetition", and the window says why it stopped.

The bar is high on purpose, so a real answer does not trip it: 96 tokens of exact
repetition is at least 7 copies of a 16-token phrase (or 97 of one token), and lists,
tables and code change a number or a name from one line to the next. The one answer it
does cut is one asked to repeat: "write yes 200 times" stops after about 97 copies, with
the note saying why. It is off under a grammar (JSON whose list may hold the same item
many times) and when a request turns it off (``GenerationParams.stop_loops``). Each
token costs one comparison and one counter per period: 1.35 µs a token here (timeit
over 100,000 random tokens), against ~10 ms to decode one with SmolLM2 on this laptop's
CPU. benchmarks/bench_loop_guard.py counts the loops it stops in the labelled requests.
"""

from __future__ import annotations

from collections import deque

MAX_PERIOD = 16   # the longest phrase watched, in tokens
MIN_RUN = 96      # tokens in a row that repeat the one ``period`` before them


class LoopGuard:
    """Fed each generated token; ``feed`` is True once the answer loops."""

    def __init__(self, *, max_period: int = MAX_PERIOD, min_run: int = MIN_RUN) -> None:
        self.max_period, self.min_run = max_period, min_run
        self._recent: deque[int] = deque(maxlen=max_period)  # newest last
        self._runs = [0] * (max_period + 1)                   # by period, index 0 unused
        self.period: int | None = None                        # the loop's, once found

    def feed(self, token: int) -> bool:
        recent, runs = self._recent, self._runs
        seen = len(recent)
        looping = False
        for period in range(1, self.max_period + 1):
            if period <= seen and recent[seen - period] == token:
                runs[period] += 1
                if runs[period] >= self.min_run and not looping:
                    looping, self.period = True, period
            else:
                runs[period] = 0
        recent.append(token)
        return looping
