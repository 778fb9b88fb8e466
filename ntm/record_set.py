"""Record sets: arrays turned into RecordIO shards plus the ``.amazon.manifest`` SageMaker reads.

Layout, as the SageMaker SDK writes it::

    <data_location>NTM-2024-05-01-12-00-00-123/matrix_0.pbr ... matrix_{k-1}.pbr   (k = instance_count)
    <data_location>NTM-2024-05-01-12-00-00-123/.amazon.manifest = [{"prefix": "<that folder>/"}, "matrix_0.pbr", ...]

Shards are encoded in parallel threads (the codec releases the GIL) and each is written atomically; if
anything fails, the shards already written are deleted. Dense arrays become dense records, scipy.sparse
matrices sparse ones. An iterator of row chunks is streamed in bounded memory: each chunk is dealt
across the shards, so every shard gets an even share without knowing the total in advance.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any, Dict, Iterable, List, Optional, Tuple

import numpy as np
import scipy.sparse as sp

from . import storage
from .core import encode_dense, encode_sparse
from .naming import timestamp

MANIFEST_NAME = ".amazon.manifest"
DISTRIBUTIONS = ("ShardedByS3Key", "FullyReplicated")


class RecordSet:
    """A collection of RecordIO records in a data store, bound to one training channel.

    The SDK's fields: ``s3_data`` (manifest or prefix URI; ``s3://`` or ``file://``), ``num_records``,
    ``feature_dim``, ``s3_data_type`` (``"ManifestFile"`` or ``"S3Prefix"``), ``channel``,
    ``distribution`` (``"ShardedByS3Key"`` or ``"FullyReplicated"``).
    """

    def __init__(self, s3_data: str, num_records: int, feature_dim: int, s3_data_type: str = "ManifestFile",
                 channel: str = "train", distribution: str = "ShardedByS3Key") -> None:
        self.s3_data = s3_data
        self.feature_dim = feature_dim
        self.num_records = num_records
        self.s3_data_type = s3_data_type
        self.channel = channel
        self.distribution = distribution

    def __repr__(self) -> str:
        return str((RecordSet, self.__dict__))

    def records_s3_input(self) -> Dict[str, Any]:
        """This set as a channel's data source (without its name)."""
        return {"DataSource": {"S3DataSource": {"S3DataType": self.s3_data_type, "S3Uri": self.s3_data,
                                                "S3DataDistributionType": self.distribution}}}

    def data_channel(self) -> Dict[str, Dict[str, Any]]:
        """``{channel: data source}``, the form ``fit()`` accepts as a dict."""
        return {self.channel: self.records_s3_input()}


def shard_name(index: int, count: int) -> str:
    """``matrix_{index}.pbr``, the index zero-padded to the digits of ``count`` (the SDK's naming)."""
    return f"matrix_{str(index).zfill(len(str(count)))}.pbr"


def write_record_set(train, labels=None, *, location: str, num_shards: int, channel: str = "train",
                     distribution: str = "ShardedByS3Key", name_prefix: str = "NTM",
                     progress: Optional[bool] = None, max_workers: Optional[int] = None,
                     encrypt: bool = False) -> RecordSet:
    """Encode ``train`` (and ``labels``) into ``num_shards`` shards under a new folder of ``location``.

    ``train``: a 2-D numpy array (or anything ``np.asarray`` takes, such as a DataFrame), a
    scipy.sparse matrix, or an iterator of such chunks (optionally ``(chunk, labels)`` pairs) for data
    larger than memory. ``progress`` prints rows written to stderr (default: only for iterators, on a
    terminal). ``encrypt`` stores shards and manifest encrypted at rest on S3 (SSE-S3, as the SDK does).
    """
    if isinstance(num_shards, bool) or not isinstance(num_shards, (int, np.integer)) or num_shards < 1:
        raise ValueError(f"the number of shards (instance_count) must be a positive int, got {num_shards!r}")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    prefix = storage.to_uri(location).rstrip("/") + f"/{name_prefix}-{timestamp()}/"
    workers = max_workers or max(1, min(num_shards, os.cpu_count() or 1))
    if _is_chunk_iterator(train):
        if labels is not None:
            raise ValueError("labels must be None when train is an iterator of chunks; "
                             "yield (chunk, labels) pairs instead")
        names, rows, width = _write_streamed(iter(train), prefix, num_shards, workers,
                                             _Progress(progress, default=sys.stderr.isatty()), encrypt)
    else:
        matrix = _as_matrix(train, "train")
        names, rows, width = _write_arrays(matrix, labels, prefix, num_shards, workers,
                                           _Progress(progress, default=False), encrypt)
    manifest = prefix + MANIFEST_NAME
    try:
        storage.write_bytes(manifest, json.dumps([{"prefix": prefix}] + names).encode("utf-8"), encrypt=encrypt)
    except BaseException:
        _delete_all(prefix, names)
        raise
    return RecordSet(manifest, num_records=rows, feature_dim=width, channel=channel,
                     distribution=distribution)


def _is_chunk_iterator(train) -> bool:
    if sp.issparse(train) or isinstance(train, np.ndarray) or hasattr(train, "__array__"):
        return False
    return hasattr(train, "__next__") or (isinstance(train, Iterable) and not isinstance(train, (list, tuple)))


def _as_matrix(data, what: str):
    if sp.issparse(data):
        matrix = data.tocsr()
    else:
        matrix = np.asarray(data)
        if matrix.dtype == object:
            raise TypeError(f"{what} must be a numeric 2-D array or a scipy.sparse matrix, got an object array")
    if len(matrix.shape) != 2:
        raise ValueError(f"{what} must be 2-D (rows x features), got shape {matrix.shape}")
    return matrix


def _encode(matrix, labels) -> bytes:
    return encode_sparse(matrix, labels) if sp.issparse(matrix) else encode_dense(matrix, labels)


def _split_rows(nrows: int, num_shards: int) -> List[Tuple[int, int]]:
    # The SDK's split: equal shards of nrows // k, the last one takes the remainder.
    size = nrows // num_shards
    if size == 0:
        raise ValueError(f"train has {nrows} rows, fewer than the {num_shards} shards it must be split into "
                         "(one per training instance); use a smaller instance_count or more rows")
    bounds = [(i * size, (i + 1) * size) for i in range(num_shards - 1)]
    return bounds + [((num_shards - 1) * size, nrows)]


def _write_arrays(matrix, labels, prefix, num_shards, workers, progress, encrypt=False):
    nrows, width = matrix.shape
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] != nrows:
            raise ValueError(f"labels must be a 1-D vector with one entry per row of train ({nrows}), "
                             f"got shape {labels.shape}")
    bounds = _split_rows(nrows, num_shards)
    names = [shard_name(i, num_shards) for i in range(num_shards)]

    def write(index: int) -> str:
        start, stop = bounds[index]
        data = _encode(matrix[start:stop], None if labels is None else labels[start:stop])
        storage.write_bytes(prefix + names[index], data, encrypt=encrypt)
        progress.add(stop - start, len(data))
        return names[index]

    written: List[str] = []
    try:
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(write, i) for i in range(num_shards)]
            errors = []
            for future in futures:
                try:
                    written.append(future.result())
                except BaseException as exc:  # collect, so every finished shard is known before cleanup
                    errors.append(exc)
            if errors:
                raise errors[0]
    except BaseException:
        _delete_all(prefix, written)
        raise
    progress.done()
    return names, nrows, width


def _deal(nrows: int, num_shards: int, offset: int) -> List[int]:
    """Rows of one chunk per shard: an even share, the remainder going to the shards after ``offset``."""
    sizes = [nrows // num_shards] * num_shards
    for i in range(nrows % num_shards):
        sizes[(offset + i) % num_shards] += 1
    return sizes


def _split_chunk(chunk, index: int):
    if isinstance(chunk, tuple):
        if len(chunk) != 2:
            raise ValueError(f"chunk {index} is a tuple of {len(chunk)} items; yield arrays or (array, labels)")
        features, labels = chunk
        labels = None if labels is None else np.asarray(labels)
    else:
        features, labels = chunk, None
    features = _as_matrix(features, f"chunk {index}")
    if labels is not None and (labels.ndim != 1 or labels.shape[0] != features.shape[0]):
        raise ValueError(f"chunk {index}: labels must be 1-D with {features.shape[0]} entries, got shape {labels.shape}")
    return features, labels


def _write_streamed(chunks, prefix, num_shards, workers, progress, encrypt=False):
    names = [shard_name(i, num_shards) for i in range(num_shards)]
    rows_per_shard = [0] * num_shards
    width: Optional[int] = None
    labelled: Optional[bool] = None
    offset = 0
    # Every shard file stays a temporary file until all chunks are in; a failure leaves nothing behind.
    with ExitStack() as stack, ThreadPoolExecutor(workers) as pool:
        outputs = [stack.enter_context(storage.open_write(prefix + name, encrypt=encrypt)) for name in names]
        for index, chunk in enumerate(chunks):
            features, labels = _split_chunk(chunk, index)
            if width is None:
                width, labelled = features.shape[1], labels is not None
            elif features.shape[1] != width:
                raise ValueError(f"chunk {index} has {features.shape[1]} columns, the chunks before it {width}")
            elif (labels is not None) != labelled:
                raise ValueError(f"chunk {index} {'has' if labels is not None else 'lacks'} labels, "
                                 "unlike the chunks before it")
            sizes = _deal(features.shape[0], num_shards, offset)
            offset = (offset + features.shape[0]) % num_shards
            pieces, start = [], 0
            for shard, size in enumerate(sizes):
                if size:
                    part_labels = None if labels is None else labels[start:start + size]
                    pieces.append((shard, features[start:start + size], part_labels))
                start += size
            encoded = pool.map(lambda piece: _encode(piece[1], piece[2]), pieces)
            for (shard, part, _), data in zip(pieces, encoded):
                outputs[shard].write(data)
                rows_per_shard[shard] += part.shape[0]
                progress.add(part.shape[0], len(data))
        total = sum(rows_per_shard)
        if width is None:
            raise ValueError("the iterator of chunks yielded no chunks")
        if min(rows_per_shard) == 0:
            raise ValueError(f"the chunks held {total} rows, fewer than the {num_shards} shards they must be "
                             "split into (one per training instance); use a smaller instance_count")
    progress.done()
    return names, total, width


def _delete_all(prefix: str, names: List[str]) -> None:
    for name in names:
        try:
            storage.delete(prefix + name)
        except Exception:  # cleanup is best effort; the original error is the one to report
            pass


class _Progress:
    """Rows and megabytes written so far, on one stderr line (no dependency on tqdm)."""

    def __init__(self, enabled: Optional[bool], default: bool) -> None:
        self.enabled = default if enabled is None else bool(enabled)
        self.rows = self.bytes = 0
        self.started = time.monotonic()
        self.last = 0.0
        self.lock = threading.Lock()  # shard writers report from several threads

    def add(self, rows: int, nbytes: int) -> None:
        with self.lock:
            self.rows += rows
            self.bytes += nbytes
            now = time.monotonic()
            if self.enabled and now - self.last > 0.2:
                self.last = now
                self._print("\r")

    def done(self) -> None:
        if self.enabled:
            self._print("\r")
            sys.stderr.write("\n")

    def _print(self, start: str) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        sys.stderr.write(f"{start}record_set: {self.rows:,} rows, {self.bytes / 1e6:,.1f} MB "
                         f"({self.bytes / 1e6 / elapsed:,.0f} MB/s)")
        sys.stderr.flush()
