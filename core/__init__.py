"""ntm.core: the RecordIO-protobuf codec SageMaker's built-in algorithms read and write.

Drop-in twins of the SageMaker SDK's ``sagemaker.amazon.common`` (byte-identical output) plus bulk
functions that work on whole arrays and buffers, and a streaming reader for data larger than memory.

>>> import numpy as np, scipy.sparse as sp
>>> from ntm.core import encode_sparse, decode
>>> features, labels = decode(encode_sparse(sp.csr_matrix(np.eye(3, dtype="float32"))))
>>> features.shape
(3, 3)
"""

from .codec import RecordIOError, UnsupportedDtypeError, decode, encode_dense, encode_sparse, record_offsets
from .files import (
    frame_payloads,
    read_records,
    read_recordio,
    write_atomic,
    write_numpy_to_dense_tensor,
    write_spmatrix_to_sparse_tensor,
)
from .record_pb2 import Record
from .streaming import ManifestError, iter_batches, iter_file_batches, read_manifest, resolve_sources

__all__ = [
    "ManifestError",
    "Record",
    "RecordIOError",
    "UnsupportedDtypeError",
    "decode",
    "encode_dense",
    "encode_sparse",
    "frame_payloads",
    "iter_batches",
    "iter_file_batches",
    "read_manifest",
    "read_records",
    "read_recordio",
    "record_offsets",
    "resolve_sources",
    "write_atomic",
    "write_numpy_to_dense_tensor",
    "write_spmatrix_to_sparse_tensor",
]
