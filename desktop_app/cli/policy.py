"""``scalpel policy show|check``: the organization's policy, for IT and support (no Qt)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.catalog import Catalog
from ..core.errors import ExitCode, UsageError
from ..core.policy import (ModelGate, deployment_warnings, format_policy, format_values,
                           policy_file_for, read_policy_file)
from ..core.services import Services


def add_policy_commands(policy: argparse.ArgumentParser) -> None:
    actions = policy.add_subparsers(dest="policy_command", metavar="ACTION")
    show = actions.add_parser("show", help="the policy in effect, and where each value came from")
    show.add_argument("--json", action="store_true")
    check = actions.add_parser("check", help="validate a policy file before deploying it")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true")


def run_policy_command(args: argparse.Namespace, services: Services) -> int:
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
    return ExitCode.OK


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
    return ExitCode.FAILURE if problems else ExitCode.OK

