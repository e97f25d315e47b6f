"""The policy in words: what ``scalpel policy show|check``, ``scalpel doctor`` and the
window's policy dialog print, from one place so they cannot drift apart."""

from __future__ import annotations

import json

from .model import Policy


def deployment_warnings(policy: Policy) -> list[str]:
    """Things that are valid but not true on this machine (a share may be mounted later)."""
    warnings = [f"model folder {d} does not exist here" for d in policy.model_dirs
                if not d.is_dir()]
    for key in ("ca_bundle", "presets_dir"):
        path = getattr(policy, key)
        if path and not path.exists():
            warnings.append(f"{key} {path} does not exist here")
    return warnings


def format_values(policy: Policy) -> str:
    """One line per setting: its value and where it came from."""
    lines = []
    for key, value in policy.to_dict().items():
        shown = json.dumps(value) if not isinstance(value, str) else value
        lines.append(f"  {key:<18} {shown:<44} ({policy.source_of(key)})")
    return "\n".join(lines)


def format_policy(policy: Policy, looked_for: str, unresolved: list[str]) -> str:
    """The whole policy: its file (or where none was found), each value, each problem."""
    if not policy.managed:
        where = looked_for or "no machine-wide folder"
        return (f"No policy: {where} does not exist, so nothing is managed.\n"
                + format_values(policy))
    lines = [f"Policy file: {policy.file}", format_values(policy)]
    if policy.escalation is not None:
        lines.append(f"escalation (locked): {escalation_summary(policy.escalation)}")
    for problem in [*policy.problems, *unresolved]:
        lines.append(f"problem: {problem}")
    return "\n".join(lines)


def escalation_summary(config) -> str:
    """One line on where escalated answers go (an EscalationConfig, core/escalation)."""
    if config.mode == "off":
        return "off: no answer leaves this computer"
    key = (f"key from ${config.api_key_env}" if config.api_key_env else
           f"key from {config.api_key_file}" if config.api_key_file else "no key")
    tasks = "every task" if config.tasks is None else ", ".join(config.tasks) or "no task"
    return (f"{config.mode} mode, to {config.model or '(no model)'} at "
            f"{config.endpoint or '(no endpoint)'}, {key}, tasks: {tasks}, automatic "
            f"escalations at most {config.share_budget:.0%} of answers")
