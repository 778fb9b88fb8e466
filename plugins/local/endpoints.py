"""Endpoint server processes: start one per endpoint, learn when it is ready, stop it.

An endpoint is ``python -m ntm.cli serve MODEL --host 127.0.0.1 --port 0`` in its own session (its own
process group, so it outlives the Python process that deployed it, as a SageMaker endpoint outlives the
notebook). The server picks a free port itself, which is race-free where choosing one for it is not, and
writes ``{"pid", "host", "port"}`` to ``$NTM_HOME/endpoints/<name>/ready.json``; its output goes to
``log`` beside it. The row in :mod:`hostingstore` holds the pid and, once ``/ping`` answers, the port.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

from . import hostingstore, jobstore
from .serving import GRACEFUL_TIMEOUT_S

LOOPBACK = "127.0.0.1"
PING_TIMEOUT_S = 2.0
STOP_GRACE_S = GRACEFUL_TIMEOUT_S + 5.0
_children: List[subprocess.Popen] = []  # servers this process started, reaped so none lingers as a zombie


def log_path(name: str) -> Path:
    return hostingstore.endpoint_dir(name) / "log"


def ready_path(name: str) -> Path:
    return hostingstore.endpoint_dir(name) / "ready.json"


def start_server(name: str, model_data: str, workers: int) -> int:
    """Start the endpoint's server process group; return the arbiter's pid (also the group id)."""
    folder = hostingstore.endpoint_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    ready_path(name).unlink(missing_ok=True)  # a stale file from a deleted namesake must not count
    environment = dict(os.environ, NTM_HOME=str(jobstore.home()))
    command = [sys.executable, "-m", "ntm.cli", "serve", model_data, "--host", LOOPBACK, "--port", "0",
               "--workers", str(workers), "--ready-file", str(ready_path(name))]
    with open(log_path(name), "ab") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=environment)
    _reap()
    _children.append(process)
    return process.pid


def _reap() -> None:
    _children[:] = [child for child in _children if child.poll() is None]


def alive(pid: Optional[int]) -> bool:
    _reap()
    return jobstore.pid_alive(pid)


def read_ready_file(name: str) -> Optional[Tuple[str, int]]:
    """``(host, port)`` once the server has bound its socket, else None."""
    try:
        found = json.loads(ready_path(name).read_text())
        return str(found["host"]), int(found["port"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None  # not written yet (it is replaced atomically, so never half-written)


def ping(host: str, port: int, timeout: float = PING_TIMEOUT_S) -> bool:
    """True when ``GET /ping`` answers 200."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def workers_started(pid: int, expected: int) -> bool:
    """True once the arbiter ``pid`` has ``expected`` worker processes (InService means every instance
    is up, as on SageMaker). Where /proc cannot tell (not Linux), a ``/ping`` answer has to do."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return len(handle.read().split()) >= expected
    except OSError:
        return True


def log_tail(name: str, lines: int = 8) -> str:
    try:
        text = log_path(name).read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(line for line in text.strip().splitlines()[-lines:]) or "(empty log)"


def stop_server(pid: Optional[int], grace: float = STOP_GRACE_S) -> None:
    """SIGTERM the arbiter (it drains in-flight requests), wait, then make sure the group is gone."""
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    # The arbiter waits for its workers, so normally nothing is left; after a crash or a timeout, kill
    # whatever remains of the endpoint's own process group so the port is certainly free.
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    while alive(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.05)
