"""``ntm serve``: SageMaker's container contract over real HTTP, bad input, limits, crashes, SIGTERM."""

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp
from ntm.core import encode_dense, encode_sparse
from ntm.plugins.local.inference import TopicInference
from ntm.plugins.local.invocations import ModelService
from ntm.plugins.local.server import InferenceApp
from serving_helpers import FEATURE_DIM, NUM_TOPICS, random_artifact, request, running_server, write_model

from ntm import payloads

ROWS = np.random.default_rng(3).poisson(0.8, (25, FEATURE_DIM)).astype(np.float32)
EXPECTED = TopicInference(random_artifact()).topic_weights(ROWS)

BODIES = {
    payloads.CSV: "\n".join(",".join(str(int(v)) for v in row) for row in ROWS).encode(),
    payloads.JSON: json.dumps({"instances": [{"features": row} for row in ROWS.tolist()]}).encode(),
    "application/json; sparse": json.dumps({"instances": [
        {"data": {"features": {"keys": np.flatnonzero(row).tolist(), "values": row[row > 0].tolist(),
                               "shape": [FEATURE_DIM]}}} for row in ROWS]}).encode(),
    payloads.JSONLINES: "\n".join(json.dumps({"features": row}) for row in ROWS.tolist()).encode(),
    payloads.RECORDIO: encode_dense(ROWS),
    "application/x-recordio-protobuf; sparse": encode_sparse(sp.csr_matrix(ROWS)),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    with running_server(write_model(folder / "model.tar.gz"), folder, workers=2) as (process, port):
        yield port


def post(port, body, content_type, accept=payloads.JSON, **extra):
    headers = {"Content-Type": content_type, "Accept": accept, **extra}
    return request(port, "POST", "/invocations", body, headers)


def test_ping_and_execution_parameters(server):
    assert request(server, "GET", "/ping")[0] == 200
    status, headers, body = request(server, "GET", "/execution-parameters")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}


@pytest.mark.parametrize("content_type", list(BODIES))
@pytest.mark.parametrize("accept", payloads.RESPONSE_TYPES)
def test_every_content_type_and_accept_gives_the_in_process_weights(server, content_type, accept):
    status, headers, body = post(server, BODIES[content_type], content_type.split(";")[0], accept)
    assert status == 200, body
    assert headers["content-type"] == accept
    weights = payloads.parse_response(body, accept)
    np.testing.assert_allclose(weights, EXPECTED, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-5)


def test_a_thousand_rows_score_in_one_request(server):
    rows = np.random.default_rng(4).poisson(0.5, (1000, FEATURE_DIM)).astype(np.float32)
    status, _, body = post(server, encode_dense(rows), payloads.RECORDIO, payloads.JSONLINES)
    assert status == 200
    np.testing.assert_allclose(payloads.parse_response(body, payloads.JSONLINES),
                               TopicInference(random_artifact()).topic_weights(rows), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("body, content_type, accept, status, row, field", [
    (b"1,2", "image/png", payloads.JSON, 415, None, "Content-Type"),
    (BODIES[payloads.CSV], payloads.CSV, "text/html", 406, None, "Accept"),
    (b"", payloads.CSV, payloads.JSON, 400, None, "body"),
    (b"1,2,3\n", payloads.CSV, payloads.JSON, 400, 0, "features"),
    (BODIES[payloads.CSV] + b"\n" + b",".join([b"1"] * (FEATURE_DIM - 1)) + b",-1", payloads.CSV, payloads.JSON,
     400, len(ROWS), "values"),
    (json.dumps({"instances": [{"data": {"features": {"keys": [FEATURE_DIM], "values": [1.0],
                                                       "shape": [FEATURE_DIM]}}}]}).encode(),
     payloads.JSON, payloads.JSON, 400, 0, "keys"),
    (b"{not json", payloads.JSON, payloads.JSON, 400, None, "body"),
])
def test_client_mistakes_get_4xx_with_a_json_error_naming_row_and_field(server, body, content_type, accept, status,
                                                                       row, field):
    answer, headers, payload = post(server, body, content_type, accept)
    assert answer == status
    assert headers["content-type"] == "application/json"
    error = json.loads(payload)["error"]
    assert (error["status"], error["row"], error["field"]) == (status, row, field)
    assert error["message"]
    assert post(server, BODIES[payloads.CSV], payloads.CSV)[0] == 200  # and the server keeps serving


def test_wrong_routes_and_methods(server):
    assert request(server, "GET", "/nowhere")[0] == 404
    assert request(server, "GET", "/invocations")[0] == 405
    assert request(server, "POST", "/ping", b"")[0] == 405


def test_a_body_over_the_limit_is_refused_by_its_content_length(server):
    status, _, payload = post(server, b"0," * (3 << 20) + b"0", payloads.CSV)
    assert status == 413 and json.loads(payload)["error"]["field"] == "body"


def test_a_chunked_body_is_refused_once_it_crosses_the_limit(server):
    import http.client

    def chunks():
        for _ in range(100):  # 10 MB in 100 KB chunks, no Content-Length
            yield b"0," * 51200

    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    try:
        connection.request("POST", "/invocations", body=chunks(), headers={"Content-Type": payloads.CSV},
                           encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        assert "at most" in json.loads(response.read())["error"]["message"]
    finally:
        connection.close()
    assert post(server, BODIES[payloads.CSV], payloads.CSV)[0] == 200


def test_the_payload_limit_is_configurable(tmp_path):
    model = write_model(tmp_path / "model.tar.gz")
    with running_server(model, tmp_path, extra=("--max-payload-mb", "1")) as (_, port):
        assert json.loads(request(port, "GET", "/execution-parameters")[2])["MaxPayloadInMB"] == 1
        assert post(port, b"0," * 600_000 + b"0", payloads.CSV)[0] == 413


class _FlakyInference:
    """Fails its first call, as a crash inside inference would."""

    vocab_size, num_topics = FEATURE_DIM, NUM_TOPICS

    def __init__(self):
        self.calls = 0
        self.real = TopicInference(random_artifact())

    def topic_weights(self, rows):
        self.calls += 1
        if self.calls == 1:
            raise FloatingPointError("simulated crash in the forward pass")
        return self.real.topic_weights(rows)


def _call(app, method, path, body=b"", headers=()):
    sent = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path,
             "headers": [(k.encode(), v.encode()) for k, v in headers]}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_an_inference_crash_is_a_500_and_the_next_request_is_served():
    app = InferenceApp(ModelService(_FlakyInference()))
    headers = [("content-type", payloads.CSV), ("content-length", str(len(BODIES[payloads.CSV])))]
    status, body = _call(app, "POST", "/invocations", BODIES[payloads.CSV], headers)
    assert status == 500
    assert "simulated crash" in json.loads(body)["error"]["message"]
    status, body = _call(app, "POST", "/invocations", BODIES[payloads.CSV], headers)
    assert status == 200
    np.testing.assert_allclose(payloads.parse_response(body, payloads.JSON), EXPECTED, rtol=1e-5)


def test_ping_is_503_until_a_model_is_loaded():
    app = InferenceApp(None)
    assert _call(app, "GET", "/ping")[0] == 503
    app.service = ModelService(TopicInference(random_artifact()))
    assert _call(app, "GET", "/ping")[0] == 200


def test_sigterm_lets_an_in_flight_request_finish_then_exits_cleanly(tmp_path):
    model = write_model(tmp_path / "model.tar.gz")
    body = BODIES[payloads.CSV]
    with running_server(model, tmp_path) as (process, port):
        client = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            client.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
            time.sleep(0.3)  # the request is now in flight: headers read, body half sent
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(OSError):  # no new connections once draining has begun
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            client.sendall(body[100:])
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 10:
                chunk = client.recv(65536)
                if not chunk:
                    break
                answer += chunk
        finally:
            client.close()
        assert answer.startswith(b"HTTP/1.1 200")
        assert process.wait(timeout=30) == 0


def test_serve_reads_a_model_unpacked_into_a_folder_as_sagemaker_does(tmp_path):
    import tarfile

    with tarfile.open(write_model(tmp_path / "model.tar.gz")) as archive:
        archive.extractall(tmp_path / "opt-ml-model", filter="data")
    with running_server(tmp_path / "opt-ml-model", tmp_path) as (_, port):
        status, _, body = post(port, BODIES[payloads.CSV], payloads.CSV)
        assert status == 200
        np.testing.assert_allclose(payloads.parse_response(body, payloads.JSON), EXPECTED, rtol=1e-5, atol=1e-6)


def test_serve_refuses_a_file_that_is_not_a_model(tmp_path):
    (tmp_path / "model.tar.gz").write_bytes(b"not a tarball")
    result = subprocess.run([sys.executable, "-m", "ntm.cli", "serve", str(tmp_path / "model.tar.gz"), "--port", "0",
                             "--host", "127.0.0.1"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "cannot load the model" in result.stderr and "not a readable tar.gz" in result.stderr


def test_serve_rejects_bad_arguments():
    result = subprocess.run([sys.executable, "-m", "ntm.cli", "serve", "m.tar.gz", "--workers", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "positive whole number" in result.stderr
