"""Local models, endpoints and transform jobs in the shared SQLite database (``$NTM_HOME/ntm.db``).

Beside the training tables of :mod:`jobstore`, in the same WAL-mode database, so every process on the
machine sees the same endpoints: the one that deployed, a notebook started later, ``NTMPredictor(name)``
in a script. Each row keeps the request as sent (echoed back by ``describe_*``) plus what the backend
learnt since (server pid and port, status, failure reason). An endpoint's server log and ready file
live in ``$NTM_HOME/endpoints/<name>/``; a transform job's log in ``$NTM_HOME/transforms/<name>/``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, List

from ntm.errors import ResourceInUseError, ResourceNotFoundError

from . import jobstore

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
    name TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_data TEXT NOT NULL,
    instance_count INTEGER NOT NULL,
    status TEXT NOT NULL,
    failure_reason TEXT,
    pid INTEGER,
    host TEXT,
    port INTEGER,
    created REAL NOT NULL,
    modified REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS transform_jobs (
    name TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    model_data TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_reason TEXT,
    pid INTEGER,
    progress TEXT,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    stop_requested INTEGER NOT NULL DEFAULT 0
);
"""

_TABLES = {"model": "models", "endpoint": "endpoints", "transform job": "transform_jobs"}
_schema_ready: set = set()


def connect() -> sqlite3.Connection:
    """The per-thread connection of :mod:`jobstore`, with the hosting tables created on first use."""
    connection = jobstore.connect()
    if id(connection) not in _schema_ready:
        connection.executescript(SCHEMA)
        _schema_ready.add(id(connection))
    connection.row_factory = sqlite3.Row
    return connection


def endpoint_dir(name: str) -> Path:
    return jobstore.home() / "endpoints" / name


def transform_dir(name: str) -> Path:
    return jobstore.home() / "transforms" / name


def insert(kind: str, name: str, request: Dict[str, Any], **columns: Any) -> None:
    """Add a ``kind`` row (``model``, ``endpoint`` or ``transform job``); a taken name raises
    :class:`ResourceInUseError` as SageMaker's ``ResourceInUse`` does."""
    values = {"name": name, "request": json.dumps(request, default=str), "created": jobstore.now(), **columns}
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    try:
        connect().execute(f"INSERT INTO {_TABLES[kind]} ({names}) VALUES ({marks})", tuple(values.values()))
    except sqlite3.IntegrityError:
        raise ResourceInUseError(f"Cannot create {kind} {name!r}: one with that name already exists "
                                 f"in {jobstore.home() / 'ntm.db'}; delete it or choose another name") from None


def update(kind: str, name: str, **columns: Any) -> None:
    assignments = ", ".join(f"{column} = ?" for column in columns)
    connect().execute(f"UPDATE {_TABLES[kind]} SET {assignments} WHERE name = ?", (*columns.values(), name))


def update_if(kind: str, name: str, expected_status: str, **columns: Any) -> bool:
    """Update only while the row's status is still ``expected_status`` (so two processes observing the same
    change write it once); True if this call changed it."""
    assignments = ", ".join(f"{column} = ?" for column in columns)
    cursor = connect().execute(f"UPDATE {_TABLES[kind]} SET {assignments} WHERE name = ? AND status = ?",
                               (*columns.values(), name, expected_status))
    return cursor.rowcount > 0


def row(kind: str, name: str) -> sqlite3.Row:
    found = connect().execute(f"SELECT * FROM {_TABLES[kind]} WHERE name = ?", (name,)).fetchone()
    if found is None:
        raise ResourceNotFoundError(f"Could not find {kind} {name!r} on the local backend "
                                    f"({jobstore.home() / 'ntm.db'})")
    return found


def delete(kind: str, name: str) -> None:
    connect().execute(f"DELETE FROM {_TABLES[kind]} WHERE name = ?", (name,))


def names(kind: str) -> List[str]:
    return [r["name"] for r in connect().execute(f"SELECT name FROM {_TABLES[kind]} ORDER BY created")]
