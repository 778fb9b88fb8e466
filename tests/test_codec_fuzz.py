"""Fuzzing: thousands of random and mutated buffers. The codec either decodes them or raises
RecordIOError; it never crashes or hangs, and what it accepts the protobuf library parses the same way."""

import io
import os
import tempfile

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ntm.core as core
from ntm.core import RecordIOError

SEEDS = [
    core.encode_dense(np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], np.float32)),
    core.encode_dense(np.array([[1, -5, 300]], np.int64)),
    core.encode_sparse(sp.csr_matrix(np.array([[0, 1.5, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]])), np.array([0, 1, 2])),
    core.encode_sparse(sp.csr_matrix(np.eye(4, 200, dtype=np.float32))),
]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "splice"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x80, 0x7F, 0x0A, 0x12, 0x1A]))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            data += draw(st.sampled_from(SEEDS))
    return bytes(data)


buffers = st.one_of(mutated(), st.binary(max_size=64),
                    st.binary(max_size=48).map(lambda b: b"\x0a\x23\xd7\xce" + b))


def dense_of(features):
    return features.toarray() if sp.issparse(features) else features


def oracle(data):
    """Features and labels as the protobuf library parses them, or None when it refuses the bytes."""
    try:
        records = core.read_records(io.BytesIO(data))
    except RecordIOError:
        return None
    rows, labels = [], []
    for record in records:
        value = record.features["values"]
        tensor = getattr(value, value.WhichOneof("value"))
        row = np.zeros(tensor.shape[0] if tensor.keys or (tensor.shape and not tensor.values) else len(tensor.values))
        if tensor.keys:
            np.add.at(row, np.array(tensor.keys, np.int64), np.array(tensor.values, np.float64))
        elif tensor.values:
            row[:] = tensor.values
        rows.append(row)
        if "values" in record.label:
            label = record.label["values"]
            labels.append(getattr(label, label.WhichOneof("value")).values[0])
    return rows, labels


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buffers)
def test_decode_accepts_or_raises_recordio_error_and_agrees_with_protobuf(data):
    try:
        features, labels = core.decode(data)
    except RecordIOError as error:
        assert error.offset is None or 0 <= error.offset <= len(data)
        return
    expected = oracle(data)
    assert expected is not None, "decode accepted bytes the protobuf library refuses"
    rows, expected_labels = expected
    got = dense_of(features)
    assert got.shape[0] == len(rows)
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(got[i].astype(np.float64), row.astype(got.dtype).astype(np.float64))
    if labels is not None:
        np.testing.assert_array_equal(labels, np.array(expected_labels, labels.dtype))


@settings(max_examples=1500, deadline=None)
@given(buffers)
def test_read_records_accepts_or_raises_recordio_error(data):
    try:
        core.read_records(io.BytesIO(data))
    except RecordIOError:
        pass


@settings(max_examples=1000, deadline=None)
@given(buffers, st.integers(1, 5))
def test_iter_batches_accepts_or_raises_recordio_error(data, batch_size):
    fd, path = tempfile.mkstemp(suffix=".pbr")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            batches = list(core.iter_batches(path, batch_size))
        except RecordIOError as error:
            assert path in str(error)
            return
        whole, _ = core.decode(data)
        assert sum(b[0].shape[0] for b in batches) == whole.shape[0]
    finally:
        os.unlink(path)
