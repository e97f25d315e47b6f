"""The local API's front door over real sockets: token, Host, CORS, body size, the queue,
the port. The engine is the tests' fake (no model needed); tests/test_api.py runs the
real engine with the real openai client."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop_app.core.api import ApiOptions, ApiToken, options_for
from desktop_app.core.api.config import ApiNotAllowedError
from desktop_app.core.api.engine_host import EngineHost
from desktop_app.core.api.server import ApiServer
from desktop_app.core.policy import Policy
from fake_engine import FakeEngine

CHAT = {"model": "", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 5}


@pytest.fixture
def serve(services, tmp_path):
    """Start an API on a fake engine; stopped at the end. Returns (server, token)."""
    servers = []

    def start(engine=None, **options):
        engine = engine or FakeEngine()
        model = tmp_path / "fake.gguf"
        model.write_bytes(b"GGUF")
        engine.load(model)
        token = ApiToken(services.paths.config_dir)
        server = ApiServer(EngineHost(services, engine, owns_engine=False), token,
                           ApiOptions(**{"port": 0, **options}))
        server.start()
        servers.append(server)
        return server, token

    yield start
    for server in servers:
        server.stop()


def call(server, method="GET", path="/v1/models", *, token=None, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=sent)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def test_no_token_and_a_wrong_token_get_401_in_openais_error_shape(serve):
    server, token = serve()
    status, headers, body = call(server)
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    error = json.loads(body)["error"]
    assert error["type"] == "authentication_error" and "Bearer" in error["message"]
    assert call(server, token=token.value + "x")[0] == 401
    assert call(server, token="sk-scalpel-" + "a" * 43)[0] == 401
    assert call(server, token=token.value)[0] == 200
    assert call(server, "GET", "/health")[0] == 200  # health needs no token


def test_a_rotated_token_locks_out_the_old_one_at_once(serve):
    server, token = serve()
    old = token.value
    new = token.rotate()
    assert new != old
    assert call(server, token=old)[0] == 401
    assert call(server, token=new)[0] == 200


def test_the_token_file_is_owner_only_and_survives_a_restart(services):
    token = ApiToken(services.paths.config_dir)
    value = token.value
    assert token.path.stat().st_mode & 0o777 == 0o600
    assert ApiToken(services.paths.config_dir).value == value  # read back, not made anew
    token.path.chmod(0o644)
    assert ApiToken(services.paths.config_dir).value == value
    assert token.path.stat().st_mode & 0o777 == 0o600  # tightened again
    assert not list(token.path.parent.glob(".api-token*"))  # no temp file left


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8477", "127.0.0.1.evil.example",
                                  "localhost.evil.example:80"])
def test_a_foreign_host_header_is_refused_even_with_the_token(serve, host):
    server, token = serve()
    status, _, body = call(server, token=token.value, headers={"Host": host})
    assert status == 403
    assert json.loads(body)["error"]["code"] == "host_not_allowed"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:1234", "[::1]:8477", "LOCALHOST"])
def test_loopback_host_headers_are_answered(serve, host):
    server, token = serve()
    assert call(server, token=token.value, headers={"Host": host})[0] == 200


def test_a_preflight_from_a_foreign_origin_gets_no_cors_headers(serve):
    server, token = serve(allowed_origins=("https://notes.example",))
    status, headers, _ = call(server, "OPTIONS", "/v1/chat/completions", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert status == 403
    assert not [k for k in headers if k.startswith("access-control-")]
    # and a real request from that page is refused even with the token
    status, headers, _ = call(server, token=token.value,
                              headers={"Origin": "https://evil.example"})
    assert status == 403 and "access-control-allow-origin" not in headers


def test_an_allowed_origin_gets_its_own_name_back_never_a_wildcard(serve):
    server, token = serve(allowed_origins=("https://notes.example",))
    status, headers, _ = call(server, "OPTIONS", "/v1/chat/completions", headers={
        "Origin": "https://notes.example", "Access-Control-Request-Method": "POST"})
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://notes.example"
    assert "authorization" in headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in headers
    status, headers, _ = call(server, token=token.value,
                              headers={"Origin": "https://notes.example"})
    assert status == 200 and headers["access-control-allow-origin"] == "https://notes.example"
    assert "*" not in headers["access-control-allow-origin"]


def test_without_an_allow_list_no_origin_gets_cors_headers(serve):
    server, token = serve()
    status, headers, _ = call(server, "OPTIONS", "/v1/models", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"})
    assert status == 403 and "access-control-allow-origin" not in headers


def test_an_oversized_body_gets_413_declared_or_chunked(serve):
    server, token = serve(max_body_bytes=10_000)
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 20_000}]}
    status, _, body = call(server, "POST", "/v1/chat/completions", token=token.value, body=big)
    assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"
    # chunked: no Content-Length to refuse up front, counted as it is read
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/v1/chat/completions", body=iter([json.dumps(big).encode()]),
                 headers={"Authorization": f"Bearer {token.value}",
                          "Content-Type": "application/json"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413
    conn.close()


def test_max_tokens_over_the_cap_and_unsupported_fields_get_400_naming_the_field(serve):
    server, token = serve(max_tokens_cap=256)
    for change, param in (({"max_tokens": 257}, "max_tokens"), ({"logprobs": True}, "logprobs"),
                          ({"n": 2}, "n"), ({"temperature": 9}, "temperature"),
                          ({"messages": []}, "messages"), ({"stop": ["a"] * 5}, "stop"),
                          ({"response_format": {"type": "json_schema", "json_schema": {
                              "schema": {"type": "strnig"}}}}, "response_format")):
        status, _, body = call(server, "POST", "/v1/chat/completions", token=token.value,
                               body={**CHAT, **change})
        error = json.loads(body)["error"]
        assert (status, error["param"]) == (400, param), error
    status, _, body = call(server, "POST", "/v1/chat/completions", token=token.value,
                           body=b"{not json")
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_json"


def test_a_flood_gets_429s_with_retry_after_and_the_server_keeps_answering(serve):
    engine = FakeEngine(words=3, delay=0.05)
    engine.gate.clear()  # every answer waits before its first word until released
    server, token = serve(engine=engine, queue_size=4)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def one():
        status, headers, _ = call(server, "POST", "/v1/chat/completions", token=token.value,
                                  body=CHAT)
        with lock:
            results.append((status, headers))

    threads = [threading.Thread(target=one) for _ in range(40)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(results) < 36 and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = [h for s, h in results if s == 429]
    assert len(refused) == 36, [s for s, _ in results]
    assert all(1 <= int(h["retry-after"]) <= 60 for h in refused)
    assert call(server, token=token.value)[0] == 200  # still answering while the line is full
    engine.gate.set()
    for thread in threads:
        thread.join(30)
    assert sorted(s for s, _ in results).count(200) == 4
    assert call(server, "POST", "/v1/chat/completions", token=token.value, body=CHAT)[0] == 200
    assert server.api.admission.held == 0


def test_the_port_taken_by_another_process_means_the_next_free_one(serve):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import socket,sys,time\n"
         "s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1],"
         " flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        taken = int(holder.stdout.readline())
        server, token = serve(port=taken)
        assert server.port != taken and taken < server.port <= taken + 20
        assert server.address == f"http://127.0.0.1:{server.port}/v1"
        assert call(server, token=token.value)[0] == 200
    finally:
        holder.kill()
        holder.wait()


def test_every_call_is_recorded_for_the_window(serve):
    server, token = serve()
    call(server, token=token.value, headers={"User-Agent": "editor/1.0"})
    call(server)
    deadline = time.monotonic() + 5  # recorded just after the response went out
    while len(server.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    recent = list(server.calls)
    assert [(c.path, c.status) for c in recent[-2:]] == [("/v1/models", 200), ("/v1/models", 401)]
    assert recent[-2].user_agent == "editor/1.0"
    assert recent[-1].client.startswith("127.0.0.1:")


# -- the policy's word on the API ------------------------------------------------------------

def test_the_policy_can_turn_the_api_off_and_fix_interfaces_and_origins():
    managed = Policy(file=Path("/etc/scalpel/policy.json"), api_enabled=False)
    with pytest.raises(ApiNotAllowedError, match="turned off"):
        options_for(managed)
    loopback_only = Policy(file=Path("/etc/scalpel/policy.json"), api_interfaces=())
    assert options_for(loopback_only).host == "127.0.0.1"
    with pytest.raises(ApiNotAllowedError, match="192.168.1.20"):
        options_for(loopback_only, host="192.168.1.20")
    fixed = Policy(file=Path("/p.json"), api_origins=("https://intranet.example",))
    assert options_for(fixed).allowed_origins == ("https://intranet.example",)
    with pytest.raises(ApiNotAllowedError, match="evil"):
        options_for(fixed, origins=("https://evil.example",))
    # unmanaged: the person's own choices, checked
    assert options_for(Policy(), host="0.0.0.0").host == "0.0.0.0"
    assert options_for(Policy(), origins=("https://Notes.example:443/",)).allowed_origins == (
        "https://notes.example",)
    with pytest.raises(Exception, match="origin"):
        options_for(Policy(), origins=("*",))


def test_a_policy_file_with_problems_turns_the_api_off(tmp_path):
    from desktop_app.core.policy.parse import parse_policy

    assert parse_policy({"version": 1}, tmp_path / "p.json").api_enabled is True
    broken = parse_policy({"allowed_models": "all"}, tmp_path / "p.json")
    assert broken.api_enabled is False
    odd = parse_policy({"api_origins": ["*", "https://a.example"], "api_enabled": "yes"},
                       tmp_path / "p.json")
    assert odd.api_origins == ("https://a.example",) and odd.api_enabled is False
    assert len(odd.problems) == 2


def test_bound_sockets_never_share_a_listening_port():
    from desktop_app.core.api.server import PortsInUseError, bind_first_free

    first = bind_first_free("127.0.0.1", 0, 1)
    port = first.getsockname()[1]
    try:
        with pytest.raises(PortsInUseError, match="in use"):
            bind_first_free("127.0.0.1", port, 1)
    finally:
        first.close()
    assert socket  # (imported for the holder process's protocol)


def test_in_the_window_another_installed_model_is_a_409_not_a_second_load(serve):
    engine = FakeEngine()
    server, token = serve(engine=engine)
    loaded = engine.model_info.path
    installed = server.host.services.usable_models()
    assert installed, "the starter model is installed in the test environment"
    status, _, body = call(server, "POST", "/v1/chat/completions", token=token.value,
                           body={**CHAT, "model": installed[0].id})
    error = json.loads(body)["error"]
    assert status == 409 and "window" in error["message"]
    assert engine.model_info.path == loaded  # nothing was loaded behind the window's back
    status, _, body = call(server, "POST", "/v1/chat/completions", token=token.value,
                           body={**CHAT, "model": "summarize"})  # a preset: the loaded model
    assert status == 200 and json.loads(body)["model"] == "summarize"
    assert engine.requests[-1][0]["role"] == "system"  # the preset's system prompt went in


def test_the_window_switch_serves_the_fake_engine_and_closing_the_window_stops_it(
        qtbot, services):
    from desktop_app.app import create_window

    engine = FakeEngine(words=2)
    window = create_window(services, engine=engine)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.bridge.model_loaded, timeout=10_000):
        window.start()
    panel = window.api_panel
    assert panel.menu.menuAction() in window.menuBar().actions()[0].menu().actions()
    panel.switch.setChecked(True)
    server = panel.server
    assert server is not None and server.host.engine is engine and not server.host.owns_engine
    status, _, body = call(server, "POST", "/v1/chat/completions", token=panel.token().value,
                           body=CHAT)
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"]
    qtbot.waitUntil(lambda: "1 recent call" in panel.status.text(), timeout=5_000)
    port = server.port
    window.close()
    assert panel.server is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_the_window_switch_is_off_and_disabled_when_the_policy_turns_the_api_off(
        qtbot, services):
    from dataclasses import replace as replace_policy

    from desktop_app.app import create_window

    services.policy = replace_policy(services.policy, api_enabled=False,
                                     file=Path("/etc/scalpel/policy.json"))
    window = create_window(services, engine=FakeEngine())
    qtbot.addWidget(window)
    assert not window.api_panel.switch.isEnabled()
    assert "organization" in window.api_panel.switch.toolTip()
    window.close()


def test_a_deeply_nested_body_is_a_400_not_a_crash(serve):
    server, token = serve()
    deep = b'{"model": "x", "messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    status, _, body = call(server, "POST", "/v1/chat/completions", token=token.value, body=deep)
    assert status == 400 and "nested 50,001 levels deep" in json.loads(body)["error"]["message"]
    status, _, _ = call(server, "GET", "/v1/models", token=token.value)
    assert status == 200  # and the server goes on


def test_a_remote_server_cannot_make_the_engine_recurse():
    from desktop_app.core.engine.chat_completions import MalformedChunk, read_chunk
    from desktop_app.core.engine.remote_stream import error_detail

    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(MalformedChunk):
        read_chunk(deep)
    assert error_detail(deep) == deep[:160]
