"""Request bodies a model cannot score fail with RequestError naming the row and the field."""

import json
import re

import numpy as np
import pytest
import scipy.sparse as sp
from ntm.core import encode_dense, encode_sparse

from ntm import payloads
from ntm.errors import UnsupportedContentTypeError

V = 5


def _error(body, content_type):
    with pytest.raises(payloads.RequestError) as caught:
        payloads.parse_request(body, content_type, feature_dim=V)
    return caught.value


@pytest.mark.parametrize("body, content_type, row, field, text", [
    (b"", "text/csv", None, "body", "empty"),
    (b"  \n", "application/jsonlines", None, "body", "empty"),
    (b"1,2,3\n", "text/csv", 0, "features", "expects 5"),
    (b"1,2,3,4,5\n1,2,3,4\n", "text/csv", 1, "features", "CSV line 2 has 4 values"),
    (b"1,2,3,4,5\n1,2,x,4,5\n", "text/csv", 1, "column 3", "column 3 is 'x'"),
    (b"1,2,3,4,5\n1,2,-3,4,5\n", "text/csv", 1, "values", "negative"),
    (b"1,2,3,4,5\n1,2,nan,4,5\n", "text/csv", 1, "values", "not a finite number"),
    (b"1,2,3,4,inf\n", "text/csv", 0, "values", "not a finite number"),
    (b'{"features": [1, 2, 3, 4, 5]}\n{"features": [1, "a", 3, 4, 5]}\n', "application/jsonlines", 1,
     "features", "instance 1"),
    (b'{"features": [1, 2, 3, 4, 5]}\n{oops\n', "application/jsonlines", None, "body", "line 2 is not valid JSON"),
    (json.dumps({"instances": [{"data": {"features": {"keys": [0, 9], "values": [1, 1], "shape": [V]}}}]}).encode(),
     "application/json", 0, "keys", "sparse key 9 is out of range"),
    (json.dumps({"instances": [{"data": {"features": {"keys": [0, 1], "values": [1, 1], "shape": [7]}}}]}).encode(),
     "application/json", 0, "shape", "does not match the model's feature_dim 5"),
    (json.dumps({"instances": [{"data": {"features": {"keys": [0, 1], "values": [1]}}}]}).encode(),
     "application/json", 0, "keys", "2 keys but 1 values"),
    (json.dumps({"instances": [{"data": {"features": {"keys": [-1], "values": [1]}}}]}).encode(),
     "application/json", 0, "keys", "whole numbers of 0 or more"),
    (json.dumps({"instances": []}).encode(), "application/json", None, "instances", "no instances"),
    (json.dumps({"rows": [1]}).encode(), "application/json", None, "instances", "a JSON request is"),
    (b"\xff\xfe", "text/csv", None, "body", "not UTF-8"),
    (b"[" * 100000, "application/json", None, "body", "not valid JSON|too deeply"),
    (b"\x01\x02\x03\x04garbage", "application/x-recordio-protobuf", 0, "body",
     "RecordIO-protobuf body is malformed"),
])
def test_bad_bodies_name_the_row_and_field(body, content_type, row, field, text):
    error = _error(body, content_type)
    assert (error.row, error.field) == (row, field)
    assert error.details() == {"message": str(error), "row": row, "field": field}
    assert re.search(text, str(error)), str(error)


def test_recordio_rows_are_checked_like_any_other():
    assert _error(encode_dense(np.ones((2, 3), np.float32)), payloads.RECORDIO).field == "features"
    rows = np.ones((3, V), np.float32)
    rows[2, 4] = -1
    assert (_error(encode_dense(rows), payloads.RECORDIO).row, _error(encode_dense(rows), payloads.RECORDIO).field) \
        == (2, "values")
    wide = sp.csr_matrix(([1.0, 1.0], ([0, 1], [1, 7])), shape=(2, 8), dtype=np.float32)
    error = _error(encode_sparse(wide), payloads.RECORDIO)
    assert (error.row, error.field) == (1, "keys")


def test_narrow_sparse_rows_widen_to_feature_dim():
    body = json.dumps({"instances": [{"data": {"features": {"keys": [1], "values": [2]}}}]}).encode()
    rows = payloads.parse_request(body, payloads.JSON, feature_dim=V)
    assert rows.shape == (1, V) and rows.toarray().tolist() == [[0, 2, 0, 0, 0]]


def test_good_rows_parse_the_same_in_every_format():
    rows = np.random.default_rng(1).poisson(1.0, (6, V)).astype(np.float32)
    bodies = {
        payloads.CSV: "\n".join(",".join(str(int(v)) for v in row) for row in rows).encode(),
        payloads.JSON: json.dumps({"instances": [{"features": row} for row in rows.tolist()]}).encode(),
        payloads.JSONLINES: "\n".join(json.dumps({"data": {"features": {"values": r}}}) for r in rows.tolist()).encode(),
        payloads.RECORDIO: encode_sparse(sp.csr_matrix(rows)),
    }
    for content_type, body in bodies.items():
        parsed = payloads.parse_request(body, content_type, feature_dim=V)
        assert np.array_equal(parsed.toarray() if sp.issparse(parsed) else parsed, rows), content_type


def test_accept_lists_pick_the_first_supported_type():
    assert payloads.check_response_type("text/html, application/jsonlines") == payloads.JSONLINES
    assert payloads.check_response_type(None) == payloads.JSON
    assert payloads.check_response_type("*/*") == payloads.JSON
    with pytest.raises(UnsupportedContentTypeError, match="text/html"):
        payloads.check_response_type("text/html")
    assert payloads.check_request_type("text/csv; label_size=0") == payloads.CSV
