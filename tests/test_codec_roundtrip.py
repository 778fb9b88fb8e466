"""encode_*/decode round trips, checked against the protobuf library as an independent oracle."""

import io

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ntm.core as core

DTYPES = [np.float32, np.float64, np.int64, np.int32]
TENSOR_FIELD = {np.float32: "float32_tensor", np.float64: "float64_tensor", np.int64: "int32_tensor",
                np.int32: "int32_tensor"}


def elements(dtype):
    if np.dtype(dtype).kind == "f":
        return st.floats(width=np.dtype(dtype).itemsize * 8, allow_nan=False)
    return st.integers(-(2**31), 2**31 - 1)


@st.composite
def dense_inputs(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.tuples(st.integers(0, 6), st.integers(0, 40)))
    array = draw(hnp.arrays(dtype, shape, elements=elements(dtype)))
    labels = None
    if draw(st.booleans()):
        label_dtype = draw(st.sampled_from(DTYPES))
        labels = draw(hnp.arrays(label_dtype, shape[0], elements=elements(label_dtype)))
    return array, labels


@st.composite
def sparse_inputs(draw):
    array, labels = draw(dense_inputs())
    mask = draw(hnp.arrays(np.bool_, array.shape))
    return sp.csr_matrix(np.where(mask, array, 0)), labels


def oracle_rows(data):
    """What the protobuf library itself parses from our bytes."""
    rows = []
    for record in core.read_records(io.BytesIO(data)):
        value = record.features["values"]
        tensor = getattr(value, value.WhichOneof("value"))
        label = None
        if "values" in record.label:
            lv = record.label["values"]
            label = list(getattr(lv, lv.WhichOneof("value")).values)
        rows.append((value.WhichOneof("value"), list(tensor.values), list(tensor.keys), list(tensor.shape), label))
    return rows


@settings(max_examples=150, deadline=None)
@given(dense_inputs())
def test_protobuf_parses_dense_records_into_the_same_values(case):
    array, labels = case
    rows = oracle_rows(core.encode_dense(array, labels))
    assert len(rows) == array.shape[0]
    for i, (field, values, keys, shape, label) in enumerate(rows):
        assert field == TENSOR_FIELD[array.dtype.type]
        np.testing.assert_array_equal(np.array(values, array.dtype).reshape(-1), array[i])
        assert keys == [] and shape == []
        if labels is None:
            assert label is None
        else:
            np.testing.assert_array_equal(np.array(label, labels.dtype), labels[i:i + 1])


@settings(max_examples=150, deadline=None)
@given(sparse_inputs())
def test_protobuf_parses_sparse_records_into_the_same_values(case):
    matrix, labels = case
    rows = oracle_rows(core.encode_sparse(matrix, labels))
    assert len(rows) == matrix.shape[0]
    for i, (field, values, keys, shape, _) in enumerate(rows):
        row = matrix.getrow(i)
        assert shape == [matrix.shape[1]]
        assert keys == row.indices.tolist()
        np.testing.assert_array_equal(np.array(values, matrix.dtype).reshape(-1), row.data)


@settings(max_examples=150, deadline=None)
@given(dense_inputs())
def test_dense_round_trip(case):
    array, labels = case
    features, got_labels = core.decode(core.encode_dense(array, labels))
    if array.shape[0] == 0:  # no records: nothing says which type or width the data had
        assert features.shape == (0, 0)
        return
    assert features.dtype == (np.int32 if array.dtype.kind == "i" else array.dtype)
    np.testing.assert_array_equal(features, array)
    if labels is None or labels.shape[0] == 0:
        assert got_labels is None
    else:
        np.testing.assert_array_equal(got_labels, labels)


@settings(max_examples=150, deadline=None)
@given(sparse_inputs())
def test_sparse_round_trip(case):
    matrix, labels = case
    features, _ = core.decode(core.encode_sparse(matrix, labels))
    if matrix.shape[0]:
        assert sp.issparse(features) and features.shape == matrix.shape
        np.testing.assert_array_equal(features.toarray(), matrix.toarray())


def test_nan_and_infinity_survive_the_round_trip():
    array = np.array([[np.nan, np.inf, -np.inf, 1.0]], np.float32)
    features, _ = core.decode(core.encode_dense(array))
    np.testing.assert_array_equal(features, array)


def test_mixed_tensor_types_promote_like_numpy():
    data = core.encode_dense(np.ones((1, 2), np.float32)) + core.encode_dense(np.ones((1, 2), np.float64))
    features, _ = core.decode(data)
    assert features.dtype == np.float64


def test_dense_and_sparse_records_mix_into_a_csr_without_explicit_zeros():
    data = core.encode_dense(np.array([[0, 2.0, 0]])) + core.encode_sparse(sp.csr_matrix(np.array([[1.0, 0, 0]])))
    features, _ = core.decode(data)
    assert sp.issparse(features)
    np.testing.assert_array_equal(features.toarray(), [[0, 2, 0], [1, 0, 0]])
    assert features.nnz == 2


def test_empty_input_decodes_to_no_rows():
    features, labels = core.decode(b"")
    assert features.shape == (0, 0) and labels is None


def test_accepts_memoryview_bytearray_and_mmap(tmp_path):
    import mmap

    data = core.encode_dense(np.arange(6, dtype=np.float32).reshape(2, 3))
    path = tmp_path / "x.pbr"
    path.write_bytes(data)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        for source in (memoryview(data), bytearray(data), mapped):
            np.testing.assert_array_equal(core.decode(source)[0], [[0, 1, 2], [3, 4, 5]])


def test_big_endian_and_non_contiguous_arrays_encode_like_native_ones():
    array = np.arange(12, dtype=np.float64).reshape(3, 4)
    native = core.encode_dense(array)
    assert core.encode_dense(array.astype(">f8")) == native
    assert core.encode_dense(np.asfortranarray(array)) == native
    strided = np.zeros((3, 8))
    strided[:, ::2] = array
    assert core.encode_dense(strided[:, ::2]) == native


def test_sparse_accepts_every_scipy_format_and_sparse_arrays():
    dense = np.array([[0, 1.5, 0], [2.0, 0, 3.0]])
    expected = core.encode_sparse(sp.csr_matrix(dense))
    for convert in (sp.csc_matrix, sp.coo_matrix, sp.lil_matrix, sp.dok_matrix, sp.csr_array):
        assert core.encode_sparse(convert(dense)) == expected


@pytest.mark.parametrize("writer", ["dense", "sparse"])
def test_read_recordio_yields_payloads_that_protobuf_reserializes_identically(writer):
    array = np.arange(20, dtype=np.float32).reshape(4, 5)
    data = core.encode_dense(array) if writer == "dense" else core.encode_sparse(sp.csr_matrix(array))
    payloads = list(core.read_recordio(io.BytesIO(data)))
    assert core.frame_payloads(payloads) == data
