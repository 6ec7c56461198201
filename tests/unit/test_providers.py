"""The sandbox's provider stand-ins, called by the sample app's own client code: a pin the
provider speaks is answered, any other is refused with the versions it speaks."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollbackctl.tools import providers

APP_DIR = Path(__file__).resolve().parents[2] / "sample_app"


def _app_module(name: str):
    """A module of the sample app as a release ships it (they import each other by name)."""
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    spec = importlib.util.spec_from_file_location(name, APP_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


settings = _app_module("settings")
client = _app_module("providers")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, int]]:
    """The stand-ins serving in this process, one free port each."""
    ports = {name: _free_port() for name in providers.SPOKEN_VERSIONS}
    servers = [
        providers.ProviderServer(port, name, tmp_path / "calls.jsonl", threading.Lock())
        for name, port in ports.items()
    ]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield ports
    for server in servers:
        server.shutdown()
        server.server_close()


def integration(service: str, port: int, version: str):
    return settings.Integration(service, version, f"http://127.0.0.1:{port}", "1.0.0")


def test_a_spoken_pin_is_answered_and_recorded(served: dict[str, int], tmp_path: Path) -> None:
    payment = integration("payment", served["payment"], "2025-03-31")
    charge = client.call(payment, "POST", "/v1/charges", {"amount": 100, "order": 7})
    assert charge["id"].startswith("ch_")
    assert client.status(payment)["ok"] is True
    calls = providers.calls(tmp_path)
    assert [(c["path"], c["status"], c["api_version"]) for c in calls] == [
        ("/v1/charges", 200, "2025-03-31"),
        ("/v1/status", 200, "2025-03-31"),
    ]
    assert calls[0]["client"] == "market-payment-client/1.0.0"


def test_an_unknown_pin_is_refused_naming_what_the_provider_speaks(
    served: dict[str, int],
) -> None:
    email = integration("email", served["email"], "v4")
    with pytest.raises(client.ProviderError) as refused:
        client.call(email, "POST", "/v1/messages", {"order": 7})
    assert str(refused.value) == (
        "email provider answered HTTP 400: unknown API version 'v4' (speaks v3)"
    )
    assert client.status(email) == {
        "api_version": "v4",
        "client_version": "1.0.0",
        "ok": False,
        "detail": "email provider answered HTTP 400: unknown API version 'v4' (speaks v3)",
    }


def test_a_provider_that_does_not_answer_is_reported() -> None:
    gone = integration("push", _free_port(), "2")
    checked = client.status(gone)
    assert checked["ok"] is False
    assert checked["detail"].startswith("push provider did not answer")


def test_started_in_the_background_they_serve_on_the_address_asked_until_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The drills start them where their containers reach this machine, not on loopback."""
    folder = tmp_path / "providers"
    started = providers.main(
        ["start", "--folder", str(folder), "--host", "127.0.0.2", "--port=payment=0"]
    )
    assert started == 0
    port = json.loads(capsys.readouterr().out)["ports"]["payment"]
    try:
        assert providers.listening(port, "127.0.0.2")
        assert not providers.listening(port)
        # A second start would print ports nothing serves: it is refused.
        with pytest.raises(SystemExit) as again:
            providers.main(["start", "--folder", str(folder), "--port=payment=0"])
        assert again.value.code == 1
        assert "already serving" in capsys.readouterr().err
        answered = client.status(
            settings.Integration("payment", "2025-03-31", f"http://127.0.0.2:{port}", "1.0.0")
        )
        assert answered["ok"] is True
    finally:
        assert providers.main(["stop", "--folder", str(folder)]) == 0
    assert not providers.listening(port, "127.0.0.2")
    assert not (folder / providers.PID_FILE).exists()
