"""Serializers (request bodies) and deserializers (responses) with the SageMaker SDK's names and behaviour.

A serializer has ``CONTENT_TYPE`` and ``serialize(data)``; a deserializer has ``ACCEPT`` and
``deserialize(stream, content_type)``, where ``stream`` is a binary file object, as in the SDK, so
custom ones written for the SDK work here unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, BinaryIO, Iterable, List, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from .core import encode_dense, encode_sparse, read_records

__all__ = [
    "BaseSerializer", "RecordSerializer", "CSVSerializer", "JSONSerializer", "JSONLinesSerializer",
    "IdentitySerializer", "BaseDeserializer", "RecordDeserializer", "CSVDeserializer", "JSONDeserializer",
    "JSONLinesDeserializer", "BytesDeserializer", "StringDeserializer", "NumpyDeserializer",
]


class BaseSerializer:
    """Turns the data passed to ``predict`` into a request body of type ``CONTENT_TYPE``."""

    def __init__(self, content_type: str) -> None:
        if not isinstance(content_type, str):
            raise ValueError(f"content_type must be a MIME type string such as 'text/csv', got {content_type!r}")
        self.content_type = content_type

    @property
    def CONTENT_TYPE(self) -> str:  # noqa: N802 - the SDK's name
        return self.content_type

    def serialize(self, data: Any) -> Union[bytes, str, BinaryIO]:
        raise NotImplementedError


class RecordSerializer(BaseSerializer):
    """A 1-D (one row) or 2-D numpy array, or a scipy.sparse matrix, as RecordIO-protobuf records."""

    def __init__(self, content_type: str = "application/x-recordio-protobuf") -> None:
        super().__init__(content_type)

    def serialize(self, data) -> io.BytesIO:
        if sp.issparse(data):
            return io.BytesIO(encode_sparse(data))
        array = np.asarray(data)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2:
            raise ValueError(f"Expected a 1D or 2D array, but got a {array.ndim}D array instead.")
        return io.BytesIO(encode_dense(array))


class CSVSerializer(BaseSerializer):
    """Arrays, lists of rows, a DataFrame, a string or a file as CSV text, one row per line."""

    def __init__(self, content_type: str = "text/csv") -> None:
        super().__init__(content_type)

    def serialize(self, data) -> str:
        if hasattr(data, "read"):
            return data.read()
        if hasattr(data, "to_csv"):  # a pandas DataFrame, without importing pandas
            return data.to_csv(header=False, index=False)
        if sp.issparse(data):
            data = data.toarray()
        if isinstance(data, str):
            return data
        if _is_sequence(data) and len(data) > 0 and _is_sequence(data[0]) and not isinstance(data[0], str):
            return "\n".join(self._row(row) for row in data)
        return self._row(data)

    @staticmethod
    def _row(row) -> str:
        if isinstance(row, str):
            return row
        if isinstance(row, np.ndarray):
            row = row.ravel()
        if not hasattr(row, "__len__"):
            raise ValueError(f"Unable to handle input format: {type(row)}")
        if len(row) == 0:
            raise ValueError("Cannot serialize empty array")
        out = io.StringIO()
        csv.writer(out).writerow(row)
        return out.getvalue().rstrip("\r\n")


def _is_sequence(data) -> bool:
    return hasattr(data, "__iter__") and hasattr(data, "__getitem__")


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if sp.issparse(value):
        return value.toarray().tolist()
    return value


class JSONSerializer(BaseSerializer):
    """Data as JSON: dicts (numpy values converted), arrays as lists of rows, files read as they are."""

    def __init__(self, content_type: str = "application/json") -> None:
        super().__init__(content_type)

    def serialize(self, data) -> str:
        if isinstance(data, dict):
            return json.dumps({key: _jsonable(value) for key, value in data.items()})
        if hasattr(data, "read"):
            return data.read()
        return json.dumps(_jsonable(data))


class JSONLinesSerializer(BaseSerializer):
    """An iterable of JSON-serialisable items, one per line (arrays: one row per line)."""

    def __init__(self, content_type: str = "application/jsonlines") -> None:
        super().__init__(content_type)

    def serialize(self, data) -> str:
        if isinstance(data, str):
            return data
        if hasattr(data, "read"):
            return data.read()
        if isinstance(data, Iterable) or sp.issparse(data):
            return "\n".join(json.dumps(_jsonable(item)) for item in _jsonable(data))
        raise ValueError(f"Object of type {type(data)} is not JSON Lines serializable.")


class IdentitySerializer(BaseSerializer):
    """Sends the data as it is (bytes, or a file's ``read()``)."""

    def __init__(self, content_type: str = "application/octet-stream") -> None:
        super().__init__(content_type)

    def serialize(self, data):
        return data


class BaseDeserializer:
    """Turns a response stream into Python objects; ``ACCEPT`` is what it asks the endpoint for."""

    def __init__(self, accept: Union[str, Sequence[str]]) -> None:
        self.accept = accept

    @property
    def ACCEPT(self) -> Tuple[str, ...]:  # noqa: N802 - the SDK's name
        return (self.accept,) if isinstance(self.accept, str) else tuple(self.accept)

    def deserialize(self, stream: BinaryIO, content_type: str) -> Any:
        raise NotImplementedError


class RecordDeserializer(BaseDeserializer):
    """RecordIO-protobuf responses as a list of ``Record`` messages."""

    def __init__(self, accept: str = "application/x-recordio-protobuf") -> None:
        super().__init__(accept)

    def deserialize(self, stream, content_type) -> List:
        try:
            return read_records(stream)
        finally:
            stream.close()


class CSVDeserializer(BaseDeserializer):
    """CSV responses as a list of rows (lists of strings)."""

    def __init__(self, encoding: str = "utf-8", accept: str = "text/csv") -> None:
        super().__init__(accept)
        self.encoding = encoding

    def deserialize(self, stream, content_type) -> List[List[str]]:
        try:
            return list(csv.reader(stream.read().decode(self.encoding).splitlines()))
        finally:
            stream.close()


class JSONDeserializer(BaseDeserializer):
    """JSON responses as Python objects."""

    def __init__(self, accept: str = "application/json") -> None:
        super().__init__(accept)

    def deserialize(self, stream, content_type):
        try:
            return json.loads(stream.read().decode("utf-8"))
        finally:
            stream.close()


class JSONLinesDeserializer(BaseDeserializer):
    """JSON Lines responses as a list of Python objects, one per line."""

    def __init__(self, accept: str = "application/jsonlines") -> None:
        super().__init__(accept)

    def deserialize(self, stream, content_type) -> List:
        try:
            body = stream.read().decode("utf-8").rstrip()
            return [json.loads(line) for line in body.split("\n")] if body else []
        finally:
            stream.close()


class BytesDeserializer(BaseDeserializer):
    """The response bytes as they are."""

    def __init__(self, accept: str = "*/*") -> None:
        super().__init__(accept)

    def deserialize(self, stream, content_type) -> bytes:
        try:
            return stream.read()
        finally:
            stream.close()


class StringDeserializer(BaseDeserializer):
    """The response decoded as text."""

    def __init__(self, encoding: str = "UTF-8", accept: str = "application/json") -> None:
        super().__init__(accept)
        self.encoding = encoding

    def deserialize(self, stream, content_type) -> str:
        try:
            return stream.read().decode(self.encoding)
        finally:
            stream.close()


class NumpyDeserializer(BaseDeserializer):
    """JSON or CSV responses as a numpy array; for NTM's JSON, the ``topic_weights`` matrix."""

    def __init__(self, dtype=None, accept: str = "application/json") -> None:
        super().__init__(accept)
        self.dtype = dtype

    def deserialize(self, stream, content_type) -> np.ndarray:
        try:
            body = stream.read().decode("utf-8")
        finally:
            stream.close()
        if (content_type or "").startswith("text/csv"):
            return np.genfromtxt(io.StringIO(body), delimiter=",", dtype=self.dtype, ndmin=2)
        document = json.loads(body)
        if isinstance(document, dict) and "predictions" in document:
            document = [p.get("topic_weights", p) if isinstance(p, dict) else p for p in document["predictions"]]
        return np.array(document, dtype=self.dtype)
