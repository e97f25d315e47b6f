"""Escalation end to end, with real parts: the machine policy points at a running
``llama_cpp.server`` (the organization's "bigger model", played by SmolLM2); the
window and ``scalpel chat`` answer locally, then ask the bigger model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QTableWidget

from desktop_app.core.errors import EscalationRefusedError
from desktop_app.core.paths import Paths
from desktop_app.core.services import build_services
from desktop_app.ui.orchestration_ui import ConsentDialog, OriginsDialog
from gui_helpers import REPLY_TIMEOUT_MS, send, started

pytestmark = pytest.mark.model


@pytest.fixture
def escalating_services(llama_server, scalpel_home, tmp_path, write_policy, monkeypatch):
    policy = write_policy(tmp_path / "etc", {"escalation": {
        "mode": "ask", "endpoint": llama_server.url, "model": llama_server.model,
        "share_budget": 0.5}})
    monkeypatch.setenv("SCALPEL_POLICY", str(policy))
    return build_services(Paths.under(scalpel_home))


def test_ask_the_bigger_model_streams_a_second_version_and_is_counted(
        qtbot, escalating_services, llama_server):
    from desktop_app.app import create_window

    services = escalating_services
    window = create_window(services)
    qtbot.addWidget(window)
    window.show()
    started(qtbot, window)
    shown = []

    def consent(needed):
        shown.append(needed)
        dialog = ConsentDialog(needed, window)
        assert "Name a planet." in dialog.preview.toPlainText()
        dialog.deleteLater()
        return True

    window.chat._ask_consent = consent
    send(qtbot, window, "Name a planet.")
    local = window.chat.path[-1]
    assert local.stats["routed"]["where"] == "local"
    assert window.chat.session.escalation_mode == "ask"
    assert "Ask the bigger model" in window.view.toHtml()
    errors = []
    window.bridge.reply_failed.connect(errors.append)
    assert window.chat.escalate(local.id)
    qtbot.waitUntil(lambda: not window.chat.answering, timeout=REPLY_TIMEOUT_MS)
    assert not errors
    remote = window.chat.path[-1]
    assert shown and shown[0].endpoint == llama_server.url
    assert remote.id != local.id and remote.parent_id == local.parent_id
    # llama_cpp.server names the model by its path: people read the file's name
    assert remote.content.strip() and remote.model == Path(llama_server.model).name
    assert remote.stats["routed"]["where"] == "remote"
    assert "(the organization's model)" in window.view.toPlainText()
    assert "2/2" in window.view.toPlainText()        # the local answer is one step away
    dialog = window.orchestration.show_origins()
    assert isinstance(dialog, OriginsDialog)
    week = services.usage_log.summary(7)
    assert (week.answers, week.remote_answers) == (2, 1) and week.tokens_left > 0
    assert dialog.findChild(QTableWidget, "origins-7").rowCount() == 2
    # the chat marked "Keep on this computer" is never sent, even when asked
    window.orchestration.keep_local_action.trigger()
    assert window.chat.session.keep_local
    with pytest.raises(EscalationRefusedError, match="Keep on this computer"):
        window.chat.session.escalate(remote.id)
    window.close()


def test_chat_escalate_answers_from_the_bigger_model_with_its_origin(
        scalpel, llama_server, tmp_path, write_policy):
    etc = tmp_path / "etc"
    write_policy(etc, {"escalation": {"mode": "auto", "endpoint": llama_server.url,
                                      "model": llama_server.model}})
    result = scalpel("chat", "--escalate", "--json", "--max-tokens", "24", "Say hello.",
                     env={"SCALPEL_SYSTEM_CONFIG": str(etc)})
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["answered_by"] == {"model": Path(llama_server.model).name,
                                      "where": "remote"}
    assert figures["routing_step"] == "escalation"
    stats = json.loads(scalpel("route", "stats", "--json",
                               env={"SCALPEL_SYSTEM_CONFIG": str(etc)}).stdout)
    assert json.dumps(stats).count("remote") >= 1
