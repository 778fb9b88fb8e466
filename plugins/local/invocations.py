"""What an NTM container does with a request, free of HTTP: the server and batch transform share it.

:class:`ModelService` turns ``(body, Content-Type, Accept)`` into response bytes, or raises an
:class:`InvocationError` carrying the HTTP status SageMaker's container contract gives that mistake:
415 for a content type it does not read, 406 for an ``Accept`` it cannot write, 400 for a body it cannot
score (naming the row and field), 413 for a body over the payload limit, 500 when inference itself fails.
Inference is numpy only (:class:`TopicInference`), deterministic and one batched pass per request.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ntm import payloads, storage
from ntm.errors import UnsupportedContentTypeError

from .artifact import load_artifact
from .inference import TopicInference

#: SageMaker's default and maximum ``MaxPayloadInMB`` for real-time endpoints and batch transform.
DEFAULT_MAX_PAYLOAD_MB = 6
MAX_PAYLOAD_ENV = "NTM_MAX_PAYLOAD_MB"
_ARCHIVE_MEMBERS = ("weights.npz", "model.json", "metrics.json", "topics.json", "vocab.txt")


class InvocationError(Exception):
    """A request the service answers with an error status instead of topic weights.

    ``status`` is the HTTP status; :meth:`body` the JSON error document the server sends
    (``{"error": {"status", "message", "row", "field"}}``).
    """

    def __init__(self, status: int, message: str, *, row: Optional[int] = None,
                 field: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.row = row
        self.field = field

    def body(self) -> bytes:
        return json.dumps({"error": {"status": self.status, "message": str(self), "row": self.row,
                                     "field": self.field}}).encode()


def _pack_folder(folder: Path) -> bytes:
    """The archive bytes of an unpacked model.tar.gz (only the members ntm writes), or of the one
    model.tar.gz inside ``folder``; :func:`load_artifact` then checks them as it checks any archive."""
    if (folder / "model.tar.gz").is_file():
        return (folder / "model.tar.gz").read_bytes()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name in _ARCHIVE_MEMBERS:
            if (folder / name).is_file():
                tar.add(str(folder / name), arcname=name, recursive=False)
    return out.getvalue()


def max_payload_bytes(max_payload_mb: Optional[float] = None) -> int:
    """The payload limit in bytes: the argument, else ``$NTM_MAX_PAYLOAD_MB``, else 6 MB."""
    if max_payload_mb is None:
        text = os.environ.get(MAX_PAYLOAD_ENV, str(DEFAULT_MAX_PAYLOAD_MB))
        try:
            max_payload_mb = float(text)
        except ValueError:
            raise ValueError(f"{MAX_PAYLOAD_ENV} must be a number of megabytes, got {text!r}") from None
    if not max_payload_mb > 0:
        raise ValueError(f"the payload limit must be a positive number of MB, got {max_payload_mb!r}")
    return int(max_payload_mb * 1024 * 1024)


class ModelService:
    """Scores request bodies with one model.

    >>> service = ModelService.from_model_data("file:///tmp/out/job/output/model.tar.gz")  # doctest: +SKIP
    >>> body, media_type = service.invoke(b"0,1,2\\n", "text/csv", "application/json")      # doctest: +SKIP
    """

    def __init__(self, inference: TopicInference, *, max_payload_mb: Optional[float] = None,
                 max_concurrent_transforms: int = 1) -> None:
        self.inference = inference
        self.max_payload_bytes = max_payload_bytes(max_payload_mb)
        self.max_concurrent_transforms = max_concurrent_transforms

    @classmethod
    def from_model_data(cls, model_data: str, **options: Any) -> "ModelService":
        """Load ``model.tar.gz`` from a ``file://``, ``s3://`` URI or a path, or from a folder holding its
        unpacked members (as SageMaker unpacks it into /opt/ml/model); raises ``ArtifactError``."""
        uri = storage.to_uri(model_data)
        if not storage.is_s3(uri) and storage.local_path(uri).is_dir():
            data = _pack_folder(storage.local_path(uri))
        else:
            data = storage.read_bytes(uri)
        return cls(TopicInference(load_artifact(data, uri)), **options)

    @property
    def feature_dim(self) -> int:
        return self.inference.vocab_size

    @property
    def num_topics(self) -> int:
        return self.inference.num_topics

    def execution_parameters(self) -> Dict[str, Any]:
        """The ``GET /execution-parameters`` answer batch transform asks for first."""
        return {"MaxConcurrentTransforms": self.max_concurrent_transforms, "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": max(1, self.max_payload_bytes // (1024 * 1024))}

    def check_size(self, size: int) -> None:
        """Raise the 413 error for a body of ``size`` bytes over the limit (before reading it)."""
        if size > self.max_payload_bytes:
            raise InvocationError(413, f"the request body is {size:,} bytes; this endpoint accepts at most "
                                       f"{self.max_payload_bytes:,} ({self.max_payload_bytes / 2**20:g} MB). "
                                       "Send fewer rows per request", field="body")

    def invoke(self, body: bytes, content_type: Optional[str], accept: Optional[str]) -> Tuple[bytes, str]:
        """Score ``body``; return ``(response bytes, response media type)`` or raise InvocationError."""
        self.check_size(len(body))
        try:
            request_type = payloads.check_request_type(content_type)
        except UnsupportedContentTypeError as exc:
            raise InvocationError(415, str(exc), field="Content-Type") from None
        try:
            response_type = payloads.check_response_type(accept)
        except UnsupportedContentTypeError as exc:
            raise InvocationError(406, str(exc), field="Accept") from None
        try:
            rows = payloads.parse_request(body, request_type, self.feature_dim)
        except payloads.RequestError as exc:
            raise InvocationError(400, str(exc), row=exc.row, field=exc.field) from None
        try:
            weights = self.inference.topic_weights(rows)
            return payloads.render_response(weights, response_type), response_type
        except Exception as exc:  # a crash in inference is the server's fault: 500, and keep serving
            raise InvocationError(500, f"inference failed: {type(exc).__name__}: {exc}") from exc
