"""A stand-in of ZeroGPU's device API, the service `spaces` asks for a GPU (`SPACES_ZERO_DEVICE_API_URL`).

It answers the four calls of `spaces` 0.51.3 (`spaces/zero/api.py`, `client.py`; all POST with query
parameters): /startup-report at launch; /schedule before each call of a `spaces.GPU` function (it grants
GPU 0, "idle", so an idle worker is reused, unless told to refuse the next one); /allow from each new
worker with its process id; /release after each call, which kills the worker of a failed call (as the
real service does; `spaces` itself leaves it waiting). Every request is recorded with its parameters.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REFUSALS = ("quota", "no-gpu")  # a 429 with no quota left (what a visitor past their minutes gets), a 503


class DeviceApi:
    """`start()` serves it on a free local port (`url`); `requests` lists (path, parameters) in order."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.refusal: str | None = None  # what the next /schedule gets instead of a GPU
        self._workers: dict[str, int] = {}  # allow token -> worker process id
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> DeviceApi:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def refuse_next(self, refusal: str) -> None:
        if refusal not in REFUSALS:
            raise ValueError(f"refusal must be one of {REFUSALS}; got {refusal!r}")
        self.refusal = refusal

    def calls(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [parameters for called, parameters in self.requests if called == path]

    def _answer(self, path: str, parameters: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            self.requests.append((path, parameters))
            if path == "/schedule":
                refusal, self.refusal = self.refusal, None
                if refusal == "quota":
                    return 429, {"left": 0, "wait": 30}
                if refusal == "no-gpu":
                    return 503, {}
                token = f"token-{len(self.requests)}"
                return 200, {"idle": True, "nvidiaIndex": 0, "nvidiaUUID": "GPU-stand-in", "allowToken": token}
            if path == "/allow":
                self._workers[parameters["allowToken"]] = int(parameters["pid"])
            if path == "/release":
                worker = self._workers.get(parameters["allowToken"])
                if parameters.get("fail") == "true" and worker is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker, signal.SIGTERM)
            return (200, {}) if path in ("/startup-report", "/allow", "/release") else (404, {})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *arguments: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                address = urlsplit(self.path)
                parameters = {name: values[0] for name, values in parse_qs(address.query).items()}
                status, answer = api._answer(address.path, parameters)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
