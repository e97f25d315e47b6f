"""RemoteEngine's faults, one test each, against tests/fault_chat_server.py (127.0.0.1).

Each fault is a typed ``RemoteEngineError`` with a ``kind`` and one sentence a person
can act on; a stream that stops part-way first yields every piece that arrived, then
raises ``RemoteAnswerCutError`` carrying that text. Nothing here leaves the machine: the
DNS test asks for a ``.invalid`` name, which never resolves.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time

import pytest

from desktop_app.core.engine import GenerationParams, LoadOptions, TextDelta
from desktop_app.core.engine.remote import RemoteEngine
from desktop_app.core.errors import (ModelFileError, RemoteAnswerCutError, RemoteEngineError,
                                     RemoteModelNotFoundError)
from fault_chat_server import MODEL, FaultServer

HELLO = [{"role": "user", "content": "Hello?"}]
PARAMS = GenerationParams(temperature=0.2, max_tokens=50, seed=7)


@pytest.fixture
def server():
    servers = []

    def start(fault="ok", **options):
        servers.append(FaultServer(fault=fault, **options).start())
        return servers[-1]

    yield start
    for running in servers:
        running.stop()


def engine_for(url, **options) -> RemoteEngine:
    options.setdefault("read_timeout_s", 0.5)
    options.setdefault("connect_timeout_s", 2.0)
    return RemoteEngine(endpoint=url, model=MODEL, api_key="sk-test", **options)


def loaded(url, **options) -> RemoteEngine:
    engine = engine_for(url, **options)
    engine.load(None, LoadOptions(n_ctx=1024), name="Big")
    return engine


def read_all(engine: RemoteEngine):
    """(pieces, final or None, error or None), reading to the end or the error."""
    pieces, final = [], None
    try:
        for event in engine.generate(HELLO, PARAMS):
            if isinstance(event, TextDelta):
                pieces.append(event.text)
            else:
                final = event
    except RemoteEngineError as exc:
        return pieces, final, exc
    return pieces, final, None


def fails(engine: RemoteEngine) -> RemoteEngineError:
    pieces, final, error = read_all(engine)
    assert error is not None and final is None, (pieces, final)
    return error


# -- the normal path -------------------------------------------------------------------------

def test_nothing_connects_until_load_and_the_request_is_standard(server):
    fake = server("ok")
    engine = engine_for(fake.url)
    assert fake.requests == [] and engine.stats()["requests"] == 0
    info = engine.load(None, LoadOptions(n_ctx=1024), name="Big")
    assert [r[:2] for r in fake.requests] == [("GET", "/v1/models")]
    assert (info.name, info.context_size, info.trained_context) == ("Big", 8192, 8192)
    assert info.path == f"{fake.url}#{MODEL}"
    pieces, final, error = read_all(engine)
    assert error is None and "".join(pieces) == "one two three four " == final.text
    assert final.reason == "stop"
    assert (final.stats.prompt_tokens, final.stats.completion_tokens) == (12, 42)  # usage
    method, path, headers, body = fake.requests[-1]
    assert (method, path, headers["Authorization"]) == ("POST", "/v1/chat/completions",
                                                        "Bearer sk-test")
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["model"], body["max_tokens"], body["temperature"], body["seed"]) == (
        MODEL, 50, 0.2, 7)
    assert "top_k" not in body and "grammar" not in body  # standard fields only


def test_without_usage_the_pieces_are_counted_and_length_is_kept(server):
    pieces, final, _ = read_all(loaded(server("no_usage").url))
    assert final.stats.completion_tokens == len(pieces) == 4
    assert read_all(loaded(server("length").url))[1].reason == "length"


def test_the_policy_proxy_carries_the_requests(server, monkeypatch):
    import http.client
    from urllib.parse import urlsplit

    import proxy_server

    def do_post(handler):  # the shared test proxy forwards GET/HEAD; add a plain POST
        handler.owner.seen.append(f"POST {handler.path}")
        target = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        upstream.request("POST", target.path, body=body, headers={
            k: v for k, v in handler.headers.items() if k.lower() not in proxy_server.HOP_BY_HOP})
        answer = upstream.getresponse()
        data = answer.read()
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.getheader("Content-Type"))
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    monkeypatch.setattr(proxy_server._ProxyHandler, "do_POST", do_post, raising=False)
    fake, proxy = server("ok"), proxy_server.ForwardingProxy().start()
    try:
        engine = loaded(fake.url, proxy=proxy.url)
        assert read_all(engine)[1].text == "one two three four "
    finally:
        proxy.stop()
    assert f"GET {fake.url}/models" in proxy.seen
    assert f"POST {fake.url}/chat/completions" in proxy.seen


def test_a_grammar_is_refused_plainly_and_nothing_is_sent(server):
    fake = server("ok")
    engine = loaded(fake.url)
    with pytest.raises(RemoteEngineError) as caught:
        engine.generate(HELLO, GenerationParams(grammar='root ::= "x"')).result()
    assert caught.value.kind == "unsupported" and "use a local model" in str(caught.value)
    assert [r[0] for r in fake.requests] == ["GET"]


def test_a_json_schema_goes_as_json_schema_then_in_the_older_form_if_refused(server):
    fake = server("old_schema")
    schema = '{"type": "object", "properties": {"a": {"type": "string"}}}'
    text = loaded(fake.url).generate(HELLO, GenerationParams(json_schema=schema)).result().text
    assert text == "one two three four "
    formats = [r[3]["response_format"] for r in fake.requests if r[0] == "POST"]
    assert formats == [
        {"type": "json_schema", "json_schema": {"name": "answer", "schema": json.loads(schema),
                                                "strict": True}},
        {"type": "json_object", "schema": json.loads(schema)}]


# -- no connection -----------------------------------------------------------------------------

def test_connection_refused(server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(RemoteEngineError) as caught:
        engine_for(f"http://127.0.0.1:{port}/v1").load(None)
    assert caught.value.kind == "refused"
    assert str(caught.value) == (
        f"The organization's model at 127.0.0.1:{port} refused the connection: the server is "
        "not running at that address; try again later or check the endpoint in the escalation "
        "settings (or ask IT, if your organization's policy sets them).")


def test_dns_failure():
    with pytest.raises(RemoteEngineError) as caught:
        engine_for("http://scalpel-escalation.invalid/v1").load(None)
    assert caught.value.kind == "dns"
    assert str(caught.value).startswith("The organization's model at scalpel-escalation.invalid "
                                        "could not be found (no such host name): check")


@pytest.fixture
def self_signed(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


def test_tls_untrusted_certificate_then_trusted_through_the_ca_bundle(server, self_signed):
    fake = server("ok", tls=self_signed)
    with pytest.raises(RemoteEngineError) as caught:
        engine_for(fake.url).load(None)
    assert caught.value.kind == "tls"
    assert "certificate this computer does not trust, so nothing was sent" in str(caught.value)
    engine = loaded(fake.url, ca_bundle=self_signed[0])  # the policy's CA bundle: trusted
    assert read_all(engine)[1].text == "one two three four "
    with pytest.raises(RemoteEngineError) as caught:
        engine_for(fake.url, ca_bundle="/nonexistent/ca.pem").load(None)
    assert caught.value.kind == "ca_bundle" and "/nonexistent/ca.pem" in str(caught.value)


# -- HTTP answers --------------------------------------------------------------------------------

@pytest.mark.parametrize("status, words", [("401", "refused the key (401)"),
                                           ("403", "does not allow this key (403)")])
def test_the_key_is_refused(server, status, words):
    fake = server("ok")
    engine = loaded(fake.url)
    fake.fault = status
    error = fails(engine)
    assert (error.kind, error.status) == ("auth", int(status))
    host = fake.url.split("//")[1].split("/")[0]
    assert str(error) == (f"The organization's model at {host} {words}: check the API key "
                          "in the escalation settings (or ask IT, if your organization's "
                          "policy sets them).")
    with pytest.raises(RemoteEngineError, match=r"\(4\d\d\): check the API key"):
        engine_for(fake.url).load(None)


def test_an_unknown_model(server):
    fake = server("ok")
    with pytest.raises(RemoteModelNotFoundError) as caught:
        engine_for(fake.url).load("small-model")
    assert isinstance(caught.value, ModelFileError)  # a failed load keeps the loaded model
    assert "has no model named 'small-model' (it lists: big-model)" in str(caught.value)
    engine = loaded(fake.url)
    fake.fault = "404"
    error = fails(engine)
    assert isinstance(error, RemoteModelNotFoundError) and error.status == 404
    assert "has no model named 'big-model' (404) (it said: The model 'big-model' does not " \
           "exist): check the model name" in str(error)


def test_rate_limited_with_retry_after(server):
    fake = server("ok")
    engine = loaded(fake.url)
    fake.fault = "429"
    error = fails(engine)
    assert (error.kind, error.status, error.retry_after) == ("rate_limited", 429, 7.0)
    assert str(error).endswith("is busy and asked Scalpel to slow down (429): try again in "
                               "7 seconds.")


def test_a_server_error(server):
    fake = server("ok")
    engine = loaded(fake.url)
    fake.fault = "503"
    error = fails(engine)
    assert (error.kind, error.status) == ("server", 503)
    assert "failed with a server error (503) (it said: Overloaded): try again later" in str(error)


def test_an_answer_that_is_not_a_stream(server):
    error = fails(loaded(server("json").url))
    assert error.kind == "malformed" and "did not answer as a chat-completions stream " \
        "(it sent application/json)" in str(error)


def test_a_slow_first_byte_times_out(server):
    error = fails(loaded(server("slow_first", delay=3).url))
    assert error.kind == "timeout" and not error.cut
    assert "sent nothing for 1 second: it may be overloaded; try again later." in str(error)


# -- streams that stop part-way: the text that arrived survives -----------------------------------

@pytest.mark.parametrize("fault, kind, why", [
    ("cut", "cut", "the connection closed before the end"),
    ("eof", "cut", "the connection closed before the end"),
    ("stall", "timeout", "it sent nothing for 1 second"),
    ("malformed", "malformed", "it sent something that is not a chat answer: not JSON"),
    ("error_event", "server", "it reported an error: out of memory"),
])
def test_a_stream_that_stops_midway_keeps_what_arrived(server, fault, kind, why):
    pieces, final, error = read_all(loaded(server(fault).url))
    expected = "one two " if fault != "error_event" else "one "
    assert "".join(pieces) == expected and final is None
    assert isinstance(error, RemoteAnswerCutError) and error.kind == kind
    assert error.cut and error.partial_text == expected
    assert f"stopped part-way through the answer ({why}" in str(error)
    assert str(error).endswith("what arrived is kept, marked as incomplete; ask again for a "
                               "full answer.")


def test_malformed_sse_before_any_text(server):
    pieces, _, error = read_all(loaded(server("bad_first").url))
    assert pieces == [] and error.kind == "malformed" and error.partial_text == ""
    assert str(error).endswith("(it sent something that is not a chat answer: not JSON: "
                               "'this is not json'): ask again for a full answer.")


# -- cancel ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["hang", "slow_first"])
def test_cancel_from_another_thread_ends_the_stream_within_200_ms(server, fault):
    fake = server(fault, delay=20)
    engine = loaded(fake.url, read_timeout_s=30)
    handle = engine.generate(HELLO, PARAMS)
    events, ended, ended_at = [], threading.Event(), []

    def reader():
        for event in handle:
            events.append(event)
        ended_at.append(time.monotonic())
        ended.set()

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + 10
    while not (events if fault == "hang" else len(fake.requests) == 2):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.1)  # the reader is now blocked on the silent server
    cancelled_at = time.monotonic()
    threading.Thread(target=handle.cancel).start()
    assert ended.wait(5)
    assert ended_at[0] - cancelled_at < 0.2
    final = events[-1]
    assert final.reason == "cancelled"
    assert final.text == ("one " if fault == "hang" else "")
    assert engine.stats()["answering"] == 0
