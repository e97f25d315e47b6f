"""Model details' orchestration rows: where the last answer went, its weak-answer
signals against their thresholds, and the escalation in force (issue: every signal and
threshold visible)."""

from __future__ import annotations

from typing import Any

from ..core.session import Routed


def orchestration_rows(stats: dict[str, Any] | None,
                       escalation: dict[str, Any] | None) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    stats = stats or {}
    routed = Routed.from_dict(stats.get("routed"))
    if routed is not None:
        rows.append(("Last answer", f"{routed.line()} ({routed.step}, confidence "
                                    f"{routed.confidence:.2f}, {routed.elapsed_ms:.1f} ms)"))
    assessment = stats.get("assessment") or {}
    for signal in assessment.get("signals", []):
        rows.append((f"Signal: {signal.get('name')}", _signal_text(signal)))
    if assessment:
        rows.append(("Verdict", "weak: " + "; ".join(assessment.get("reasons", []))
                     if assessment.get("weak") else "not weak"))
    if escalation is not None:
        rows.append(("Escalation", _escalation_text(escalation)))
        thresholds = escalation.get("thresholds") or {}
        rows.append(("Thresholds", ", ".join(f"{name} {value}" for name, value
                                             in thresholds.items() if value is not None)))
    return rows


def _signal_text(signal: dict[str, Any]) -> str:
    value, bar = signal.get("value"), signal.get("threshold")
    shown = "not measured" if value is None else f"{value}"
    against = f" (weak below {bar})" if bar is not None and signal.get("name", "").startswith(
        ("logprob", "first_token")) else (f" (weak from {bar})" if bar is not None else "")
    flag = " — weak" if signal.get("weak") else ""
    note = f"; {signal['note']}" if signal.get("note") else ""
    return f"{shown}{against}{flag}{note}"


def _escalation_text(escalation: dict[str, Any]) -> str:
    mode = escalation.get("mode", "off")
    source = {"policy": "set by your organization", "settings": "your settings"}.get(
        escalation.get("source"), "default")
    if mode == "off" or not escalation.get("configured"):
        return f"off ({source}): every answer comes from this computer"
    return (f"{mode}: {escalation.get('model')} at {escalation.get('endpoint')}, automatic "
            f"share at most {escalation.get('share_budget', 0):.0%} ({source})")
