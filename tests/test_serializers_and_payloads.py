"""Serializers behave as the SDK's; every NTM request format parses to the same rows; responses render."""

import io
import json

import numpy as np
import pytest
import scipy.sparse as sp

from ntm import payloads, storage
from ntm.core import decode, read_records
from ntm.errors import UnsupportedContentTypeError
from ntm.serializers import (CSVDeserializer, CSVSerializer, JSONDeserializer, JSONLinesDeserializer,
                             JSONLinesSerializer, JSONSerializer, NumpyDeserializer, RecordDeserializer,
                             RecordSerializer)

ROWS = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]], dtype=np.float32)


def test_record_serializer_takes_one_row_many_rows_or_sparse():
    serializer = RecordSerializer()
    assert serializer.CONTENT_TYPE == "application/x-recordio-protobuf"
    assert np.array_equal(decode(serializer.serialize(ROWS[0]).getvalue())[0], ROWS[:1])
    assert np.array_equal(decode(serializer.serialize(ROWS).getvalue())[0], ROWS)
    assert np.array_equal(decode(serializer.serialize(sp.csr_matrix(ROWS)).getvalue())[0].toarray(), ROWS)
    with pytest.raises(ValueError, match="Expected a 1D or 2D array, but got a 3D array instead."):
        serializer.serialize(np.zeros((1, 1, 1)))


def test_csv_serializer_writes_one_row_per_line():
    assert CSVSerializer().serialize(ROWS) == "1.0,0.0,2.0\n0.0,3.0,0.0"
    assert CSVSerializer().serialize([1, 2, 3]) == "1,2,3"
    with pytest.raises(ValueError, match="Cannot serialize empty array"):
        CSVSerializer().serialize([])


def test_json_and_jsonlines_serializers():
    assert json.loads(JSONSerializer().serialize({"instances": np.array([[1, 2]])})) == {"instances": [[1, 2]]}
    assert JSONLinesSerializer().serialize([{"features": [1]}, {"features": [2]}]) == (
        '{"features": [1]}\n{"features": [2]}')


def test_deserializers_read_streams():
    assert CSVDeserializer().deserialize(io.BytesIO(b"1,2\n3,4"), "text/csv") == [["1", "2"], ["3", "4"]]
    assert JSONDeserializer().deserialize(io.BytesIO(b'{"a": 1}'), "application/json") == {"a": 1}
    assert JSONLinesDeserializer().deserialize(io.BytesIO(b'{"a": 1}\n{"a": 2}\n'), "") == [{"a": 1}, {"a": 2}]
    body = b'{"predictions": [{"topic_weights": [0.25, 0.75]}]}'
    assert NumpyDeserializer().deserialize(io.BytesIO(body), "application/json").tolist() == [[0.25, 0.75]]
    assert RecordDeserializer().ACCEPT == ("application/x-recordio-protobuf",)


REQUESTS = {
    "application/x-recordio-protobuf": RecordSerializer().serialize(ROWS).getvalue(),
    "text/csv; label_size=0": b"1,0,2\n0,3,0\n",
    "application/json": json.dumps({"instances": [{"features": r} for r in ROWS.tolist()]}).encode(),
    "application/jsonlines": b'{"features": [1, 0, 2]}\n{"data": {"features": {"values": [0, 3, 0]}}}\n',
}


@pytest.mark.parametrize("content_type", list(REQUESTS))
def test_every_request_format_parses_to_the_same_rows(content_type):
    rows = payloads.parse_request(REQUESTS[content_type], content_type)
    assert np.array_equal(rows.toarray() if sp.issparse(rows) else rows, ROWS)


def test_sparse_json_instances_become_csr_rows():
    body = json.dumps({"instances": [{"data": {"features": {"keys": [0, 2], "values": [1, 2], "shape": [3]}}},
                                     {"features": [0, 3, 0]}]}).encode()
    rows = payloads.parse_request(body, "application/json")
    assert sp.issparse(rows) and np.array_equal(rows.toarray(), ROWS)


@pytest.mark.parametrize("body, content_type, message", [
    (b"1,2\n3\n", "text/csv", "CSV line 2 has 1 values, line 1 has 2"),
    (b"1,a\n", "text/csv", "CSV line 1 is not a row of numbers"),
    (b"{", "application/json", "the request body is not valid JSON"),
    (b'{"instances": [{"x": 1}]}', "application/json", "instance 0: expected"),
    (b"x", "image/png", "unsupported request content type 'image/png'"),
])
def test_bad_requests_say_what_and_where(body, content_type, message):
    with pytest.raises(ValueError, match=message):
        payloads.parse_request(body, content_type)


def test_responses_render_in_each_accept_type():
    weights = np.array([[0.25, 0.75]], dtype=np.float32)
    records = read_records(io.BytesIO(payloads.render_response(weights, "application/x-recordio-protobuf")))
    assert list(records[0].label["topic_weights"].float32_tensor.values) == [0.25, 0.75]
    assert json.loads(payloads.render_response(weights, None)) == {"predictions": [{"topic_weights": [0.25, 0.75]}]}
    assert payloads.render_response(weights, "application/jsonlines") == b'{"topic_weights": [0.25, 0.75]}\n'
    with pytest.raises(UnsupportedContentTypeError, match="unsupported Accept type 'text/html'"):
        payloads.render_response(weights, "text/html")


def test_storage_uris_and_atomic_local_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.to_uri("rel/dir/") == f"file://{tmp_path}/rel/dir/"
    assert storage.local_path(storage.to_uri("a b.txt")) == tmp_path / "a b.txt"
    storage.write_bytes("file://" + str(tmp_path / "x" / "y.bin"), b"data")
    assert storage.read_bytes(str(tmp_path / "x" / "y.bin")) == b"data"
    assert storage.list_files(str(tmp_path / "x")) == [f"file://{tmp_path}/x/y.bin"]
    with pytest.raises(RuntimeError):
        with storage.open_write(tmp_path / "x" / "z.bin") as out:
            out.write(b"half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["y.bin"]
    storage.delete(str(tmp_path / "x" / "y.bin"))
    assert not storage.exists(str(tmp_path / "x" / "y.bin"))
    with pytest.raises(ValueError, match="not host 'remote'"):
        storage.local_path("file://remote/path")
