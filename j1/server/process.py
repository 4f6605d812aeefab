"""Run `python -m j1.server` as a child process: start it on a free port, wait until it is healthy, stop it.

For tests, notebooks and scripts that need a live judge next to them:

    with ServerProcess(["--judge", "smollm2-135m", "--engine", "hf"]) as server:
        JudgeClient(server.url).pairwise(...)

`stop()` sends SIGTERM, so the server drains its in-flight requests before it exits (graceful shutdown).
The child's output goes to a log file; start-up failures raise `J1Error` with the log's tail.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from j1 import J1Error


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class PortTaken(J1Error):
    """The server could not bind its port: another process holds it."""


class ServerProcess:
    def __init__(
        self,
        args: list[str],
        port: int | None = None,
        env: dict[str, str] | None = None,
        log_path: str | Path | None = None,
        startup_timeout: float = 300.0,
        require_healthy: bool = True,
        command: list[str] | None = None,
    ) -> None:
        self.args, self.env, self.startup_timeout = list(args), env, startup_timeout
        self.require_healthy = require_healthy  # False: any answer of /healthz (503 too) means started
        # a port of ours, if another process takes it in the meantime, is picked again
        self.chosen_port = port is None
        self.port = port or free_port()
        self.log_path = Path(log_path or Path(tempfile.gettempdir()) / f"j1-serve-{self.port}.log")
        self.command = command or [sys.executable, "-m", "j1.server"]  # or `j1 serve`: the same flags
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, attempts: int = 3) -> ServerProcess:
        """Start and wait until healthy. The free port picked here can be taken in the second before the
        server binds it (at its start, before the engine): then start again on another."""
        for attempt in range(attempts):
            try:
                return self._start()
            except PortTaken:
                if not self.chosen_port or attempt == attempts - 1:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start(self) -> ServerProcess:
        cmd = [*self.command, *self.args, "--port", str(self.port)]
        with open(self.log_path, "w") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env or dict(os.environ)
            )
        deadline, last = time.monotonic() + self.startup_timeout, "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                error = PortTaken if "address already in use" in self.log().lower() else J1Error
                raise error(f"j1 server exited with {self.proc.returncode} during start-up:\n{self.log()}")
            try:
                r = httpx.get(f"{self.url}/healthz", timeout=10.0)
                if r.status_code == 200 or not self.require_healthy:
                    return self
                last = f"HTTP {r.status_code}: {r.text[:300]}"
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.25)
        self.stop()
        raise J1Error(
            f"j1 server not healthy after {self.startup_timeout:g} s (/healthz: {last}):\n{self.log()}"
        )

    def log(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def terminate(self) -> None:
        """SIGTERM without waiting: the server stops accepting and drains in-flight requests."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 90.0) -> int | None:
        """SIGTERM, wait for the drain and exit (SIGKILL after `timeout`); the exit code."""
        if self.proc is None:
            return None
        self.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
