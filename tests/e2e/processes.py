"""Real processes for the e2e suite and the notification benchmark.

Every process starts in its own session (so in its own process group, with its children: Celery's
prefork pool, uvicorn), writes stdout and stderr to one log file, and is stopped with bounded
waits: SIGTERM to the group, then SIGKILL to the group. Nothing here ever signals a process it did
not start. `PrivateRedis` is a redis-server of our own on a spare port, for the tests that stop it
(the machine's shared Redis is never touched).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[2]
STOP_SECONDS = 10.0
LOG_TAIL_LINES = 60


class ProcessError(RuntimeError):
    """A process we started did not come up (its log tail is in the message)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def script(name: str) -> str:
    """A console script of this virtualenv (next to the running interpreter)."""
    return str(Path(sys.executable).parent / name)


@dataclass
class Proc:
    """A process group we started, and its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    _closed: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)  # pgid == pid: started with start_new_session

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash, not a shutdown), and reap the leader."""
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=STOP_SECONDS)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM the group; after `timeout` SIGKILL it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.alive():
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Children (prefork pool, a hung request) may outlive the leader: the group goes too.
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)

    def children(self) -> list[int]:
        """Direct children of the leader (Celery's pool processes), read from /proc."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 1 and int(fields[1]) == self.pid:
                found.append(int(entry.name))
        return found


def start(
    name: str, command: Sequence[str], *, env: Mapping[str, str], log_dir: Path, cwd: Path = ROOT
) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(command)}\n".encode())
        out.flush()
        popen = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Proc(name, popen, log)


def wait_http(proc: Proc, url: str, *, timeout: float = 30.0) -> None:
    """Until GET `url` answers 2xx; a process that exits first fails with its log."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if not proc.alive():
                raise ProcessError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            try:
                if client.get(url).is_success:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ProcessError(f"{proc.name} not ready at {url} after {timeout:.0f} s:\n{proc.tail()}")
            time.sleep(0.1)


def wait_log(proc: Proc, needle: str, *, timeout: float = 30.0, after: int = 0) -> None:
    """Until `needle` appears in the log past byte `after`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = proc.log.read_bytes()[after:]
        except OSError:
            data = b""
        if needle.encode() in data:
            return
        if not proc.alive():
            raise ProcessError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise ProcessError(f"{proc.name}: no {needle!r} after {timeout:.0f} s:\n{proc.tail()}")
        time.sleep(0.1)


def redis_answers(url: str) -> str | None:
    """None when Redis at `url` answers PING, else why not."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def forget_queue(url: str, queue: str) -> None:
    """Delete a Celery queue of ours (its priority lists, kombu's binding sets) from Redis; best effort."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        priorities = (f"{queue}\x06\x16{p}" for p in range(10))
        client.delete(queue, *priorities, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    except (redis.exceptions.RedisError, OSError):
        pass
    finally:
        client.close()


class PrivateRedis:
    """A redis-server of our own on a spare loopback port, with an append-only file fsynced at every
    write: a Redis that is stopped and started again keeps what it had accepted (the production
    setting a broker needs; the machine's shared Redis keeps nothing on disk)."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.proc: Proc | None = None
        data_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.data_dir),
            "--daemonize", "no", "--protected-mode", "yes",
        ]  # fmt: skip
        self.proc = start(f"redis-{self.port}", command, env=os.environ, log_dir=self.log_dir)
        wait_until(lambda: redis_answers(self.url) is None, timeout=10, what=f"redis-server :{self.port}")

    def stop(self) -> None:
        """A hard stop (SIGKILL): what was acknowledged must already be on disk."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.stop()
            self.proc = None
