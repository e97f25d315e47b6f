"""``scalpel route`` for escalation, through the real command: ``--json`` says whether a
message would go to the bigger model and why; ``route stats`` prints where answers came
from; ``route calibrate`` sets the threshold from real answers of the starter model."""

from __future__ import annotations

import json

import pytest

from desktop_app.core.escalation import UsageLog
from desktop_app.core.paths import Paths

ON = {"mode": "auto", "endpoint": "http://127.0.0.1:9/v1", "model": "big",
      "tasks": ["summarize", "general"], "share_budget": 0.2}


def write_settings(home, **values):
    paths = Paths.under(home)
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text(json.dumps(values), encoding="utf-8")


def route_json(scalpel, text):
    result = scalpel("route", "--json", text)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_route_json_says_whether_it_would_escalate_and_why(scalpel, scalpel_home):
    article = "Summarize this article for me:\n\n" + ("The council met on Tuesday. " * 1200)
    off = route_json(scalpel, article)
    assert off["preset_id"] == "summarize" and off["would_escalate"] is False
    assert "does not fit the local model's context" in off["escalation_reason"]
    assert off["escalation"]["allowed"]["code"] == "off"
    assert off["escalation"]["config"]["source"] == "default"

    write_settings(scalpel_home, n_ctx=1024, escalation=ON)
    on = route_json(scalpel, article)
    assert on["would_escalate"] is True
    assert on["escalation_reason"].startswith("the request (about ")
    fit = on["escalation"]["before_answer"]["signals"][0]
    assert fit["name"] == "context_fit" and fit["threshold"] == 8192.0 and fit["weak"]
    assert on["escalation"]["config"]["source"] == "settings"

    short = route_json(scalpel, "Please translate this into French: good evening")
    assert short["would_escalate"] is False
    assert short["escalation_reason"].startswith("nothing before the answer calls for it")

    write_settings(scalpel_home, n_ctx=1024, escalation={**ON, "tasks": ["code"]})
    barred = route_json(scalpel, article)
    assert barred["would_escalate"] is False
    assert "but the task summarize may not be sent" in barred["escalation_reason"]


def test_route_stats_prints_where_answers_came_from(scalpel, scalpel_home):
    empty = scalpel("route", "stats")
    assert empty.returncode == 0, empty.stderr
    assert "Last 7 days: 0 answers" in empty.stdout
    log = UsageLog(Paths.under(scalpel_home).usage_log_file)
    log.record(where="local", model="smollm2", preset_id="code", tokens_sent=40,
               tokens_received=10)
    log.record(where="remote", model="big", preset_id="code", endpoint="http://x/v1",
               tokens_sent=700, tokens_received=90, reason="asked")
    data = json.loads(scalpel("route", "stats", "--json").stdout)
    assert [p["days"] for p in data["periods"]] == [7, 30]
    week = data["periods"][0]
    assert (week["answers"], week["remote_answers"], week["tokens_left"]) == (2, 1, 700)
    assert {(r["where"], r["model"]) for r in week["by_model"]} == {("local", "smollm2"),
                                                                   ("remote", "big")}
    text = scalpel("route", "stats").stdout
    assert "1 from the bigger model (50%); 700 tokens left this computer" in text


def test_calibrate_options_are_checked(scalpel, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"task": "code"}\n')
    result = scalpel("route", "calibrate", str(bad))
    assert result.returncode == 2 and "bad.jsonl, line 2" in result.stderr
    assert scalpel("route", "--budget", "0.2", "hello").returncode == 2
    assert "--budget is a share" in scalpel("route", "calibrate", str(bad), "--budget",
                                            "2").stderr


def test_the_threshold_escalates_the_budgeted_share():
    from desktop_app.core.escalation.calibrate import (ScoredRequest, calibrate,
                                                       escalated_share, threshold_for_share)

    scores = [-0.2, -3.0, -0.5, None, -1.5, -2.2, -0.9, -0.1, -4.0, -0.7, -1.1]
    threshold = threshold_for_share(scores, 0.2)
    assert threshold == pytest.approx((-3.0 + -2.2) / 2)    # below it: the 2 lowest of 10
    assert escalated_share(scores, threshold) == pytest.approx(0.2)
    assert escalated_share(scores, threshold_for_share(scores, 0.0)) == 0.0
    assert escalated_share(scores, threshold_for_share(scores, 1.0)) == 1.0
    result = calibrate([ScoredRequest(i, "general", s, 8, "length", 0.1)
                        for i, s in enumerate(scores)], 0.5)
    assert (result.requests, result.scored, result.share) == (11, 10, 0.5)
    with pytest.raises(Exception, match="no token log-probabilities"):
        threshold_for_share([None, None], 0.2)


@pytest.mark.model
def test_calibrate_sets_the_threshold_from_real_answers(scalpel, scalpel_home, tmp_path,
                                                        write_policy):
    requests = tmp_path / "mine.jsonl"
    requests.write_text("\n".join(json.dumps({"text": t}) for t in (
        "How do I reverse a list in Python?", "Translate to German: good morning",
        "Give me three ideas for a team lunch", "What is the capital of Peru?")) + "\n")
    result = scalpel("route", "calibrate", str(requests), "--budget", "0.5", "--max-tokens",
                     "8", "--json", "--save")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    scores = [r["score"] for r in data["requests_scored"]]
    assert all(isinstance(s, float) for s in scores), scores   # the engine measured them
    assert sum(s < data["threshold"] for s in scores) == 2 and data["share"] == 0.5
    assert data["saved"] and data["scored"] == 4 and data["signal"] == "logprob_p10"
    saved = json.loads(Paths.under(scalpel_home).settings_file.read_text())
    assert saved["escalation"]["thresholds"]["logprob_p10"] == data["threshold"]
    assert saved["escalation"]["mode"] == "off"   # calibrating never turns escalation on

    etc = tmp_path / "etc"
    write_policy(etc, {"escalation": ON})
    locked = scalpel("route", "calibrate", str(requests), "--save",
                     env={"SCALPEL_SYSTEM_CONFIG": str(etc)})
    assert locked.returncode == 1
    assert "escalation is set by your organization's policy" in locked.stderr
