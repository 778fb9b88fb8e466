"""The HTTP face of a model: SageMaker's container contract as a plain ASGI application.

Routes: ``GET /ping`` (200 once the model is loaded, 503 before), ``POST /invocations`` (scores the body
by ``Content-Type``, answers by ``Accept``), ``GET /execution-parameters`` (what batch transform asks
first). Errors are JSON documents ``{"error": {"status", "message", "row", "field"}}``.

The body is read chunk by chunk against the payload limit: a ``Content-Length`` over it is refused with
413 before a byte is read, and a chunked body is refused as soon as it crosses the limit; the server
discards the rest as it arrives rather than buffering it. No framework: the routes are three and the
per-request overhead is what the throughput benchmark measures.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from .invocations import InvocationError, ModelService

Scope = Dict[str, Any]
Receive = Callable[[], Awaitable[Dict[str, Any]]]
Send = Callable[[Dict[str, Any]], Awaitable[None]]

log = logging.getLogger("ntm.serve")
JSON_TYPE = b"application/json"


class InferenceApp:
    """An ASGI application serving one :class:`ModelService` (None until the model is loaded).

    >>> app = InferenceApp(ModelService.from_model_data("model.tar.gz"))  # doctest: +SKIP
    >>> uvicorn.run(app, port=8080)                                       # doctest: +SKIP
    """

    def __init__(self, service: Optional[ModelService] = None) -> None:
        self.service = service

    @property
    def ready(self) -> bool:
        return self.service is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/ping":
            if method not in ("GET", "HEAD"):
                await _error(send, InvocationError(405, "use GET /ping"))
            elif self.ready:
                await _respond(send, 200, b"", JSON_TYPE)
            else:
                await _error(send, InvocationError(503, "the model is still loading"))
        elif path == "/invocations":
            if method != "POST":
                await _error(send, InvocationError(405, "use POST /invocations"))
            else:
                await self._invocations(scope, receive, send)
        elif path == "/execution-parameters":
            if not self.ready:
                await _error(send, InvocationError(503, "the model is still loading"))
            else:
                await _respond(send, 200, json.dumps(self.service.execution_parameters()).encode(), JSON_TYPE)
        else:
            await _error(send, InvocationError(
                404, f"no route {path}; this server answers GET /ping, POST /invocations and "
                     "GET /execution-parameters"))

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = self.service
        if service is None:
            await _error(send, InvocationError(503, "the model is still loading"))
            return
        headers = _headers(scope)
        try:
            body = await _read_body(receive, headers, service)
            response, media_type = service.invoke(body, headers.get("content-type"), headers.get("accept"))
        except InvocationError as exc:
            if exc.status >= 500:
                log.error("POST /invocations failed: %s", exc, exc_info=exc.__cause__)
            await _error(send, exc)
            return
        except Exception as exc:  # whatever broke, this request gets a 500 and the worker keeps serving
            log.exception("POST /invocations failed")
            await _error(send, InvocationError(500, f"the server failed: {type(exc).__name__}: {exc}"))
            return
        await _respond(send, 200, response, media_type.encode())


def _headers(scope: Scope) -> Dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


async def _read_body(receive: Receive, headers: Dict[str, str], service: ModelService) -> bytes:
    declared = headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InvocationError(400, f"Content-Length {declared!r} is not a number", field="Content-Length") \
                from None
        service.check_size(size)  # refused before reading; the server discards the body as it comes
    chunks: List[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvocationError(400, "the client disconnected before sending the whole body", field="body")
        chunk = message.get("body", b"")
        received += len(chunk)
        service.check_size(received)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, media_type: bytes,
                   extra: Tuple[Tuple[bytes, bytes], ...] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media_type), (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, error: InvocationError) -> None:
    extra = ((b"allow", b"GET, POST"),) if error.status == 405 else ()
    await _respond(send, error.status, error.body(), JSON_TYPE, extra)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
