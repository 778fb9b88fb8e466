"""Malformed RecordIO or protobuf raises RecordIOError naming the record and byte offset; bad writer
input raises a clear ValueError/TypeError and leaves no partial file."""

import io
import struct

import numpy as np
import pytest
import scipy.sparse as sp

import ntm.core as core
from ntm.core import RecordIOError

MAGIC = struct.pack("<I", 0xCED7230A)


def frame(payload: bytes, flag: int = 0) -> bytes:
    pad = (-len(payload)) % 4
    return MAGIC + struct.pack("<I", (flag << 29) | len(payload)) + payload + b"\0" * pad


def varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(number: int, wire: int, body: bytes) -> bytes:
    tag = varint((number << 3) | wire)
    return tag + (varint(len(body)) + body if wire == 2 else body)


def record(tensor: bytes, kind: int = 2, key: bytes = b"values", label: bytes = b"") -> bytes:
    """A Record whose features map holds one Value of the given oneof kind."""
    value = field(kind, 2, tensor)
    entry = field(1, 2, key) + field(2, 2, value)
    return field(1, 2, entry) + label


GOOD = frame(record(field(1, 2, struct.pack("<ff", 1, 2))))
AT = len(GOOD)  # where the bad record starts in every case below


def decode_error(data: bytes) -> RecordIOError:
    with pytest.raises(RecordIOError) as info:
        core.decode(data)
    return info.value


def test_hand_built_record_decodes():
    np.testing.assert_array_equal(core.decode(GOOD)[0], [[1, 2]])


@pytest.mark.parametrize(
    "data, offset, message",
    [
        (GOOD + b"\x0a\x23\xd7", AT, "truncated record header: 3 bytes left"),
        (GOOD + b"\x00" * 8, AT, "bad magic number 0x00000000"),
        (GOOD + MAGIC + struct.pack("<I", 1000) + b"abcd", AT, "record length 1000 runs past the end"),
        (GOOD + MAGIC + struct.pack("<I", 5) + b"abcde", AT, "padding after the payload is truncated"),
        (GOOD + frame(b"", flag=2), AT, "invalid MXNet continuation flag 2"),
        (GOOD + frame(b"", flag=5), AT, "invalid MXNet continuation flag 5"),
        (GOOD + frame(b"abcd", flag=1), AT, "the data ends inside a split record"),
    ],
    ids=["short-header", "magic", "length-past-end", "short-padding", "flag-2-first", "flag-5", "split-eof"],
)
def test_framing_errors_name_record_and_offset(data, offset, message):
    error = decode_error(data)
    assert message in str(error)
    assert error.record == 1 and error.offset == offset
    assert str(error).startswith(f"record 1, byte offset {offset}:")


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x0a", "malformed protobuf in Record"),
        (b"\x0a\x05\x0a\x06val", "malformed protobuf in map entry"),
        (b"\x08\x01", "Record has wire type 0"),
        (b"\x33", "unsupported wire type 3"),
        (b"\x00", "field number 0"),
        (b"\xff" * 11, "malformed protobuf in Record"),
        (record(field(1, 2, b"\x00\x00\x80")), "tensor.values is packed 3 bytes long"),
        (record(field(1, 0, b"\x01")), "tensor.values has wire type 0"),
        (record(field(2, 2, b"\x80")), "malformed protobuf in tensor.keys"),
        (record(b"", kind=9), "Bytes value, which cannot be converted"),
        (record(b"", key=b"other"), 'the record has no features["values"]'),
        (record(field(1, 2, struct.pack("<f", 1)) + field(2, 2, varint(7)) + field(3, 2, varint(2))),
         "has key 7 outside its shape [2]"),
        (record(field(1, 2, struct.pack("<f", 1)) + field(2, 2, varint(1))), "has 1 keys but no shape"),
        (record(field(1, 2, struct.pack("<ff", 1, 2)) + field(2, 2, varint(1)) + field(3, 2, varint(2))),
         "has 1 keys but 2 values"),
        (record(field(1, 2, struct.pack("<f", 1)) + field(2, 2, varint(0) + varint(1)) + field(3, 2, varint(2))),
         "has 2 keys but 1 values"),
        (record(field(2, 2, varint(1)) + field(3, 2, varint(2))), "has 1 keys but 0 values"),
        (record(field(3, 2, varint(2) + varint(3))), "2-dimensional shape"),
        (record(field(1, 2, struct.pack("<ff", 1, 2)) + field(3, 2, varint(3))), "dense with 2 values but its shape says 3"),
        (record(field(3, 2, varint(2**40))), "widths above 2**31 - 1"),
        (record(field(1, 2, struct.pack("<f", 1)), label=field(2, 2, field(1, 2, b"values") + field(2, 2, field(9, 2, b"")))),
         'label["values"] holds bytes'),
    ],
    ids=["truncated-tag-len", "length-past-message", "wrong-wiretype", "group", "field-zero", "long-varint",
         "packed-width", "values-wiretype", "bad-key-varint", "bytes-tensor", "no-values-key", "key-outside-shape",
         "keys-without-shape", "fewer-keys", "more-keys", "keys-no-values", "2d-shape", "dense-shape-mismatch", "huge-width", "bytes-label"],
)
def test_protobuf_errors_name_the_problem_record_and_offset(payload, message):
    error = decode_error(GOOD + frame(payload))
    assert message in str(error), str(error)
    assert (error.record, error.offset) == (1, AT)


def test_mixed_widths_are_refused():
    data = core.encode_dense(np.ones((2, 3), np.float32)) + core.encode_dense(np.ones((1, 4), np.float32))
    error = decode_error(data)
    assert error.record == 2 and "row width 4 differs from the width 3" in str(error)


def test_labels_on_some_records_only_are_refused():
    data = core.encode_dense(np.ones((1, 3)), np.ones(1)) + core.encode_dense(np.ones((1, 3)))
    assert "has no label but the records before it do" in str(decode_error(data))


def test_unknown_fields_and_unpacked_values_are_read_like_protobuf_reads_them():
    tensor = field(1, 5, struct.pack("<f", 3)) + field(1, 5, struct.pack("<f", 4)) + field(9, 0, b"\x05")
    payload = record(tensor) + field(3, 2, b"uid") + field(15, 1, b"\0" * 8)
    features, _ = core.decode(frame(payload))
    np.testing.assert_array_equal(features, [[3, 4]])
    parsed = core.read_records(io.BytesIO(frame(payload)))[0]
    assert list(parsed.features["values"].float32_tensor.values) == [3, 4]


def mxnet_split(payload: bytes) -> bytes:
    """Frame a payload the way MXNet's RecordIOWriter does: split wherever the magic appears aligned."""
    out, start = bytearray(), 0
    for i in range(0, len(payload) - len(payload) % 4, 4):
        if payload[i:i + 4] == MAGIC:
            out += MAGIC + struct.pack("<I", ((1 if start == 0 else 2) << 29) | (i - start)) + payload[start:i]
            start = i + 4
    rest = payload[start:]
    out += MAGIC + struct.pack("<I", ((3 if start else 0) << 29) | len(rest)) + rest + b"\0" * ((-len(rest)) % 4)
    return bytes(out)


def test_records_split_by_mxnet_continuation_flags_are_joined():
    magic_as_float = struct.unpack("<f", MAGIC)[0]
    array = np.array([[1.0, magic_as_float, 2.0, magic_as_float], [magic_as_float, 0, 0, 0]], np.float32)
    plain = core.encode_dense(array)
    split = b"".join(mxnet_split(p) for p in core.read_recordio(io.BytesIO(plain)))
    assert len(split) > len(plain)  # the writer really did split these records
    np.testing.assert_array_equal(core.decode(split)[0], array)
    assert list(core.read_recordio(io.BytesIO(split))) == list(core.read_recordio(io.BytesIO(plain)))
    assert len(core.read_records(io.BytesIO(split))) == 2


def test_read_recordio_reports_errors_with_offsets():
    with pytest.raises(RecordIOError, match=rf"record 1, byte offset {AT}: bad magic"):
        list(core.read_recordio(io.BytesIO(GOOD + b"\x01" * 8)))
    with pytest.raises(RecordIOError, match=rf"record 1, byte offset {AT}: record length 536870911 runs past"):
        list(core.read_recordio(io.BytesIO(GOOD + MAGIC + struct.pack("<I", (1 << 29) - 1))))


def test_read_records_wraps_protobuf_errors():
    with pytest.raises(RecordIOError, match=r"record 1: malformed protobuf payload"):
        core.read_records(io.BytesIO(GOOD + frame(b"\x0a\x05")))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: core.encode_dense(np.ones(3)), ValueError, r"must be 2-D \(rows x features\), got shape \(3,\)"),
        (lambda: core.encode_dense(np.ones((2, 2), np.float16)), TypeError, "dtype float16"),
        (lambda: core.encode_dense(np.ones((2, 2), bool)), ValueError, "dtype bool"),
        (lambda: core.encode_dense(np.ones((2, 2)), np.ones(3)), ValueError, "labels has 3 entries but the data has 2 rows"),
        (lambda: core.encode_dense(np.ones((2, 2)), np.ones((2, 1))), ValueError, r"labels must be a 1-D vector, got shape \(2, 1\)"),
        (lambda: core.encode_dense(np.ones((2, 2)), np.array(["a", "b"])), TypeError, "labels has dtype <U1"),
        (lambda: core.encode_dense(np.array([[1, 2**40]])), ValueError, "value 1099511627776 at row 0, column 1 does not fit"),
        (lambda: core.encode_dense(sp.csr_matrix(np.ones((2, 2)))), TypeError, "use encode_sparse"),
        (lambda: core.encode_sparse(np.ones((2, 2))), TypeError, "use encode_dense"),
        (lambda: core.encode_sparse(sp.csr_matrix(np.ones((2, 2)), dtype=np.complex64)), TypeError, "dtype complex64"),
        (lambda: core.encode_sparse(sp.csr_matrix((np.ones(1), np.array([5]), np.array([0, 1])), shape=(1, 3))),
         ValueError, r"column index 5 in row 0, outside \[0, 3\)"),
    ],
    ids=["1d", "float16", "bool", "label-length", "label-2d", "label-strings", "int-overflow", "sparse-to-dense",
         "dense-to-sparse", "complex", "index-outside"],
)
def test_writer_input_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_failed_write_leaves_the_existing_file_untouched(tmp_path):
    path = tmp_path / "data.pbr"
    core.write_numpy_to_dense_tensor(path, np.ones((2, 2), np.float32))
    before = path.read_bytes()
    with pytest.raises(ValueError):
        core.write_numpy_to_dense_tensor(path, np.ones((2, 2), np.float32), np.ones(5))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data.pbr"]


def test_failed_write_creates_no_file(tmp_path):
    path = tmp_path / "new.pbr"
    with pytest.raises(TypeError):
        core.write_spmatrix_to_sparse_tensor(path, np.ones((2, 2)))
    assert not path.exists() and list(tmp_path.iterdir()) == []
