"""Where answers came from: the local SQLite log, its 7- and 30-day figures, and a damaged
or unwritable log that never stops an answer."""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest

from desktop_app.core.escalation import UsageLog
from desktop_app.core.escalation import usage_log as usage_module

DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_summaries_per_model_and_place_over_7_and_30_days(tmp_path, clock):
    log = UsageLog(tmp_path / "origins.sqlite3", clock=clock)
    clock.now -= 20 * DAY
    assert log.record(where="remote", model="big-72b", preset_id="code",
                      endpoint="https://llm.example/v1", tokens_sent=900, tokens_received=300,
                      reason="low confidence", chat_id=3)
    clock.now += 20 * DAY
    for _ in range(3):
        log.record(where="local", model="smollm2", preset_id="general", tokens_sent=50,
                   tokens_received=20, chat_id=4)
    log.record(where="remote", model="big-72b", preset_id="code",
               endpoint="https://llm.example/v1", tokens_sent=100, tokens_received=40,
               reason="asked", chat_id=4)
    week, month = log.summary(7), log.summary(30)
    assert (week.answers, week.remote_answers, week.tokens_left) == (4, 1, 100)
    assert (month.answers, month.remote_answers, month.tokens_left) == (5, 2, 1000)
    assert [r.to_dict() for r in month.rows] == [
        {"where": "local", "model": "smollm2", "answers": 3, "tokens_sent": 150,
         "tokens_received": 60},
        {"where": "remote", "model": "big-72b", "answers": 2, "tokens_sent": 1000,
         "tokens_received": 340}]
    assert log.remote_share(30) == pytest.approx(0.4) and log.remote_share(7) == 0.25
    with sqlite3.connect(log.path) as db:
        row = db.execute("SELECT endpoint, reason, chat_id FROM answers WHERE origin='local'"
                         ).fetchone()
    assert row == (None, None, 4)   # a local answer has no endpoint


def test_reading_a_missing_log_creates_nothing(tmp_path):
    log = UsageLog(tmp_path / "none" / "origins.sqlite3")
    assert log.summary(30).answers == 0 and log.remote_share() == 0.0
    assert not (tmp_path / "none").exists()


def test_a_damaged_log_is_set_aside_and_the_answer_goes_on(tmp_path, clock, caplog):
    path = tmp_path / "origins.sqlite3"
    path.write_bytes(b"this is not a database at all" * 100)
    log = UsageLog(path, clock=clock)
    with caplog.at_level(logging.WARNING):
        assert log.summary(30).answers == 0          # reading it: empty, and a warning
        assert log.record(where="local", model="smollm2")
    assert (tmp_path / "origins.sqlite3.bad").read_bytes().startswith(b"this is not")
    assert "was damaged" in log.warning and "a new one started" in caplog.text
    assert log.summary(30).answers == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_loses_the_row_not_the_answer(tmp_path, caplog):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        log = UsageLog(folder / "origins.sqlite3")
        with caplog.at_level(logging.WARNING):
            assert log.record(where="remote", model="big", tokens_sent=5) is False
        assert "the answer is not affected" in caplog.text
    finally:
        folder.chmod(0o700)


def test_a_log_path_that_is_a_folder_never_raises(tmp_path, caplog):
    (tmp_path / "origins.sqlite3").mkdir()
    log = UsageLog(tmp_path / "origins.sqlite3")
    with caplog.at_level(logging.WARNING):
        assert log.record(where="local", model="smollm2") is False
    assert log.warning and "could not log" in log.warning


def test_the_log_is_bounded(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(usage_module, "MAX_ROWS", 5)
    log = UsageLog(tmp_path / "origins.sqlite3", clock=clock)
    clock.now -= (usage_module.KEEP_DAYS + 1) * DAY
    log.record(where="remote", model="ancient")
    clock.now += (usage_module.KEEP_DAYS + 1) * DAY
    for n in range(8):
        log.record(where="local", model=f"m{n}")
    with sqlite3.connect(log.path) as db:
        models = [r[0] for r in db.execute("SELECT model FROM answers ORDER BY id")]
    assert models == ["m3", "m4", "m5", "m6", "m7"]


def test_where_must_be_local_or_remote(tmp_path):
    with pytest.raises(ValueError):
        UsageLog(tmp_path / "x.sqlite3").record(where="cloud", model="m")
