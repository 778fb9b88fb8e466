"""NTM's inference wire formats: parse request bodies into rows, render topic weights by ``Accept``.

Shared by every backend that serves a model itself (mock, local), so they answer byte for byte alike.
Requests: ``application/x-recordio-protobuf`` (dense or sparse records), ``text/csv`` (one dense row per
line), ``application/json`` (``{"instances": [{"features": [...]}]}``, or
``{"instances": [{"data": {"features": {"values": [...], "keys": [...], "shape": [V]}}}]}``, or a bare list
of rows), ``application/jsonlines`` (one instance per line). Responses: RecordIO (one Record per row with
``label["topic_weights"]``), JSON ``{"predictions": [{"topic_weights": [...]}]}``, JSON Lines.
"""

from __future__ import annotations

import io
import json
from typing import List, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

from .core import Record, decode, frame_payloads
from .errors import UnsupportedContentTypeError

RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
REQUEST_TYPES = (RECORDIO, CSV, JSON, JSONLINES)
RESPONSE_TYPES = (RECORDIO, JSON, JSONLINES)

Rows = Union[np.ndarray, sp.csr_matrix]


def media_type(content_type: Optional[str]) -> str:
    """``"text/csv; label_size=0"`` -> ``"text/csv"`` (parameters are ignored, as SageMaker does)."""
    return (content_type or "").split(";")[0].strip().lower()


def parse_request(body: bytes, content_type: str) -> Rows:
    """The rows of a request body: a 2-D float array, or a CSR matrix when the rows are sparse."""
    kind = media_type(content_type)
    if kind == RECORDIO:
        features, _ = decode(body)
        return features
    if kind == CSV:
        return _parse_csv(body)
    if kind == JSON:
        return _parse_json(_load_json(body, "the request body"))
    if kind in (JSONLINES, "application/jsonl"):
        lines = [line for line in body.decode("utf-8").splitlines() if line.strip()]
        return _stack([_instance_row(_load_json(line.encode(), f"line {i + 1}"), f"line {i + 1}")
                       for i, line in enumerate(lines)])
    raise UnsupportedContentTypeError(
        f"unsupported request content type {content_type!r}; use one of {', '.join(REQUEST_TYPES)}")


def _load_json(data: bytes, where: str):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from None


def _parse_csv(body: bytes) -> np.ndarray:
    lines = [line for line in body.decode("utf-8").splitlines() if line.strip()]
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append([float(cell) for cell in line.split(",")])
        except ValueError:
            raise ValueError(f"CSV line {number} is not a row of numbers: {line[:80]!r}") from None
        if len(rows[-1]) != len(rows[0]):
            raise ValueError(f"CSV line {number} has {len(rows[-1])} values, line 1 has {len(rows[0])}")
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


def _parse_json(document) -> Rows:
    if isinstance(document, dict) and "instances" in document:
        instances = document["instances"]
    elif isinstance(document, list):
        instances = document
    else:
        raise ValueError('a JSON request is {"instances": [...]} or a list of rows')
    return _stack([_instance_row(item, f"instance {i}") for i, item in enumerate(instances)])


def _instance_row(item, where: str) -> Tuple[str, object]:
    """One instance as ``("dense", values)`` or ``("sparse", (keys, values, width))``."""
    if isinstance(item, list):
        return "dense", item
    if isinstance(item, dict):
        if "features" in item and isinstance(item["features"], list):
            return "dense", item["features"]
        features = (item.get("data") or {}).get("features") if isinstance(item.get("data"), dict) else None
        if isinstance(features, dict) and "values" in features:
            if "keys" in features:
                shape = features.get("shape") or [None]
                return "sparse", (features["keys"], features["values"], shape[0])
            return "dense", features["values"]
    raise ValueError(f'{where}: expected {{"features": [...]}} or {{"data": {{"features": {{"values": [...]}}}}}}, '
                     f"got {str(item)[:80]}")


def _stack(rows: List[Tuple[str, object]]) -> Rows:
    if not rows:
        raise ValueError("the request holds no instances")
    if all(kind == "dense" for kind, _ in rows):
        widths = {len(values) for _, values in rows}
        if len(widths) > 1:
            raise ValueError(f"instances have different lengths: {sorted(widths)}")
        return np.asarray([values for _, values in rows], dtype=np.float32)
    data, indices, indptr, width = [], [], [0], 0
    for index, (kind, payload) in enumerate(rows):
        if kind == "dense":
            values = np.asarray(payload, dtype=np.float32)
            keys = np.flatnonzero(values)
            values, row_width = values[keys], len(payload)
        else:
            keys, values, row_width = payload
            if len(keys) != len(values):
                raise ValueError(f"instance {index}: {len(keys)} keys but {len(values)} values")
            row_width = row_width if row_width is not None else (max(keys) + 1 if len(keys) else 0)
        width = max(width, int(row_width))
        data.extend(float(v) for v in values)
        indices.extend(int(k) for k in keys)
        indptr.append(len(data))
    return sp.csr_matrix((np.asarray(data, np.float32), np.asarray(indices, np.int64), indptr),
                         shape=(len(rows), width))


def render_response(weights: np.ndarray, accept: Optional[str]) -> bytes:
    """Topic weights (rows x topics) as the response body ``accept`` asks for (JSON when unspecified)."""
    kind = media_type(accept)
    if kind in ("", "*/*"):
        kind = JSON
    weights = np.asarray(weights, dtype=np.float32)
    if kind == RECORDIO:
        payloads = []
        for row in weights:
            record = Record()
            record.label["topic_weights"].float32_tensor.values.extend(row.tolist())
            payloads.append(record.SerializeToString())
        return frame_payloads(payloads)
    if kind == JSON:
        return json.dumps({"predictions": [{"topic_weights": row} for row in weights.tolist()]}).encode()
    if kind in (JSONLINES, "application/jsonl"):
        out = io.StringIO()
        for row in weights.tolist():
            out.write(json.dumps({"topic_weights": row}) + "\n")
        return out.getvalue().encode()
    raise UnsupportedContentTypeError(
        f"unsupported Accept type {accept!r}; use one of {', '.join(RESPONSE_TYPES)}")
