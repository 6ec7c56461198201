"""Local stand-ins of the third-party providers the sample app calls: payment, email, push.

Each provider listens on a loopback port of its own and, like the real ones, refuses a call
whose `Api-Version` it does not speak: a bad version pin in the app's integration settings
really breaks payments, and rolling the pin back really mends them. Every call is appended
to calls.jsonl in the providers' folder, so a test can see what reached a provider.

`sandbox up` starts them in the background (`start`), `sandbox down` stops them (`stop`).
The drills start them on the address where their containers reach this machine
(`python -m rollbackctl.tools.providers start --host ADDRESS`).
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError

from rollbackctl.tools import background

# The API versions each stand-in speaks, oldest first.
SPOKEN_VERSIONS: dict[str, tuple[str, ...]] = {
    "payment": ("2024-06-20", "2025-03-31"),
    "email": ("v3",),
    "push": ("1", "2"),
}
# What a call to each provider does, besides the status every provider answers.
ACTIONS: dict[str, tuple[str, str]] = {
    "payment": ("/v1/charges", "ch"),
    "email": ("/v1/messages", "msg"),
    "push": ("/v1/messages", "msg"),
}
STATUS_PATH = "/v1/status"
PID_FILE = "providers.pid"
CALLS_FILE = "calls.jsonl"
LOG_FILE = "providers.log"
START_SECONDS = 10.0
LOOPBACK = background.LOOPBACK


class ProviderServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(
        self, port: int, service: str, calls: Path, lock: threading.Lock, host: str = LOOPBACK
    ) -> None:
        super().__init__((host, port), ProviderHandler)
        self.service = service
        self.calls = calls
        self.lock = lock


class ProviderHandler(BaseHTTPRequestHandler):
    server: ProviderServer

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        service = self.server.service
        version = self.headers.get("Api-Version", "")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if 0 < length <= 65536 else b""
        action, prefix = ACTIONS[service]
        status, payload = 200, {"ok": True, "api_version": version}
        if version not in SPOKEN_VERSIONS[service]:
            spoken = ", ".join(SPOKEN_VERSIONS[service])
            status, payload = 400, {"error": f"unknown API version {version!r} (speaks {spoken})"}
        elif self.command == "POST" and self.path == action:
            payload = {"id": f"{prefix}_{secrets.token_hex(6)}", "api_version": version}
        elif not (self.command == "GET" and self.path == STATUS_PATH):
            status, payload = 404, {"error": f"no {self.command} {self.path}"}
        self._record(status, version, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, status: int, version: str, body: bytes) -> None:
        entry = {
            "service": self.server.service,
            "method": self.command,
            "path": self.path,
            "api_version": version,
            "client": self.headers.get("User-Agent", ""),
            "status": status,
            "body": body.decode("utf-8", "replace"),
        }
        with self.server.lock, self.server.calls.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(folder: Path, ports: dict[str, int], host: str = LOOPBACK) -> None:
    """Serve every provider on host until SIGTERM or SIGINT."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    servers = [
        ProviderServer(port, name, folder / CALLS_FILE, lock, host) for name, port in ports.items()
    ]
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}) for s in servers
    ]
    for thread in threads:
        thread.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()


def _pid(folder: Path) -> int | None:
    """The pid of the stand-ins serving from folder, None when none runs there."""
    return background.running_pid(folder / PID_FILE, "rollbackctl.tools.providers", folder)


listening = background.listening
free_port = background.free_port


def start(folder: Path, ports: dict[str, int], host: str = LOOPBACK) -> None:
    """Start the stand-ins on host in the background unless they already serve from folder."""
    if _pid(folder) is not None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "rollbackctl.tools.providers", "serve", "--folder", str(folder)]
    argv += [f"--host={host}"]
    argv += [f"--port={name}={port}" for name, port in sorted(ports.items())]
    background.start(
        argv,
        pid_file=folder / PID_FILE,
        log_file=folder / LOG_FILE,
        ready=lambda: all(listening(port, host) for port in ports.values()),
        what="the third-party stand-ins",
        seconds=START_SECONDS,
    )


def stop(folder: Path) -> None:
    """Stop the stand-ins serving from folder, if any."""
    background.stop(_pid(folder), folder / PID_FILE)


def calls(folder: Path) -> list[dict[str, Any]]:
    """Every call the stand-ins received, oldest first."""
    path = folder / CALLS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for command, summary in (
        ("serve", "serve the providers in the foreground"),
        ("start", "serve the providers in the background, once they listen"),
        ("stop", "stop the providers serving from --folder"),
    ):
        parsed = commands.add_parser(command, help=summary)
        parsed.add_argument("--folder", required=True, type=Path)
        if command != "stop":
            parsed.add_argument("--host", default=LOOPBACK, help=f"address (default {LOOPBACK})")
            parsed.add_argument(
                "--port",
                action="append",
                default=[],
                metavar="SERVICE=PORT",
                help="where a provider listens; 0 picks a free port (start prints the ports)",
            )
    args = parser.parse_args(argv)
    if args.command == "stop":
        stop(args.folder)
        return 0
    ports = {}
    for given in args.port:
        name, _sep, port = given.partition("=")
        if name not in SPOKEN_VERSIONS or not port.isdigit():
            parser.error(f"--port {given}: expected one of {', '.join(SPOKEN_VERSIONS)}=PORT")
        ports[name] = int(port)
    if args.command == "start":
        if _pid(args.folder) is not None:
            parser.exit(1, f"providers: already serving from {args.folder}; stop them first\n")
        ports = {name: port or free_port(args.host) for name, port in ports.items()}
        try:
            start(args.folder, ports, args.host)
        except RollbackError as error:
            parser.exit(1, f"providers: {error}\n")
        print(json.dumps({"host": args.host, "ports": ports}))
        return 0
    serve(args.folder, ports, args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
