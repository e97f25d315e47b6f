"""``scalpel route``: which task Auto would give a message, and what escalation would do.

    scalpel route "text" [--json] [--model-step]   the decision, without answering it
    scalpel route calibrate FILE.jsonl [--budget 0.2] [--max-tokens 48] [--save] [--json]
    scalpel route stats [--json]                   where answers came from, 7 and 30 days

(core/routing, core/escalation)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..core.errors import ExitCode, ScalpelError, SettingLockedError, UsageError
from ..core.escalation import (EscalationConfig, UsageLog, before_answer, decide,
                               resolve_escalation)
from ..core.escalation.weak_answer import estimate_tokens
from ..core.routing import Router
from ..core.services import Services

def add_route_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="*",
                        help="the message to route ('-' or none: stdin); or 'calibrate "
                             "FILE.jsonl', or 'stats'")
    parser.add_argument("--json", action="store_true", help="the result as JSON")
    parser.add_argument("--model-step", action="store_true",
                        help="when the cheap steps are unsure, let the default model choose "
                             "(loads it in the engine process)")
    parser.add_argument("--budget", type=float, default=None,
                        help="calibrate: the share of answers to escalate (default: the "
                             "escalation settings' share_budget)")
    parser.add_argument("--max-tokens", type=int, default=48,
                        help="calibrate: length of each local answer scored (default 48)")
    parser.add_argument("--save", action="store_true",
                        help="calibrate: write the threshold to your escalation settings")


def run_route(args: argparse.Namespace, services: Services, *, model: str | None = None) -> int:
    words = list(args.text)
    if words[:1] == ["calibrate"]:
        if len(words) != 2:
            raise UsageError("give one file of requests: scalpel route calibrate FILE.jsonl")
        return run_calibrate(args, services, Path(words[1]), model=model)
    if words == ["stats"]:
        return run_stats(args, services)
    if args.save or args.budget is not None:
        raise UsageError("--budget and --save go with: scalpel route calibrate FILE.jsonl")
    text = " ".join(words) if words and words != ["-"] else sys.stdin.read()
    if not text.strip():
        raise UsageError("give the message to route, e.g. scalpel route \"translate to German: hi\"")
    presets = services.presets.list()
    engine = _load_engine(services, model) if args.model_step else None
    try:
        router = Router(presets, engine=engine)
        decision = router.route(text)
    finally:
        if engine is not None:
            engine.unload()
    preset = services.presets.get(decision.preset_id)
    name = preset.name if preset else decision.preset_id
    escalation = would_escalate(services, text, preset)
    if args.json:
        print(json.dumps({**decision.to_dict(), "preset_name": name,
                          "candidates": [c.preset_id for c in router.candidates],
                          "examples_step": router.embedder_name,
                          "model_step": engine is not None, **escalation},
                         indent=2, ensure_ascii=False))
    else:
        print(f"{name} ({decision.preset_id}) · {decision.step} · confidence "
              f"{decision.confidence:.2f} · {decision.reason}")
        if escalation["would_escalate"]:
            print(f"would go to the bigger model: {escalation['escalation_reason']}")
    return ExitCode.OK


def would_escalate(services: Services, text: str, preset) -> dict:
    """Whether the message would go to the bigger model before any local answer, and why:
    the before-answer checks (estimated tokens vs the context) and the privacy rules."""
    config = resolve_escalation(services.policy, services.settings)
    context = services.load_options(None, preset).n_ctx
    prompt_tokens = estimate_tokens(len(preset.system_prompt if preset else "") + len(text))
    reply = min(preset.max_tokens if preset else services.settings.max_tokens, context // 4)
    before = before_answer(prompt_tokens=prompt_tokens, context_size=context, reply_tokens=reply,
                           preset_escalate=preset.escalate if preset else None,
                           preset_name=preset.name if preset else None, estimated=True)
    share = UsageLog(services.paths.usage_log_file).remote_share(30) if config.configured \
        else 0.0
    allowed = decide(config, preset_id=preset.id if preset else None, asked=False,
                     remote_share=share, preset_escalate=preset.escalate if preset else None)
    go = before.weak and allowed.allowed
    why = before.reason if go else (
        "nothing before the answer calls for it (the answer's own signals may, after it)"
        if not before.weak else f"{before.reason}, but {allowed.reason}")
    return {"would_escalate": go, "escalation_reason": why,
            "escalation": {"before_answer": before.to_dict(), "allowed": allowed.to_dict(),
                           "config": config.describe()}}


def run_calibrate(args: argparse.Namespace, services: Services, file: Path, *,
                  model: str | None) -> int:
    from ..core.escalation.calibrate import calibrate, read_requests, score_requests

    config = resolve_escalation(services.policy, services.settings)
    budget = config.share_budget if args.budget is None else args.budget
    if not 0.0 <= budget <= 1.0:
        raise UsageError(f"--budget is a share from 0 to 1 (0.2 is 20 %), not {budget}")
    if not 1 <= args.max_tokens <= 1024:
        raise UsageError("--max-tokens must be from 1 to 1024")
    if args.save and config.locked:
        raise SettingLockedError("escalation is set by your organization's policy "
                                 f"({services.policy.file}); its threshold cannot be saved here")
    texts = read_requests(file)
    engine = _load_engine(services, model)
    started = time.monotonic()
    try:
        name = engine.model_info.name if engine.model_info else "the local model"
        progress = None if args.json else _progress
        scored = score_requests(engine, texts, presets=services.presets.list(),
                                max_tokens=args.max_tokens, on_progress=progress)
    finally:
        engine.unload()
    result = calibrate(scored, budget)
    saved = False
    if args.save:
        base = config if config.source == "settings" else EscalationConfig()
        services.update_settings(escalation=base.with_thresholds(
            logprob_p10=round(result.threshold, 4)).to_dict())
        saved = True
    if args.json:
        print(json.dumps({**result.to_dict(), "model": name, "saved": saved,
                          "max_tokens": args.max_tokens,
                          "seconds": round(time.monotonic() - started, 1),
                          "requests_scored": [s.to_dict() for s in scored]}, indent=2))
    else:
        print(f"threshold: escalate when the answer's 10th-percentile token log-probability "
              f"is below {result.threshold:.3f}")
        print(f"it escalates {result.share:.0%} of {result.scored} scored requests "
              f"(budget {budget:.0%}); {name}, {args.max_tokens}-token answers, "
              f"{time.monotonic() - started:.0f} s")
        print("saved to your escalation settings" if saved else
              "not saved (add --save to use it)")
    return ExitCode.OK


def run_stats(args: argparse.Namespace, services: Services) -> int:
    usage = UsageLog(services.paths.usage_log_file)
    summaries = [usage.summary(7), usage.summary(30)]
    if args.json:
        print(json.dumps({"log": str(usage.path), "periods": [s.to_dict() for s in summaries],
                          "warning": usage.warning}, indent=2))
        return ExitCode.OK
    for summary in summaries:
        print(f"Last {summary.days} days: {summary.answers} answers, {summary.remote_answers} "
              f"from the bigger model ({summary.remote_share:.0%}); {summary.tokens_left:,} "
              "tokens left this computer")
        for row in summary.rows:
            print(f"  {row.where:<7} {row.model:<40} {row.answers:>6} answers  "
                  f"{row.tokens_sent:>9,} sent  {row.tokens_received:>9,} received")
    if usage.warning:
        print(f"note: {usage.warning}", file=sys.stderr)
    return ExitCode.OK


def _progress(done: int, total: int) -> None:
    if done == total or done % 10 == 0:
        print(f"  scored {done}/{total}", file=sys.stderr, flush=True)


def _load_engine(services: Services, model: str | None):
    ref = services.registry.resolve(model) if model else services.default_model()
    if ref is None:
        raise ScalpelError(services.no_model_reason())
    engine = services.new_engine_process()
    try:
        engine.load(ref.path, services.load_options(ref), name=ref.name)
    except BaseException:
        engine.unload()
        raise
    return engine
