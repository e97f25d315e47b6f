"""Escalation to the organization's bigger model: when a request may leave this computer,
when a local answer is weak enough to ask for a better one, and where answers came from.
No Qt and no HTTP here: the remote engine (core/engine/remote.py) is built only by
``remote_engine_for`` when escalation is configured."""

from .config import (MODES, EscalationConfig, EscalationConfigError, Thresholds,
                     policy_escalation, read_api_key, remote_engine_for, resolve_escalation)
from .privacy import SendDecision, decide, preview
from .usage_log import UsageLog, UsageRow, UsageSummary
from .weak_answer import Assessment, Signal, assess, before_answer, repetition_share

__all__ = ["MODES", "Assessment", "EscalationConfig", "EscalationConfigError", "SendDecision",
           "Signal", "Thresholds", "UsageLog", "UsageRow", "UsageSummary", "assess",
           "before_answer", "decide", "policy_escalation", "preview", "read_api_key",
           "remote_engine_for", "repetition_share", "resolve_escalation"]
