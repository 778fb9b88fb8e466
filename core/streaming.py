"""Mini-batches from RecordIO files larger than memory, and SageMaker manifest files.

Files are memory-mapped; only record headers are read to find where a batch ends, and each batch is
decoded on its own, so memory stays proportional to the batch, not the corpus.
"""

from __future__ import annotations

import json
import mmap
import os
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from .codec import RecordIOError, _rec, decode

PathLike = Union[str, os.PathLike]
MANIFEST_SUFFIX = ".manifest"


class ManifestError(ValueError):
    """A ``.amazon.manifest`` file is not the JSON list SageMaker expects."""


def read_manifest(path: PathLike) -> List[str]:
    """Resolve a SageMaker manifest (``[{"prefix": P}, "key", ...]``) into a list of file URIs/paths.

    A ``file://`` or plain prefix yields local paths (a relative prefix is relative to the manifest's
    folder); an ``s3://`` prefix yields ``s3://`` URIs, which the caller must fetch.
    """
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: not a JSON manifest: {exc}") from exc
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict) \
            or not isinstance(entries[0].get("prefix"), str):
        raise ManifestError(f'{path}: a manifest is a JSON list starting with {{"prefix": "..."}}')
    prefix = entries[0]["prefix"]
    out = []
    for i, key in enumerate(entries[1:], start=1):
        if not isinstance(key, str) or not key:
            raise ManifestError(f"{path}: entry {i} must be a non-empty string (a key under the prefix), got {key!r}")
        out.append(_join(prefix, key, path.parent))
    return out


def _join(prefix: str, key: str, base: Path) -> str:
    if prefix.startswith("s3://"):
        return prefix + key
    if prefix.startswith("file://"):
        prefix = prefix[len("file://"):]
    folder = Path(prefix)
    if not folder.is_absolute():
        folder = base / folder
    return str(folder / key)


def resolve_sources(source: Union[PathLike, Sequence[PathLike]]) -> List[Path]:
    """Expand a path, a folder (its files, sorted), a manifest or a list of those into local files."""
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    files: List[Path] = []
    for item in items:
        text = os.fspath(item)
        if text.startswith("s3://"):
            raise ValueError(f"{text}: ntm.core reads local files only; download s3:// data first "
                             "(the estimator's storage layer does this for training jobs)")
        if text.startswith("file://"):
            text = text[len("file://"):]
        path = Path(text)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        elif path.name.endswith(MANIFEST_SUFFIX):
            files.extend(resolve_sources(read_manifest(path)))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such RecordIO file, folder or manifest")
    return files


Batch = Tuple[Union[np.ndarray, sp.csr_matrix], Optional[np.ndarray]]


def iter_file_batches(path: PathLike, batch_size: int, first_batch: Optional[int] = None) -> Iterator[Batch]:
    """Yield ``(features, labels)`` for each run of up to ``batch_size`` records of one file.

    The first run holds up to ``first_batch`` records instead, so a caller can top up a batch that
    the previous file left short.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            pos, record, want = 0, 0, first_batch or batch_size
            while pos < size:
                try:
                    end, count = _rec.find_batch_end(mapped, pos, want, record)
                    # Decode a copy of the batch: it is small, and no view into the map outlives it.
                    features, labels = decode(mapped[pos:end], base_offset=pos, base_record=record)
                except RecordIOError as exc:
                    raise RecordIOError(exc.reason, exc.record, exc.offset, source=path) from None
                yield features, labels
                pos, record, want = end, record + count, batch_size


def iter_batches(source, batch_size: int, *, sparse: bool = True) -> Iterator[Batch]:
    """Stream ``(features, labels)`` mini-batches of ``batch_size`` rows from RecordIO data.

    ``source`` is a file path, a folder, a ``.amazon.manifest`` or a list of those; files are read in
    order and a batch may span two files. ``features`` is a CSR matrix (``sparse=True``) or a dense
    array; ``labels`` is a 1-D array or None. The last batch may be shorter.

    >>> for features, labels in iter_batches("train/", 256):  # doctest: +SKIP
    ...     model.partial_fit(features)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    pending: List[Batch] = []
    rows = 0
    width: Optional[int] = None
    labelled: Optional[bool] = None
    for path in resolve_sources(source):
        for features, labels in iter_file_batches(path, batch_size, batch_size - rows):
            if width is None:
                width, labelled = features.shape[1], labels is not None
            elif features.shape[1] != width or (labels is not None) != labelled:
                what = (f"width {features.shape[1]} differs from {width}" if features.shape[1] != width
                        else "labels are present in some files and absent in others")
                raise RecordIOError(f"{what} in the files before it", source=path)
            features = _as_layout(features, sparse)
            pending.append((features, labels))
            rows += features.shape[0]
            if rows == batch_size:
                yield _stack(pending, sparse)
                pending, rows = [], 0
    if pending:
        yield _stack(pending, sparse)


def _as_layout(features, sparse: bool):
    if sparse:
        return features if sp.issparse(features) else sp.csr_matrix(features)
    return features.toarray() if sp.issparse(features) else features


def _stack(pieces: List[Batch], sparse: bool) -> Batch:
    if len(pieces) == 1:
        return pieces[0]
    features = [p[0] for p in pieces]
    stacked = sp.vstack(features, format="csr") if sparse else np.concatenate(features)
    labels = None if pieces[0][1] is None else np.concatenate([p[1] for p in pieces])
    return stacked, labels
