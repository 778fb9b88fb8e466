"""Calling a local endpoint over HTTP, as SageMaker Runtime's ``InvokeEndpoint`` calls a container.

One keep-alive connection per thread and endpoint address, reused across calls (a new TCP connection
per request would cost more than scoring 100 rows). A pooled connection the server closed while idle is
detected on use and the request is sent again once on a fresh one: scoring is idempotent.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Dict, Optional, Tuple

from ntm.errors import UnsupportedContentTypeError

REQUEST_TIMEOUT_S = 120.0
_STALE = (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionResetError, BrokenPipeError)


class EndpointError(ValueError):
    """The endpoint refused or failed a request (SageMaker Runtime's ``ModelError``).

    ``status`` is the HTTP status; ``row`` and ``field`` locate a bad request's problem when the server
    said where it was.
    """

    def __init__(self, message: str, *, status: int, row: Optional[int] = None, field: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.row = row
        self.field = field


class EndpointClient:
    """Thread-safe: each thread has its own connections."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _connection(self, host: str, port: int, fresh: bool) -> http.client.HTTPConnection:
        pool: Dict[Tuple[str, int], http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        connection = pool.get((host, port))
        if fresh and connection is not None:
            connection.close()
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
            pool[(host, port)] = connection
        return connection

    def forget(self, host: str, port: int) -> None:
        """Drop this thread's connection to ``host:port`` (after its endpoint is deleted)."""
        connection = self._local.__dict__.get("pool", {}).pop((host, port), None)
        if connection is not None:
            connection.close()

    def invoke(self, host: str, port: int, body: bytes, content_type: str, accept: str, where: str) -> bytes:
        """POST ``body`` to ``/invocations``; the response body, or raise naming ``where`` (the endpoint)."""
        headers = {"Content-Type": content_type, "Accept": accept or "application/json"}
        for attempt in (0, 1):
            connection = self._connection(host, port, fresh=attempt > 0)
            reused = connection.sock is not None
            try:
                connection.request("POST", "/invocations", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                break
            except _STALE:
                connection.close()
                if attempt or not reused:
                    raise
        if response.status == 200:
            return payload
        raise _error(response.status, payload, where)


def _error(status: int, payload: bytes, where: str) -> Exception:
    try:
        details = json.loads(payload)["error"]
        message = str(details["message"])
    except (ValueError, KeyError, TypeError):
        details, message = {}, payload.decode("utf-8", "replace")[:500]
    if status in (406, 415):
        return UnsupportedContentTypeError(f"{where}: {message}")
    return EndpointError(f"{where} answered {status}: {message}", status=status, row=details.get("row"),
                         field=details.get("field"))
