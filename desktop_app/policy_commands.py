"""``scalpel policy show|check``: the organization's policy, for IT and support (no Qt)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .core.catalog import Catalog
from .core.policy import ModelGate, Policy, policy_file_for, read_policy_file
from .core.services import Services

EXIT_OK, EXIT_FAILURE = 0, 1


def add_policy_commands(policy: argparse.ArgumentParser) -> None:
    actions = policy.add_subparsers(dest="policy_command", metavar="ACTION")
    show = actions.add_parser("show", help="the policy in effect, and where each value came from")
    show.add_argument("--json", action="store_true")
    check = actions.add_parser("check", help="validate a policy file before deploying it")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true")


def run_policy_command(args: argparse.Namespace, services: Services) -> int:
    from .cli import UsageError

    if args.policy_command == "show":
        return _show(services, as_json=args.json)
    if args.policy_command == "check":
        return _check(args.file, services.catalog, as_json=args.json)
    raise UsageError("say `scalpel policy show` or `scalpel policy check FILE`")


def _show(services: Services, *, as_json: bool) -> int:
    policy = services.policy
    report = policy.describe()
    report["looked_for"] = str(policy_file_for(services.paths.system_config_dir)[0] or "")
    report["problems"] += services.model_gate.unresolved
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(format_policy(policy, report["looked_for"], services.model_gate.unresolved))
    return EXIT_OK


def _check(file: Path, catalog: Catalog, *, as_json: bool) -> int:
    policy = read_policy_file(file)
    problems = list(policy.problems) + ModelGate(policy, catalog).unresolved
    warnings = deployment_warnings(policy)
    if as_json:
        print(json.dumps({"file": str(file), "ok": not problems, "problems": problems,
                          "warnings": warnings, "effective": policy.to_dict()}, indent=2))
    else:
        for problem in problems:
            print(f"problem: {problem}")
        for warning in warnings:
            print(f"warning: {warning}")
        if problems:
            print(f"{file} has {len(problems)} problem(s). Deployed as it is, Scalpel would "
                  "show them and apply the most restrictive reading.")
        else:
            print(f"{file} is valid.")
            print(format_values(policy))
    return EXIT_FAILURE if problems else EXIT_OK


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
    lines = []
    for key, value in policy.to_dict().items():
        shown = json.dumps(value) if not isinstance(value, str) else value
        lines.append(f"  {key:<18} {shown:<44} ({policy.source_of(key)})")
    return "\n".join(lines)


def format_policy(policy: Policy, looked_for: str, unresolved: list[str]) -> str:
    if not policy.managed:
        where = looked_for or "no machine-wide folder"
        return (f"No policy: {where} does not exist, so nothing is managed.\n"
                + format_values(policy))
    lines = [f"Policy file: {policy.file}", format_values(policy)]
    for problem in [*policy.problems, *unresolved]:
        lines.append(f"problem: {problem}")
    return "\n".join(lines)
