"""Our writers reproduce, byte for byte, what the SageMaker SDK 2.x writes; our readers read it back.

The vectors were produced by tests/golden/generate_golden.py with the real SDK.
"""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import ntm.core as core

VECTORS = json.loads((Path(__file__).parent / "golden" / "sdk_vectors.json").read_text())["vectors"]


def build_input(vector):
    spec = vector["input"]
    dtype = np.dtype(spec["dtype"])
    if vector["kind"] == "dense":
        return np.array(spec["values"], dtype=dtype).reshape(spec["shape"])
    if spec["format"] == "coo":
        return sp.coo_matrix((np.array(spec["data"], dtype), (spec["row"], spec["col"])), shape=spec["shape"])
    return sp.csr_matrix((np.array(spec["data"], dtype), np.array(spec["indices"], np.int32),
                          np.array(spec["indptr"], np.int32)), shape=spec["shape"])


def build_labels(vector):
    labels = vector["labels"]
    return None if labels is None else np.array(labels["values"], dtype=labels["dtype"])


def test_vectors_cover_every_dtype_and_form():
    names = {v["name"] for v in VECTORS}
    for dtype in ("float32", "float64", "int64"):
        assert f"dense_{dtype}" in names and f"sparse_{dtype}" in names
        assert f"dense_{dtype}_labels_int64" in names and f"sparse_{dtype}_labels_float64" in names


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_bulk_encoder_matches_sdk_bytes(vector):
    array, labels = build_input(vector), build_labels(vector)
    encode = core.encode_dense if vector["kind"] == "dense" else core.encode_sparse
    assert encode(array, labels).hex() == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_sdk_named_writers_match_sdk_bytes(vector, tmp_path):
    array, labels = build_input(vector), build_labels(vector)
    write = core.write_numpy_to_dense_tensor if vector["kind"] == "dense" else core.write_spmatrix_to_sparse_tensor
    buffer = io.BytesIO()
    write(buffer, array, labels)
    assert buffer.getvalue().hex() == vector["hex"]
    path = tmp_path / "out.pbr"
    write(path, array, labels)
    assert path.read_bytes().hex() == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_decode_reads_sdk_bytes(vector):
    array, labels = build_input(vector), build_labels(vector)
    features, decoded_labels = core.decode(bytes.fromhex(vector["hex"]))
    expected = array.toarray() if sp.issparse(array) else array
    got = features.toarray() if sp.issparse(features) else features
    assert sp.issparse(features) == (vector["kind"] == "sparse")
    np.testing.assert_array_equal(got, expected.astype(got.dtype))
    if labels is None:
        assert decoded_labels is None
    else:
        np.testing.assert_array_equal(decoded_labels, labels.astype(decoded_labels.dtype))


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_read_records_parses_sdk_bytes(vector):
    data = bytes.fromhex(vector["hex"])
    records = core.read_records(io.BytesIO(data))
    rows = build_input(vector).shape[0]
    assert len(records) == rows
    assert [r.SerializeToString() for r in records] == list(core.read_recordio(io.BytesIO(data)))
