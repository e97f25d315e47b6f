"""May this request leave the computer? The rules, in the order they are applied.

1. Escalation off, or nowhere to send to: no.
2. A chat marked "Keep on this computer": never, not even when the person asks.
3. A task the configuration does not allow (``tasks``), or a preset that says
   ``"escalate": "never"``: never.
4. The automatic budget: when the share of answers that went to the bigger model over the
   last 30 days has reached ``share_budget``, nothing goes automatically; the person may
   still ask ("Ask the bigger model", ``scalpel chat --escalate``) in ask and auto modes.
5. Ask mode: the first escalation of a chat waits for the person's OK, after a preview of
   exactly what will be sent and to whom (``preview``).

``decide`` returns a ``SendDecision`` whose ``reason`` is a sentence for people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from ..engine.types import Message
from .config import EscalationConfig

CODES = ("ok", "off", "not_configured", "keep_local", "task", "preset_never", "budget")


@dataclass(frozen=True)
class SendDecision:
    allowed: bool            # this request may be sent (after the preview, if one is needed)
    code: str                # one of CODES
    reason: str              # a sentence for people
    needs_preview: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "code": self.code, "reason": self.reason,
                "needs_preview": self.needs_preview}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SendDecision":
        return cls(allowed=bool(data["allowed"]), code=str(data["code"]),
                   reason=str(data["reason"]), needs_preview=bool(data.get("needs_preview")))


def decide(config: EscalationConfig, *, preset_id: str | None, asked: bool,
           keep_local: bool = False, remote_share: float = 0.0,
           chat_previewed: bool = False, preset_escalate: str | None = None) -> SendDecision:
    """Whether a request may go to the bigger model.

    ``asked``: the person asked for it (otherwise a weak answer or a before-answer check
    would send it automatically); ``remote_share``: the share of answers that went remote
    over the last 30 days (usage_log.remote_share(30)); ``chat_previewed``: the person
    already saw and accepted a preview in this chat."""
    if config.mode == "off":
        where = {"policy": " by your organization's policy",
                 "settings": " in your settings"}.get(config.source, "")
        return SendDecision(False, "off", f"escalation to a bigger model is off{where}; "
                                          "the answer stays on this computer")
    if not config.configured:
        missing = "an endpoint" if not config.endpoint else "a model"
        return SendDecision(False, "not_configured", f"escalation is on but has no {missing} "
                                                     "to send to; nothing leaves this computer")
    if keep_local:
        return SendDecision(False, "keep_local", "this chat is marked \"Keep on this "
                                                 "computer\", so it is never sent")
    if not config.allows_task(preset_id):
        return SendDecision(False, "task", f"the task {preset_id or '(none)'} may not be sent "
                                           "to the bigger model "
                                           + ("by your organization's policy"
                                              if config.source == "policy" else
                                              "(see the tasks in your escalation settings)"))
    if preset_escalate == "never":
        return SendDecision(False, "preset_never", f"the task {preset_id} keeps its requests "
                                                   "on this computer (its preset says never)")
    if not asked and remote_share >= config.share_budget:
        return SendDecision(False, "budget",
                            f"the automatic budget is used up: {remote_share:.0%} of answers "
                            f"over the last 30 days came from the bigger model (the budget "
                            f"is {config.share_budget:.0%}); you can still ask it yourself")
    preview_first = config.mode == "ask" and not chat_previewed
    if not asked and config.mode == "ask":
        reason = "the bigger model may answer once you agree to what will be sent"
    else:
        reason = f"the request may go to {config.model} at {config.endpoint}"
    return SendDecision(True, "ok", reason, needs_preview=preview_first)


def preview(messages: Sequence[Message], config: EscalationConfig) -> str:
    """Exactly what will be sent and to whom: the server, the model, every message in full
    (what the ask-mode dialog shows before the first escalation of a chat)."""
    key = ("with the API key from the environment variable " + config.api_key_env
           if config.api_key_env else
           f"with the API key from the file {config.api_key_file}" if config.api_key_file
           else "without an API key")
    total = sum(len(m.get("content", "")) for m in messages)
    secure = str(config.endpoint).startswith("https://")
    channel = "an encrypted (https)" if secure else "an unencrypted (http)"
    lines = [f"To: {config.endpoint}", f"Model: {config.model}",
             f"Sent {key}, over {channel} connection.",
             f"{len(messages)} message(s), {total:,} characters:", ""]
    for message in messages:
        lines.append(f"--- {message.get('role', '?')} ---")
        lines.append(message.get("content", ""))
    return "\n".join(lines)


def preview_json(messages: Sequence[Message], config: EscalationConfig) -> str:
    """The request body as it goes on the wire (for people who want the raw form)."""
    return json.dumps({"model": config.model, "messages": list(messages), "stream": True},
                      indent=2, ensure_ascii=False)
