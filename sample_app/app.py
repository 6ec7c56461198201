"""Serve the AfricanMarket JSON API over HTTP: `python3 app.py --config /path/app.env`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import api
import metrics
import release_info
import settings

# Bodies are small JSON documents; a cap keeps a bad client from holding a thread on a huge read.
MAX_BODY_BYTES = 64 * 1024


class MarketServer(ThreadingHTTPServer):
    # Restarts during a rollback must not wait for TIME_WAIT sockets to clear.
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: api.App) -> None:
        super().__init__(address, Handler)
        self.app = app


class Handler(BaseHTTPRequestHandler):
    server: MarketServer
    server_version = "AfricanMarket"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        started = time.monotonic()
        path = self.path.split("?", 1)[0]
        if self.command == "GET" and path == metrics.PATH:
            # Monitoring's own requests are not traffic: they stay out of the counts.
            self._send_bytes(200, *metrics.exposition())
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        body = self._read_json()
        if body is None:
            status, payload = 400, {"error": "request body must be a JSON object"}
        else:
            request = api.Request(self.command, path, headers, body)
            status, payload = api.dispatch(self.server.app, request)
        # Counted before the answer goes out: a client gone by then still made the request.
        metrics.observe(self.command, api.route_name(self.command, path), status)
        self._send(status, payload)
        elapsed_ms = (time.monotonic() - started) * 1000
        sys.stderr.write(
            f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {self.client_address[0]} "
            f"{self.command} {path} {status} {elapsed_ms:.1f}ms\n"
        )

    def _read_json(self) -> dict[str, Any] | None:
        """The request's JSON object, {} when there is no body, None when it is not valid."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length <= 0:
            return {}
        if length > MAX_BODY_BYTES:
            return None
        try:
            data = json.loads(self.rfile.read(length))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json")

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # _handle writes its own line with the timing; the default line would double it.
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", help="path to the KEY=VALUE app.env file")
    parser.add_argument(
        "--check-settings",
        metavar="FILE",
        help="check a candidate settings.env against this release's schema, then exit",
    )
    args = parser.parse_args(argv)
    if args.check_settings:
        try:
            settings.check_managed(args.check_settings)
        except settings.ConfigError as exc:
            print(f"app: {exc}", file=sys.stderr)
            return 2
        return 0
    if not args.config:
        parser.error("--config is required")
    try:
        config = settings.load(args.config)
        release = release_info.load(Path(__file__).resolve().parent)
    except (settings.ConfigError, OSError, ValueError) as exc:
        print(f"app: {exc}", file=sys.stderr)
        return 2
    metrics.watch(config, release, Path(args.config))
    try:
        server = MarketServer((config.bind, config.port), api.App(config, release))
    except OSError as exc:
        print(f"app: cannot listen on {config.bind}:{config.port}: {exc.strerror}", file=sys.stderr)
        return 1
    stop = threading.Event()
    # shutdown() blocks until serve_forever returns, so serve in a thread and let the signal
    # handler only set an event; the main thread then stops the loop.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    serving.start()
    print(
        f"app: release {release.id} (schema {release.schema_version}) listening on "
        f"{config.bind}:{config.port}",
        file=sys.stderr,
        flush=True,
    )
    stop.wait()
    server.shutdown()
    server.server_close()
    serving.join()
    print("app: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
