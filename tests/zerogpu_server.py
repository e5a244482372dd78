"""app.py served in a subprocess by `tests/zerogpu_launch.py` (under `spaces` in ZeroGPU mode or plainly, as its
environment says), with a gradio_client of it: the harness of tests/test_zerogpu_runtime.py and bench/zerogpu.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from gradio_client import Client

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 300  # a server's import and launch: ~15 s here; slow machines differ 4x, and CI's first run more


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """app.py served by `tests/zerogpu_launch.py` in a process group of its own (its workers included)."""

    def __init__(self, folder: Path, **environment: str) -> None:
        self.loads = folder / "loads.txt"
        self.port = _free_port()
        variables = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_PROXY": "127.0.0.1,localhost", **environment}
        # torch on both servers: what is compared is the spaces runtime, not the CPU's OpenVINO graphs (the plain
        # server's pixel-model images differed from torch's here, in a few values; tests/test_accelerated.py)
        variables["DIFFUSION_PLAYGROUND_ACCELERATE"] = "0"
        variables["ZEROGPU_LOADS_FILE"] = str(self.loads)
        self.log = open(folder / "server.log", "w")  # noqa: SIM115 (closed in `close`)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.zerogpu_launch", str(self.port)],
            cwd=ROOT,
            env=variables,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}/"
        self.client = self._connect()

    def _connect(self) -> Client:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server ended: {Path(self.log.name).read_text()[-3000:]}")
            try:
                return Client(self.url, verbose=False)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def loaded(self) -> list[tuple[int, str]]:
        """(process id, model) of every model load so far."""
        if not self.loads.exists():
            return []
        return [(int(pid), name) for pid, name in (line.split(" ", 1) for line in self.loads.read_text().splitlines())]

    def close(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)  # the server and the workers it forked
        self.process.wait(timeout=60)
        self.log.close()
