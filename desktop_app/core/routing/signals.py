"""Step 1, the cheap signals: structure in the message, and the presets' own hints.

Structure is found by code (each detector has a name a preset claims in its JSON's
``routing.signals``): a code block, an error trace, "translate ... into <language>",
a pasted long text, a request for JSON. Hints are words and phrases from each preset's
JSON, matched in the instruction part of the message (for a long message: its first and
last lines, not the pasted text; never inside code). A preset's score is its strongest
claimed signal plus a share per hint found; the step decides only when one preset leads
clearly, and otherwise passes with its best guess. Regular expressions only: well under
a millisecond for a typical message (benchmarks/bench_routing.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .decision import Proposal, RouteCandidate, clamp, words

LONG_TEXT_WORDS = 120     # a message this long (outside code) counts as a pasted text
INSTRUCTION_WORDS = 40    # how much of its start and end is read as the instruction
HINT_WEIGHT = 0.3         # per distinct hint found, at most three count
# A hint among a message's first words is what it asks for ("Summarize this text: ... the
# cooling loop ..."): it counts once more than the same hint further on.
OPENING_WORDS = 2         # "Summarize this…", "Please translate…"
LONG_TEXT_STRENGTH = 0.65

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from [\w.]+ import |function |const |let |var |public |"
    r"private |#include|SELECT |INSERT |UPDATE |for ?\(|if ?\(|while ?\(|return |fn |func |"
    r"package |\}|.*\) ?\{\s*$|.*;\s*$|.*=> ?\{)", re.M)
_TRACE = re.compile(
    r"Traceback \(most recent call last\)|^\s+at [\w.$<>]+\(.*:\d+|^\s+File \".*\", line \d+|"
    r"\b[A-Z]\w*(?:Error|Exception)\b(?::|\s+at\b)|\b(?:segmentation fault|core dumped|"
    r"panicked at|Uncaught \w+|fatal error:|undefined reference to)", re.M | re.I)
LANGUAGES = frozenset("""
english german french spanish italian portuguese dutch polish swedish norwegian danish
finnish russian ukrainian czech greek turkish arabic hebrew hindi chinese mandarin
cantonese japanese korean vietnamese thai indonesian romanian hungarian catalan
englisch deutsch deutsche englische spanische französisch französische italienische
anglais allemand espagnol italien français néerlandais portugais
inglés inglés alemán francés español italiano portugués
inglese tedesco francese spagnolo engels duits frans spaans
inglês alemão francês espanhol angielski niemiecki
""".split())
_LANG = r"(?:" + "|".join(sorted(LANGUAGES, key=len, reverse=True)) + r")"
_TRANSLATE_VERB = (r"(?:translat\w*|tradu\w*|übersetz\w*|vertaal\w*|przetłumacz\w*|"
                   r"put|turn|render|say|give me)")
_TRANSLATE = re.compile(
    rf"\b{_TRANSLATE_VERB}\b[^\n]{{0,80}}?\b(?:into|to|in|en|al|ins|naar|para|na|in the)\s+"
    rf"(?:plain\s+)?{_LANG}\b|\b(?:translat\w*|tradu\w*|übersetz\w*|vertaal\w*)\b|"
    rf"^\s*{_LANG}\s+(?:please|version|translation)\b|\bwhat(?:'s| is| does)\b[^\n]{{0,60}}"
    rf"\b(?:in|mean in)\s+{_LANG}\b|\bin {_LANG}, how\b|\bthe {_LANG} for\b",
    re.I | re.M)
_JSON = re.compile(
    r"\b(?:as|in|into|to|en|als|in a|output|return|answer in|give me)\s+json\b|"
    r"\bjson\s+(?:object|format|output|record|fields?)\b|\bjson\s*:|\boutput json\b|"
    r"\bmachine-readable\b|\bstructured (?:data|format)\b", re.I)


@dataclass(frozen=True)
class _Found:
    strength: float
    reason: str


def detect(text: str, instruction: str, prose_words: int) -> dict[str, _Found]:
    """The structural signals in a message, by name (see presets.ROUTING_SIGNALS)."""
    found: dict[str, _Found] = {}
    if "```" in text or len(_CODE_LINE.findall(text)) >= 2 or re.match(r"\s*def \w+\(", text):
        found["code_block"] = _Found(0.9, "a code block in the message")
    if _TRACE.search(text):
        found["traceback"] = _Found(0.9, "an error message or trace in the message")
    match = _TRANSLATE.search(instruction)
    if match:
        language = next((w for w in words(match.group(0)) if w in LANGUAGES), None)
        found["translate_into"] = _Found(
            0.95 if language else 0.7,
            f"asks for a translation into {language.capitalize()}" if language
            else "asks for a translation")
    if _JSON.search(instruction):
        found["json_request"] = _Found(0.8, "asks for JSON")
    if prose_words >= LONG_TEXT_WORDS:
        found["long_text"] = _Found(LONG_TEXT_STRENGTH, f"a pasted text of {prose_words} words")
    return found


def instruction_part(prose: str) -> str:
    """What a person asked, without what they pasted: a short message whole; a long one's
    first and last ``INSTRUCTION_WORDS`` words (pasted text sits between them)."""
    tokens = prose.split()
    if len(tokens) <= 2 * INSTRUCTION_WORDS:
        return prose
    first = prose.split("\n", 1)[0].split()[:INSTRUCTION_WORDS]
    last = prose.rstrip().rsplit("\n", 1)[-1].split()[-INSTRUCTION_WORDS:]
    return " ".join(first) + "\n" + " ".join(last)


def prose_of(text: str) -> str:
    """The message without its code blocks and error-trace lines."""
    prose = _FENCE.sub(" ", text)
    return "\n".join(ln for ln in prose.splitlines() if not _TRACE.search(ln))


def has_pasted_text(text: str) -> bool:
    """Whether the message carries a text to work on (the ``long_text`` signal)."""
    return len(prose_of(text).split()) >= LONG_TEXT_WORDS


class HintMatcher:
    """One compiled pattern per candidate for its hints (whole words, any case)."""

    def __init__(self, candidates: list[RouteCandidate]) -> None:
        self._patterns = {}
        for c in candidates:
            hints = sorted({h.lower() for h in c.routing.hints}, key=len, reverse=True)
            if hints:
                body = "|".join(re.escape(h) for h in hints)
                self._patterns[c.preset_id] = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.I)

    def hits(self, preset_id: str, text: str) -> list[str]:
        pattern = self._patterns.get(preset_id)
        return list(dict.fromkeys(m.lower() for m in pattern.findall(text))) if pattern else []


class SignalStep:
    name = "signals"

    def __init__(self, candidates: list[RouteCandidate], *, decide_at: float = 0.3,
                 margin: float = 0.3) -> None:
        self.candidates = candidates
        self.hints = HintMatcher(candidates)
        self.decide_at, self.margin = decide_at, margin

    def scores(self, text: str) -> dict[str, tuple[float, str]]:
        """Each candidate's score and the reason behind it."""
        prose = prose_of(text)
        instruction = instruction_part(prose)
        lead = " ".join(instruction.split()[:OPENING_WORDS])
        found = detect(text, instruction, len(prose.split()))
        result: dict[str, tuple[float, str]] = {}
        for c in self.candidates:
            claimed = [found[s] for s in c.routing.signals if s in found]
            best = max(claimed, key=lambda f: f.strength, default=None)
            hits = self.hints.hits(c.preset_id, instruction)
            opening = bool(hits) and bool(self.hints.hits(c.preset_id, lead))
            score = (best.strength if best else 0.0) + HINT_WEIGHT * (
                min(len(hits), 3) + opening)
            if best:
                reason = best.reason
            elif hits:
                reason = "the words " + ", ".join(f"“{h}”" for h in hits[:2])
            else:
                continue
            result[c.preset_id] = (score, reason)
        return result

    def propose(self, text: str) -> tuple[Proposal | None, bool]:
        """(best guess or None, whether it is clear enough to decide)."""
        scores = self.scores(text)
        if not scores:
            return None, False
        ranked = sorted(scores.items(), key=lambda item: item[1][0], reverse=True)
        (best_id, (best, reason)) = ranked[0]
        second = ranked[1][1][0] if len(ranked) > 1 else 0.0
        confidence = min(0.99, clamp(0.5 + (best - second) / 2)) if best >= self.decide_at \
            else best / 2
        decides = best >= self.decide_at and round(best - second, 6) >= self.margin
        return Proposal(best_id, round(confidence, 3), reason), decides
