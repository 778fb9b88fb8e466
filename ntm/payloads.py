"""NTM's inference wire formats: parse request bodies into rows, render topic weights by ``Accept``.

Shared by every backend that serves a model itself (mock, local), so they answer byte for byte alike.
Requests: ``application/x-recordio-protobuf`` (dense or sparse records), ``text/csv`` (one dense row per
line), ``application/json`` (``{"instances": [{"features": [...]}]}``, or
``{"instances": [{"data": {"features": {"values": [...], "keys": [...], "shape": [V]}}}]}``, or a bare list
of rows), ``application/jsonlines`` (one instance per line). Responses: RecordIO (one Record per row with
``label["topic_weights"]``), JSON ``{"predictions": [{"topic_weights": [...]}]}``, JSON Lines.

Every client mistake raises :class:`RequestError` (a ``ValueError``) whose ``row`` (0-based, among the
request's rows) and ``field`` say where it is, so servers can answer 400 with a body naming both. Given the
model's ``feature_dim``, :func:`parse_request` also checks widths, sparse keys and count values.
"""

from __future__ import annotations

import io
import json
import warnings
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

from .core import Record, RecordIOError, decode, frame_payloads, read_records
from .errors import UnsupportedContentTypeError

RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
REQUEST_TYPES = (RECORDIO, CSV, JSON, JSONLINES)
RESPONSE_TYPES = (RECORDIO, JSON, JSONLINES)

Rows = Union[np.ndarray, sp.csr_matrix]


class RequestError(ValueError):
    """A request body that cannot be scored: unparsable, empty, the wrong width, bad counts.

    ``row`` is the 0-based index of the offending row among the request's rows (None when the problem
    is not one row's) and ``field`` names the part at fault (``"features"``, ``"keys"``, ``"shape"``,
    ``"values"``, ``"body"``...). :meth:`details` gives both as a JSON-ready dict.
    """

    def __init__(self, message: str, *, row: Optional[int] = None, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.row = row
        self.field = field

    def details(self) -> Dict[str, Any]:
        """``{"message": str, "row": int | None, "field": str | None}``."""
        return {"message": str(self), "row": self.row, "field": self.field}


def media_type(content_type: Optional[str]) -> str:
    """``"text/csv; label_size=0"`` -> ``"text/csv"`` (parameters are ignored, as SageMaker does)."""
    return (content_type or "").split(";")[0].strip().lower()


def check_request_type(content_type: Optional[str]) -> str:
    """The media type of ``content_type`` if it is one :func:`parse_request` reads, else raise
    :class:`~ntm.errors.UnsupportedContentTypeError` (servers answer 415)."""
    kind = media_type(content_type)
    if kind == "application/jsonl":
        return JSONLINES
    if kind not in REQUEST_TYPES:
        raise UnsupportedContentTypeError(
            f"unsupported request content type {content_type!r}; use one of {', '.join(REQUEST_TYPES)}")
    return kind


def check_response_type(accept: Optional[str]) -> str:
    """The media type :func:`render_response` writes for an ``Accept`` header (JSON for none or
    ``*/*``; the first supported one of a list), else raise ``UnsupportedContentTypeError``."""
    offered = [media_type(part) for part in (accept or "").split(",")]
    for kind in offered:
        if kind in ("", "*/*", "application/*"):
            return JSON
        if kind == "application/jsonl":
            return JSONLINES
        if kind in RESPONSE_TYPES:
            return kind
    raise UnsupportedContentTypeError(
        f"unsupported Accept type {accept!r}; use one of {', '.join(RESPONSE_TYPES)}")


def parse_request(body: bytes, content_type: str, feature_dim: Optional[int] = None) -> Rows:
    """The rows of a request body: a 2-D float array, or a CSR matrix when the rows are sparse.

    With ``feature_dim`` (the model's vocabulary size) the rows are also checked: at least one row,
    every row ``feature_dim`` wide, sparse keys in ``[0, feature_dim)``, counts finite and not
    negative; the first problem raises :class:`RequestError` naming the row and field.
    """
    kind = check_request_type(content_type)
    if not body.strip():
        raise RequestError("the request body is empty; send at least one row", field="body")
    if kind == RECORDIO:
        try:
            rows, _ = decode(body)
        except RecordIOError as exc:
            raise RequestError(f"the RecordIO-protobuf body is malformed: {exc}",
                               row=getattr(exc, "record", None), field="body") from None
    elif kind == CSV:
        rows = _parse_csv(body)
    elif kind == JSON:
        rows = _parse_json(_load_json(body, "the request body"), feature_dim)
    else:
        lines = [line for line in _text(body).splitlines() if line.strip()]
        rows = _stack([_instance_row(_load_json(line.encode(), f"line {i + 1}"), f"line {i + 1}", i)
                       for i, line in enumerate(lines)], feature_dim)
    if feature_dim is not None:
        rows = check_rows(rows, feature_dim)
    return rows


def check_rows(rows: Rows, feature_dim: int) -> Rows:
    """``rows`` if a model with ``feature_dim`` inputs can score them (a sparse matrix narrower than
    ``feature_dim`` is widened); else raise :class:`RequestError` naming the first bad row."""
    if rows.shape[0] == 0:
        raise RequestError("the request holds no rows; send at least one", field="body")
    if sp.issparse(rows):
        rows = sp.csr_matrix(rows)
        if rows.nnz and int(rows.indices.max()) >= feature_dim:
            position = int(np.flatnonzero(rows.indices >= feature_dim)[0])
            row = int(np.searchsorted(rows.indptr, position, side="right")) - 1
            raise RequestError(f"row {row}: sparse key {int(rows.indices[position])} is out of range; keys "
                               f"must be in [0, {feature_dim}) (the model's feature_dim)", row=row, field="keys")
        if rows.shape[1] > feature_dim:
            raise RequestError(f"the rows are {rows.shape[1]} wide (their shape); the model's feature_dim is "
                               f"{feature_dim}", row=0, field="shape")
        if rows.shape[1] < feature_dim:
            rows = sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(rows.shape[0], feature_dim))
        values, where = rows.data, lambda i: int(np.searchsorted(rows.indptr, i, side="right")) - 1
    else:
        if rows.ndim != 2 or rows.shape[1] != feature_dim:
            raise RequestError(f"rows have {rows.shape[-1]} values; the model expects {feature_dim} (its "
                               "feature_dim, the vocabulary size)", row=0, field="features")
        values, where = rows.reshape(-1), lambda i: i // feature_dim
    bad = ~np.isfinite(values)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise RequestError(f"row {where(position)}: the count {values[position]} is not a finite number",
                           row=where(position), field="values")
    negative = values < 0
    if negative.any():
        position = int(np.flatnonzero(negative)[0])
        raise RequestError(f"row {where(position)}: the count {values[position]} is negative; word counts "
                           "are 0 or more", row=where(position), field="values")
    return rows


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the request body is not UTF-8 text (byte {exc.start})", field="body") from None


def _load_json(data: bytes, where: str):
    try:
        return json.loads(_text(data))
    except json.JSONDecodeError as exc:
        raise RequestError(f"{where} is not valid JSON: {exc}", field="body") from None
    except RecursionError:
        raise RequestError(f"{where} nests JSON too deeply to be a request", field="body") from None


def _parse_csv(body: bytes) -> np.ndarray:
    text = _text(body)
    try:
        # numpy's C parser is about twice as fast as float() per cell; it only says *that* a row is bad.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data" is handled by the row checks
            return np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float32, ndmin=2, comments=None)
    except ValueError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    width = len(lines[0].split(","))
    for number, line in enumerate(lines, start=1):
        cells = line.split(",")
        for column, cell in enumerate(cells, start=1):
            try:
                float(cell)
            except ValueError:
                raise RequestError(f"CSV line {number} is not a row of numbers: column {column} is {cell[:40]!r}",
                                   row=number - 1, field=f"column {column}") from None
        if len(cells) != width:
            raise RequestError(f"CSV line {number} has {len(cells)} values, line 1 has {width}",
                               row=number - 1, field="features")
    raise RequestError("the CSV body could not be read as rows of numbers", field="body")


def _parse_json(document, feature_dim: Optional[int] = None) -> Rows:
    if isinstance(document, dict) and isinstance(document.get("instances"), list):
        instances = document["instances"]
    elif isinstance(document, list):
        instances = document
    else:
        raise RequestError('a JSON request is {"instances": [...]} or a list of rows', field="instances")
    return _stack([_instance_row(item, f"instance {i}", i) for i, item in enumerate(instances)], feature_dim)


def _instance_row(item, where: str, row: int) -> Tuple[str, object]:
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
                if not isinstance(shape, list) or not shape:
                    raise RequestError(f"{where}: shape must be a list like [{'V'}], got {shape!r}",
                                       row=row, field="shape")
                return "sparse", (features["keys"], features["values"], shape[0])
            return "dense", features["values"]
    raise RequestError(f'{where}: expected {{"features": [...]}} or {{"data": {{"features": {{"values": [...]}}}}}}, '
                       f"got {str(item)[:80]}", row=row, field="features")


def _numbers(values, dtype, row: int, field: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        raise RequestError(f"instance {row}: {field} must be a list of numbers, got {str(values)[:80]}",
                           row=row, field=field) from None
    if array.ndim != 1:
        raise RequestError(f"instance {row}: {field} must be a flat list of numbers", row=row, field=field)
    return array


def _stack(rows: List[Tuple[str, object]], feature_dim: Optional[int] = None) -> Rows:
    if not rows:
        raise RequestError("the request holds no instances", field="instances")
    if all(kind == "dense" for kind, _ in rows):
        width = len(rows[0][1]) if isinstance(rows[0][1], list) else -1
        for index, (_, values) in enumerate(rows):
            if not isinstance(values, list) or len(values) != width:
                size = len(values) if isinstance(values, list) else "no"
                raise RequestError(f"instance {index} has {size} values, instance 0 has {width}",
                                   row=index, field="features")
        try:
            return np.asarray([values for _, values in rows], dtype=np.float32).reshape(len(rows), width)
        except (TypeError, ValueError, OverflowError):
            for index, (_, values) in enumerate(rows):
                _numbers(values, np.float32, index, "features")
            raise
    data, indices, indptr, width = [], [], [0], 0
    for index, (kind, payload) in enumerate(rows):
        if kind == "dense":
            values = _numbers(payload, np.float32, index, "features")
            keys = np.flatnonzero(values)
            values, row_width = values[keys], len(payload)
        else:
            keys, values, row_width = payload
            keys = _numbers(keys, np.float64, index, "keys")
            values = _numbers(values, np.float32, index, "values")
            if len(keys) != len(values):
                raise RequestError(f"instance {index}: {len(keys)} keys but {len(values)} values",
                                   row=index, field="keys")
            if len(keys) and (keys.min() < 0 or not np.array_equal(keys, np.round(keys))):
                raise RequestError(f"instance {index}: keys must be whole numbers of 0 or more",
                                   row=index, field="keys")
            if feature_dim is not None and len(keys) and keys.max() >= feature_dim:
                raise RequestError(f"instance {index}: sparse key {int(keys.max())} is out of range; keys must "
                                   f"be in [0, {feature_dim}) (the model's feature_dim)", row=index, field="keys")
            if feature_dim is not None and row_width is not None and row_width != feature_dim:
                raise RequestError(f"instance {index}: shape [{row_width}] does not match the model's "
                                   f"feature_dim {feature_dim}", row=index, field="shape")
            keys = keys.astype(np.int64)
            if row_width is None:
                row_width = int(keys.max()) + 1 if len(keys) else 0
            elif isinstance(row_width, bool) or not isinstance(row_width, int) or row_width < 0:
                raise RequestError(f"instance {index}: shape must hold one whole number, got [{row_width!r}]",
                                   row=index, field="shape")
        width = max(width, int(row_width))
        data.append(values)
        indices.append(keys)
        indptr.append(indptr[-1] + len(keys))
    return sp.csr_matrix((np.concatenate(data).astype(np.float32), np.concatenate(indices).astype(np.int64),
                          indptr), shape=(len(rows), width))


def render_response(weights: np.ndarray, accept: Optional[str]) -> bytes:
    """Topic weights (rows x topics) as the response body ``accept`` asks for (JSON when unspecified)."""
    kind = media_type(accept)
    if kind in ("", "*/*"):
        kind = JSON
    elif "," in (accept or ""):
        kind = check_response_type(accept)
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


def parse_response(body: bytes, accept: str) -> np.ndarray:
    """The topic weights (rows x topics) in a response body of type ``accept``: the inverse of
    :func:`render_response`, for clients, tests and benchmarks that read raw invocation responses."""
    kind = media_type(accept)
    if kind == RECORDIO:
        records = read_records(io.BytesIO(body))
        return np.array([list(r.label["topic_weights"].float32_tensor.values) for r in records])
    if kind == JSON:
        return np.array([p["topic_weights"] for p in json.loads(body)["predictions"]])
    if kind in (JSONLINES, "application/jsonl"):
        lines = [line for line in body.decode().splitlines() if line.strip()]
        return np.array([json.loads(line)["topic_weights"] for line in lines])
    raise UnsupportedContentTypeError(
        f"unsupported response type {accept!r}; use one of {', '.join(RESPONSE_TYPES)}")
