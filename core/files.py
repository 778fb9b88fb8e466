"""Drop-in twins of ``sagemaker.amazon.common``: the same names, signatures and bytes.

``write_*`` accept a binary file object (anything with ``write``) as the SDK does, or a path, which is
written atomically: the data goes to a temporary file that replaces the target only once complete,
so a failure never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import struct
import tempfile
from typing import BinaryIO, Iterator, List, Union

from .codec import RecordIOError, _rec, encode_dense, encode_sparse
from .record_pb2 import Record

PathOrFile = Union[str, os.PathLike, BinaryIO]

_MAGIC = 0xCED7230A
_LENGTH_MASK = (1 << 29) - 1
_READ_CHUNK = 1 << 20


def _write(file: PathOrFile, data: bytes) -> None:
    if isinstance(file, (str, os.PathLike)):
        write_atomic(file, data)
    else:
        file.write(data)


def write_atomic(path: Union[str, os.PathLike], data) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_numpy_to_dense_tensor(file: PathOrFile, array, labels=None) -> None:
    """Write a 2-D numpy array (and optional labels) as dense RecordIO-protobuf records."""
    _write(file, encode_dense(array, labels))


def write_spmatrix_to_sparse_tensor(file: PathOrFile, array, labels=None) -> None:
    """Write a scipy.sparse matrix (and optional labels) as sparse RecordIO-protobuf records."""
    _write(file, encode_sparse(array, labels))


def _read_exactly(file: BinaryIO, n: int) -> bytes:
    # Read in bounded chunks, so a corrupt length field cannot make us allocate up to 512 MiB upfront.
    if n <= _READ_CHUNK:
        return file.read(n)
    parts, left = [], n
    while left:
        part = file.read(min(left, _READ_CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_recordio(file: BinaryIO) -> Iterator[bytes]:
    """Yield each record's payload from a binary file object, reading it incrementally.

    Records split by MXNet's writer (continuation flags 1, 2, 3) are joined back into one payload.
    """
    offset, index = 0, 0
    parts: List[bytes] = []
    start = 0
    while True:
        header = file.read(8)
        if not header:
            if parts:
                raise RecordIOError("the data ends inside a split record", index, start)
            return
        if len(header) < 8:
            raise RecordIOError(f"truncated record header: {len(header)} bytes left, 8 needed", index, offset)
        magic, lrec = struct.unpack("<II", header)
        if magic != _MAGIC:
            raise RecordIOError(
                f"bad magic number 0x{magic:08X} (expected 0xCED7230A): not a RecordIO file, or a corrupt one",
                index, offset)
        flag, length = lrec >> 29, lrec & _LENGTH_MASK
        padded = (length + 3) & ~3
        body = _read_exactly(file, padded)
        if len(body) < length:
            raise RecordIOError(
                f"record length {length} runs past the end of the data ({len(body)} bytes left after the header)",
                index, offset)
        if len(body) < padded:
            raise RecordIOError(f"padding after the payload is truncated ({len(body) - length} bytes left, "
                                f"{padded - length} needed)", index, offset)
        payload = body[:length]
        if flag == 0 and not parts:
            yield payload
            index += 1
        elif (flag == 1 and not parts) or (flag in (2, 3) and parts):
            if not parts:
                start = offset
            parts.append(payload)
            if flag == 3:
                yield _MAGIC.to_bytes(4, "little").join(parts)
                parts = []
                index += 1
        else:
            raise RecordIOError(
                f"invalid MXNet continuation flag {flag} here (a split record must start with flag 1 and end "
                "with flag 3)", index, offset)
        offset += 8 + padded


def read_records(file: BinaryIO) -> List[Record]:
    """Read every record of a binary file object into ``Record`` messages (parsed by protobuf)."""
    records = []
    for index, payload in enumerate(read_recordio(file)):
        record = Record()
        try:
            record.ParseFromString(payload)
        except Exception as exc:  # protobuf's DecodeError differs between its backends
            raise RecordIOError(f"malformed protobuf payload: {exc}", index) from exc
        records.append(record)
    return records


def frame_payloads(payloads) -> bytes:
    """Frame serialized ``Record`` payloads (bytes) into RecordIO, as the SDK's writer does."""
    return _rec.frame_payloads(list(payloads))
