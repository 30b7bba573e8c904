"""`socialdesk run` as a real process against a LocalStack's emulators and database.

For what only a process can show: SIGTERM and `kill -9` at any moment, then a
restart on the same database (the drain test and `bench/torture.py`).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from bot.emulators import slack_client
from bot.emulators.stack import CHANNEL, LocalStack
from bot.slack.ids import case_ref

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(stack: LocalStack) -> dict[str, str]:
    """The environment that points a bot process at the stack's emulators and database."""
    env = {}
    for name, value in stack.settings().model_dump().items():
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        if value is not None and value != "":
            env[name.upper()] = str(value)
    return env


class BotProcess:
    def __init__(self, stack: LocalStack, log_path: Path, *, extra_env: dict[str, str] | None = None, role: str = "all"):
        self.stack = stack
        self.port = free_port()
        self.log_path = log_path
        self.role = role
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "X_", "FACEBOOK_", "SOCIALDESK_", "DATABASE_URL"))},
            **stack_env(stack), "PYTHONPATH": str(ROOT), "PORT": str(self.port), "HOST": "127.0.0.1",
            "NO_PROXY": "127.0.0.1,localhost", **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None
        self.http = requests.Session()
        self.http.trust_env = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BotProcess":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--role", self.role], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, cwd=str(self.log_path.parent))
        log.close()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 60) -> "BotProcess":
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.http.get(f"{self.url}/healthz", timeout=2).status_code in (200, 503):
                    return self
            except requests.RequestException:
                pass
            if not self.alive():
                raise RuntimeError(f"socialdesk run exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"socialdesk run did not serve within {timeout}s; see {self.log_path}")
            time.sleep(0.05)

    def worker_pid(self) -> int | None:
        """The process's worker process (bot.worker_process), if it has one running."""
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == self.process.pid and "spawn_main" in (proc / "cmdline").read_text():
                    return int(proc.name)
            except (OSError, ValueError, IndexError):  # it just exited
                continue
        return None

    def signal(self, sig: int = signal.SIGTERM) -> None:
        if self.alive():
            self.process.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process is None:
            return None
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                return self.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    # -- what Slack and the networks send it ---------------------------------------

    def click(self, user_id: str, action_id: str, case_id: int, *, timeout: float = 10) -> requests.Response:
        body = slack_client.block_actions(user_id, action_id, case_ref(case_id), channel=CHANNEL, message_ts="1.0")
        return slack_client.post(f"{self.url}/slack/events", body, self.stack.signer, timeout=timeout)
