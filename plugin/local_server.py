"""Run `framescribe serve` as a child process (demo, tests, benchmarks):

    with LocalServer(["--bundle", "models/bundles/demo", "--runtime", "litert"]) as server:
        channel = grpc.insecure_channel(server.address)

Starts on a free port, waits for the "serving ... on HOST:PORT" line, and on exit sends
SIGTERM (the server drains, then exits) and waits for it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

READY = re.compile(r"serving .* on (\S+:\d+)")
KEPT_LINES = 1000  # a long-running server's stderr is not kept whole


class LocalServer:
    def __init__(self, args: Sequence[str], *, module: str = "framescribe.plugin.cli",
                 command: str | None = "serve", env: dict | None = None,
                 timeout_s: float = 120):
        """module/command: what runs (`python -m MODULE [COMMAND] --port 0 ARGS...`); any
        server that prints the "serving ... on HOST:PORT" line works."""
        self.args = [sys.executable, "-m", module, *([command] if command else []), "--port",
                     "0", *args]
        self.env = {**os.environ, **(env or {})}
        self.timeout_s = timeout_s
        self.lines: list[str] = []  # the server's stderr, as it arrives (the last KEPT_LINES)
        self.process: subprocess.Popen | None = None
        self.address = ""

    def start(self) -> LocalServer:
        """Start the server and wait until it serves; a no-op while it is already running
        (so `with LocalServer(...).start() as server` starts one process, not two)."""
        if self.process is not None and self.process.poll() is None:
            return self
        self.lines = []
        self.process = subprocess.Popen(self.args, stderr=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, text=True, env=self.env)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            match = READY.search(line)
            if match:
                self.address = match.group(1)
                threading.Thread(target=self._keep_reading, daemon=True).start()
                return self
        self.process.kill()
        self.process.wait()
        errors = [line.strip() for line in self.lines if "error" in line.lower()]
        raise RuntimeError(errors[-1] if errors else
                           "the server did not start:\n" + "".join(self.lines[-20:]))

    def _keep_reading(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            del self.lines[:-KEPT_LINES]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM, then wait; the exit status (0 after a clean drain)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
