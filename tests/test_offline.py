"""After a download, Scalpel never touches the network: proven with a socket guard."""

from __future__ import annotations

import subprocess
import sys
import textwrap

GUARD = textwrap.dedent("""
    import ipaddress, socket

    attempts = []

    def _loopback(address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host in ("localhost",):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def _guarded(original):
        def connect(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
                attempts.append(address)
                raise AssertionError(f"network access attempted: {address}")
            return original(self, address)
        return connect

    socket.socket.connect = _guarded(socket.socket.connect)
    socket.socket.connect_ex = _guarded(socket.socket.connect_ex)
    _getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _loopback(host):
            attempts.append(host)
            raise AssertionError(f"name lookup attempted: {host}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
""")


def run_guarded(body: str) -> subprocess.CompletedProcess:
    code = GUARD + textwrap.dedent(body) + textwrap.dedent("""
        assert not attempts, attempts
        print("NO-NETWORK-OK")
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)


def test_the_guard_catches_a_connection():
    result = run_guarded("""
        import socket
        try:
            socket.create_connection(("192.0.2.1", 443), timeout=1)
        except AssertionError:
            attempts.clear()
            print("caught")
    """)
    assert "caught" in result.stdout, result.stderr


def test_a_whole_session_makes_no_network_request(scalpel_home):
    result = run_guarded("""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        from PySide6.QtCore import QEventLoop, QTimer
        from desktop_app.core.paths import Paths
        from desktop_app.core.services import build_services
        from desktop_app.app import create_window

        app = QApplication([])
        services = build_services(Paths.from_environment())
        services.settings.temperature = 0.0
        services.settings.max_tokens = 16
        window = create_window(services)
        window.show()

        def wait(signal):
            loop = QEventLoop()
            signal.connect(loop.quit)
            QTimer.singleShot(300_000, loop.quit)
            loop.exec()

        window.load_model(services.default_model())
        wait(window.bridge.model_loaded)
        window.panel.send("Say hi")
        wait(window.bridge.reply_finished)
        assert window.chat.history[-1]["role"] == "assistant"
        window.close()
        hub_modules = [m for m in sys.modules if m.startswith(("huggingface_hub", "httpx"))]
        assert not hub_modules, hub_modules
    """)
    assert result.returncode == 0 and "NO-NETWORK-OK" in result.stdout, result.stderr[-3000:]


def test_the_cli_chat_makes_no_network_request(smollm2_path):
    result = run_guarded(f"""
        import sys
        from desktop_app.cli import main
        code = main(["chat", "--model", {str(smollm2_path)!r}, "--temperature", "0",
                     "--max-tokens", "8", "Say hi"])
        assert code == 0
        hub_modules = [m for m in sys.modules if m.startswith("huggingface_hub")]
        assert not hub_modules, hub_modules
    """)
    assert result.returncode == 0 and "NO-NETWORK-OK" in result.stdout, result.stderr[-3000:]
