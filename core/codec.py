"""Whole-array encoding and decoding of RecordIO-protobuf (SageMaker's ``application/x-recordio-protobuf``).

These functions validate their input and pick tensor types exactly as the SageMaker SDK does, then
hand the arrays to the compiled kernels in ``_recordio``.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

from ._build_check import load_extension

_rec = load_extension()
RecordIOError = _rec.RecordIOError

KIND_NONE = 0
_INT32_MIN, _INT32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max
_KIND_DTYPES = {_rec.KIND_FLOAT32: np.float32, _rec.KIND_FLOAT64: np.float64, _rec.KIND_INT32: np.int32}

BytesLike = Union[bytes, bytearray, memoryview]


class UnsupportedDtypeError(TypeError, ValueError):
    """An array's dtype has no RecordIO tensor type (float32, float64 and integers do)."""


def _tensor_kind(dtype: np.dtype, what: str) -> int:
    """The tensor type the SDK writes for ``dtype`` (its ``_resolve_type``), plus int32."""
    if dtype == np.float32:
        return _rec.KIND_FLOAT32
    if dtype == np.float64:
        return _rec.KIND_FLOAT64
    if dtype in (np.int64, np.int32):
        return _rec.KIND_INT32
    raise UnsupportedDtypeError(
        f"{what} has dtype {dtype}, which RecordIO-protobuf cannot hold; "
        "use float32, float64, int32 or int64 (written as int32)"
    )


def _native(array: np.ndarray) -> np.ndarray:
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _check_int32_range(values: np.ndarray, what: str, position) -> None:
    if values.dtype != np.int64 or values.size == 0:
        return
    bad = (values < _INT32_MIN) | (values > _INT32_MAX)
    if bad.any():
        first = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"{what} value {values.ravel()[first]} at {position(first)} does not fit the int32 tensor "
            "the SDK writes for integer arrays; cast to float64 to keep it"
        )


def _prepare_labels(labels, nrows: int) -> Tuple[int, Optional[np.ndarray]]:
    """Labels as raw bytes the kernels read: float32, float64, or int64 range-checked to int32."""
    if labels is None:
        return KIND_NONE, None
    if sp.issparse(labels):
        raise TypeError("labels must be a 1-D numpy array, not a sparse matrix")
    labels = _native(np.asarray(labels))
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D vector, got shape {labels.shape}")
    if labels.shape[0] != nrows:
        raise ValueError(f"labels has {labels.shape[0]} entries but the data has {nrows} rows")
    kind = _tensor_kind(labels.dtype, "labels")
    if kind == _rec.KIND_INT32:
        labels = labels.astype(np.int64, copy=False)
        _check_int32_range(labels, "label", lambda i: f"row {i}")
    return kind, np.ascontiguousarray(labels).view(np.uint8)


def encode_dense(array, labels=None) -> bytes:
    """Encode each row of a 2-D array as one dense Record; return the RecordIO bytes.

    Byte-identical to the SageMaker SDK's ``write_numpy_to_dense_tensor``. float32 and float64 rows
    become Float32/Float64 tensors; int64 (and int32) rows become Int32 tensors. NaN and infinity are
    written as they are.

    >>> import numpy as np
    >>> data = encode_dense(np.eye(2, dtype="float32"), labels=np.array([0.0, 1.0], dtype="float32"))
    >>> decode(data)[0].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if sp.issparse(array):
        raise TypeError("encode_dense takes a dense array; use encode_sparse for scipy.sparse matrices")
    array = _native(np.asarray(array))
    if array.ndim != 2:
        raise ValueError(f"the array must be 2-D (rows x features), got shape {array.shape}")
    _tensor_kind(array.dtype, "the array")  # the kernel itself is chosen by the array's dtype
    label_kind, label_bytes = _prepare_labels(labels, array.shape[0])
    ncols = array.shape[1]
    _check_int32_range(array, "array", lambda i: f"row {i // ncols}, column {i % ncols}")
    array = np.ascontiguousarray(array)
    return _rec.encode_dense_rows(array, label_kind, label_bytes)


def encode_sparse(matrix, labels=None) -> bytes:
    """Encode each row of a scipy.sparse matrix as one sparse Record (values, keys, shape).

    Byte-identical to the SageMaker SDK's ``write_spmatrix_to_sparse_tensor``: the matrix is converted
    with ``tocsr()`` and each row keeps the CSR's order of entries.
    """
    if not sp.issparse(matrix):
        raise TypeError(f"encode_sparse takes a scipy.sparse matrix, got {type(matrix).__name__}; "
                        "use encode_dense for numpy arrays")
    if len(matrix.shape) != 2:
        raise ValueError(f"the matrix must be 2-D, got shape {matrix.shape}")
    csr = matrix.tocsr()
    nrows, ncols = csr.shape
    _tensor_kind(csr.dtype, "the matrix")
    label_kind, label_bytes = _prepare_labels(labels, nrows)
    data = np.ascontiguousarray(_native(csr.data))
    indices = np.ascontiguousarray(_native(csr.indices))
    indptr = np.ascontiguousarray(_native(csr.indptr)).astype(indices.dtype, copy=False)
    _check_csr(data, indices, indptr, nrows, ncols)
    _check_int32_range(data, "matrix", lambda i: f"row {int(np.searchsorted(indptr, i, 'right')) - 1}")
    return _rec.encode_csr_rows(data, indices, indptr, ncols, label_kind, label_bytes)


def _check_csr(data, indices, indptr, nrows, ncols) -> None:
    # scipy accepts inconsistent arrays when built with check=False; refuse them before the kernel.
    if indptr.shape[0] != nrows + 1 or indptr[0] != 0 or indptr[-1] != data.shape[0]:
        raise ValueError("the CSR matrix is inconsistent: indptr does not span its data")
    if indices.shape[0] != data.shape[0]:
        raise ValueError("the CSR matrix is inconsistent: indices and data differ in length")
    steps = np.diff(indptr)
    if steps.size and steps.min() < 0:
        raise ValueError(f"the CSR matrix is inconsistent: indptr decreases at row {int(np.argmin(steps))}")
    if indices.size:
        low, high = indices.min(), indices.max()
        if low < 0 or high >= ncols:
            bad = int(np.flatnonzero((indices < 0) | (indices >= ncols))[0])
            row = int(np.searchsorted(indptr, bad, "right")) - 1
            raise ValueError(f"the CSR matrix has column index {indices[bad]} in row {row}, outside [0, {ncols})")


def record_offsets(data: BytesLike) -> list:
    """Byte offset of each record's header in ``data`` (split records count once); reads headers only."""
    return _rec.record_offsets(data)


def _result_dtype(kinds) -> np.dtype:
    if not kinds:
        return np.dtype(np.float32)
    return np.result_type(*[_KIND_DTYPES[k] for k in kinds])


def decode(data: BytesLike, *, base_offset: int = 0, base_record: int = 0):
    """Decode RecordIO-protobuf bytes into ``(features, labels)``.

    ``features`` is a 2-D numpy array when every record is dense, and a ``scipy.sparse.csr_matrix``
    (width from the records' ``shape``) when any record is sparse. ``labels`` is a 1-D array, or None
    when no record has a label. Values keep their tensor type (float32, float64 or int32; mixed types
    promote as numpy does).

    ``base_offset`` and ``base_record`` are added to the byte offset and record index that a
    :class:`RecordIOError` reports, for callers that decode a slice of a larger file.
    """
    index = _rec.index_records(data, base_offset, base_record)
    nrows = index.num_records
    dtype = _result_dtype(index.feature_kinds)
    if index.any_sparse:
        values = np.empty(index.nnz, dtype)
        indices = np.empty(index.nnz, np.int32)
        indptr = np.empty(nrows + 1, np.int64)
        _rec.fill_csr(index, values, indices, indptr)
        if index.nnz <= _INT32_MAX:
            indptr = indptr.astype(np.int32)
        else:
            indices = indices.astype(np.int64)
        features = sp.csr_matrix((values, indices, indptr), shape=(nrows, index.width))
        if index.sparse_rows < nrows:
            features.eliminate_zeros()  # dense rows in a sparse result keep only their non-zeros
    else:
        features = np.empty((nrows, index.width), dtype)
        _rec.fill_dense(index, features)
    labels = None
    if index.has_labels:
        labels = np.empty(nrows, _result_dtype(index.label_kinds))
        _rec.fill_labels(index, labels)
    return features, labels


