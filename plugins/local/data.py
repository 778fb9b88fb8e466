"""Training data for a local job: channels resolved to local files, checked, then streamed.

A channel (``train``, ``validation``, ``test``) is RecordIO-protobuf shards (dense or sparse) or dense
CSV files; ``auxiliary`` holds ``vocab.txt``. Everything is checked once before training starts (width,
negative or non-finite counts, empty documents) so a bad row fails the job at once, naming the channel,
file and row, instead of after an hour of training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np
import scipy.sparse as sp

import ntm.core as core

log = logging.getLogger("ntm.local")

CSV_SUFFIXES = (".csv",)
CHECK_BATCH = 4096


class DataError(ValueError):
    """Training data that cannot be trained on; the message names channel, file and row."""


def is_csv(path: Path, content_type: Optional[str]) -> bool:
    return (content_type or "").split(";")[0].strip() == "text/csv" or path.suffix.lower() in CSV_SUFFIXES


def _csv_chunks(path: Path, rows: int) -> Iterator[np.ndarray]:
    with open(path, "r", encoding="utf-8") as handle:
        while True:
            lines = [line for _, line in zip(range(rows), handle)]
            if not lines:
                return
            try:
                yield np.loadtxt(lines, delimiter=",", dtype=np.float32, ndmin=2)
            except ValueError as exc:
                raise DataError(f"{path}: not a CSV of numbers ({exc})") from None


@dataclass
class Channel:
    """One channel's files, and what the check found in them."""

    name: str
    files: List[Path]
    content_type: Optional[str] = None
    rows: int = 0
    words: float = 0.0
    empty_rows: List[int] = field(default_factory=list)  # global row numbers, skipped when training

    def file_batches(self, path: Path, batch_size: int) -> Iterator[sp.csr_matrix]:
        """CSR batches of one file, float32."""
        if is_csv(path, self.content_type):
            for chunk in _csv_chunks(path, batch_size):
                yield sp.csr_matrix(chunk)
        else:
            for features, _ in core.iter_file_batches(path, batch_size):
                yield sp.csr_matrix(features, dtype=np.float32)

    def batches(self, batch_size: int, skip_empty: bool = True) -> Iterator[sp.csr_matrix]:
        """Every row in file order as CSR float32 batches of up to ``batch_size`` rows."""
        for path in self.files:
            for batch in self.file_batches(path, batch_size):
                if skip_empty and self.empty_rows:
                    batch = batch[np.diff(batch.indptr) > 0]
                if batch.shape[0]:
                    yield batch


def check_channel(channel: Channel, feature_dim: int) -> Channel:
    """Read the whole channel once; raise DataError on the first bad row, count rows and words."""
    row = 0
    for path in channel.files:
        file_row = 0
        try:
            for batch in channel.file_batches(path, CHECK_BATCH):
                where = f"channel '{channel.name}', file {path}"
                if batch.shape[1] != feature_dim:
                    raise DataError(f"{where}: rows have {batch.shape[1]} features, but feature_dim is {feature_dim}")
                bad = ~np.isfinite(batch.data) | (batch.data < 0)
                if bad.any():
                    entry = int(np.flatnonzero(bad)[0])
                    local = int(np.searchsorted(batch.indptr, entry, "right")) - 1
                    raise DataError(f"{where}, row {file_row + local}: word {batch.indices[entry]} has count "
                                    f"{batch.data[entry]}; counts must be finite and non-negative")
                sums = np.asarray(batch.sum(axis=1)).ravel()
                for empty in np.flatnonzero(sums == 0):
                    channel.empty_rows.append(row + int(empty))
                channel.words += float(sums.sum())
                row += batch.shape[0]
                file_row += batch.shape[0]
        except core.RecordIOError as exc:
            raise DataError(f"channel '{channel.name}': {exc}") from None
    channel.rows = row
    if channel.empty_rows:
        log.warning("channel '%s': skipping %d empty documents (first at row %d)", channel.name,
                    len(channel.empty_rows), channel.empty_rows[0])
    if row - len(channel.empty_rows) == 0:
        raise DataError(f"channel '{channel.name}' has no non-empty documents ({len(channel.files)} files)")
    return channel


def read_vocabulary(files: List[Path], feature_dim: int) -> Optional[List[str]]:
    """The auxiliary channel's ``vocab.txt`` (one word per line, in id order), checked against the width."""
    candidates = [p for p in files if p.name == "vocab.txt"] or files
    if not candidates:
        return None
    path = candidates[0]
    try:
        words = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise DataError(f"channel 'auxiliary': {path} is not UTF-8 ({exc})") from None
    if words and words[-1] == "":
        words.pop()
    if len(words) != feature_dim:
        raise DataError(f"channel 'auxiliary': {path} has {len(words)} words, but feature_dim is {feature_dim}")
    return words
