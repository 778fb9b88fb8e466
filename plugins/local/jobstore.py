"""Local job state in SQLite (``$NTM_HOME/ntm.db``, WAL mode), shared by every process on the machine.

A training job's row holds its request, status, timings, failure reason and worker pid; its metric rows
and its log file (``$NTM_HOME/jobs/<name>/log``) sit beside it. The worker process writes; estimators,
``attach`` in other processes and ``describe`` read. A job whose worker died without saying so (killed,
machine rebooted) is found by its pid and marked Failed, so nothing stays InProgress forever.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

from ntm import storage
from ntm.errors import ResourceInUseError, ResourceNotFoundError

SCHEMA = """
CREATE TABLE IF NOT EXISTS training_jobs (
    name TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    secondary_status TEXT NOT NULL,
    failure_reason TEXT,
    model_artifacts TEXT,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    pid INTEGER,
    stop_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS metrics (
    job TEXT NOT NULL,
    timestamp REAL NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_job ON metrics(job);
"""

_local = threading.local()


def home() -> Path:
    return storage.ntm_home()


def job_dir(name: str) -> Path:
    return home() / "jobs" / name


def log_path(name: str) -> Path:
    return job_dir(name) / "log"


def connect() -> sqlite3.Connection:
    """A per-thread connection to the shared database (created on first use)."""
    path = home() / "ntm.db"
    cached = getattr(_local, "connections", {})
    connection = cached.get(str(path))
    if connection is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)
        cached[str(path)] = connection
        _local.connections = cached
    return connection


def as_datetime(value: Optional[float]) -> Optional[dt.datetime]:
    """A stored UTC timestamp as a datetime, as the SageMaker API returns times (None stays None)."""
    return dt.datetime.fromtimestamp(value, dt.timezone.utc) if value else None


def now() -> float:
    return dt.datetime.now(dt.timezone.utc).timestamp()


def create(name: str, request: Dict[str, Any]) -> None:
    try:
        connect().execute(
            "INSERT INTO training_jobs (name, request, status, secondary_status, created) VALUES (?, ?, ?, ?, ?)",
            (name, json.dumps(request), "InProgress", "Starting", now()))
    except sqlite3.IntegrityError:
        raise ResourceInUseError(f"Training job {name!r} already exists; choose another job_name") from None


def update(name: str, **fields: Any) -> None:
    columns = ", ".join(f"{key} = ?" for key in fields)
    connect().execute(f"UPDATE training_jobs SET {columns} WHERE name = ?", (*fields.values(), name))


def finish(name: str, status: str, secondary: str, failure_reason: Optional[str] = None, **fields: Any) -> None:
    """Move a job to a final status, unless it already has one (the first word wins)."""
    connect().execute(
        "UPDATE training_jobs SET status = ?, secondary_status = ?, failure_reason = ?, ended = ?"
        + "".join(f", {key} = ?" for key in fields)
        + " WHERE name = ? AND status IN ('InProgress', 'Stopping')",
        (status, secondary, failure_reason, now(), *fields.values(), name))


def row(name: str) -> sqlite3.Row:
    connection = connect()
    connection.row_factory = sqlite3.Row
    found = connection.execute("SELECT * FROM training_jobs WHERE name = ?", (name,)).fetchone()
    if found is None:
        raise ResourceNotFoundError(f"Could not find training job {name!r} in {home() / 'ntm.db'}")
    return found


def pid_alive(pid: Optional[int]) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def reap_if_dead(name: str) -> None:
    """Mark an unfinished job whose worker process is gone as Failed."""
    job = row(name)
    if job["status"] in ("InProgress", "Stopping") and job["pid"] and not pid_alive(job["pid"]):
        if job["stop_requested"]:
            finish(name, "Stopped", "Stopped")
        else:
            finish(name, "Failed", "Failed",
                   f"The training process (pid {job['pid']}) exited without reporting a result; see {log_path(name)}")


def add_metric(name: str, metric: str, value: float) -> None:
    connect().execute("INSERT INTO metrics (job, timestamp, name, value) VALUES (?, ?, ?, ?)",
                      (name, now(), metric, float(value)))


def metrics(name: str) -> List[Dict[str, Any]]:
    rows = connect().execute("SELECT timestamp, name, value FROM metrics WHERE job = ? ORDER BY rowid",
                             (name,)).fetchall()
    return [{"timestamp": dt.datetime.fromtimestamp(t, dt.timezone.utc), "metric_name": n, "value": v}
            for t, n, v in rows]
