"""The local backend's endpoints and batch transform: deploy, predict, find from another process, delete."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ntm.core import encode_dense, write_numpy_to_dense_tensor
from ntm.plugins.local import hostingstore
from ntm.plugins.local.endpoint_client import EndpointError
from ntm.plugins.local.inference import TopicInference
from serving_helpers import FEATURE_DIM, random_artifact, write_model

from ntm import NTM, NTMModel, NTMPredictor, payloads, plugins, storage
from ntm.errors import (
    ResourceInUseError,
    ResourceNotFoundError,
    UnexpectedStatusError,
    UnsupportedContentTypeError,
)
from ntm.synthetic import make_corpus
from ntm.testing import check_backend

ROWS = np.random.default_rng(5).poisson(0.7, (30, FEATURE_DIM)).astype(np.float32)
EXPECTED = TopicInference(random_artifact()).topic_weights(ROWS)


@pytest.fixture
def backend():
    """The local backend; every endpoint and transform process it started is stopped afterwards."""
    local = plugins.get_backend("local")
    try:
        yield local
    finally:
        for name in hostingstore.names("endpoint"):
            local.delete_endpoint(name)
        for name in hostingstore.names("transform job"):
            pid = hostingstore.row("transform job", name)["pid"]
            if pid and hostingstore.row("transform job", name)["status"] == "InProgress":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def model_uri(tmp_path):
    return storage.to_uri(write_model(tmp_path / "model.tar.gz"))


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(child) for child in handle.read().split()]


def test_deploy_predict_find_from_another_process_and_delete(backend, model_uri, tmp_path):
    predictor = NTMModel(model_uri).deploy(initial_instance_count=2, instance_type="local",
                                           endpoint_name="topics-endpoint")
    records = predictor.predict(ROWS)
    weights = np.array([r.label["topic_weights"].float32_tensor.values for r in records])
    np.testing.assert_allclose(weights, EXPECTED, rtol=1e-5, atol=1e-6)

    description = backend.describe_endpoint("topics-endpoint")
    assert description["EndpointStatus"] == "InService"
    assert description["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    row = hostingstore.row("endpoint", "topics-endpoint")
    assert row["host"] == "127.0.0.1" and len(_children(row["pid"])) == 2  # two worker processes

    script = textwrap.dedent(f"""
        import numpy as np
        from ntm import NTMPredictor
        rows = np.array({ROWS.tolist()}, dtype=np.float32)
        records = NTMPredictor("topics-endpoint").predict(rows)
        print([list(r.label["topic_weights"].float32_tensor.values) for r in records])
    """)
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, NTM_BACKEND="local"))
    assert other.returncode == 0, other.stderr
    np.testing.assert_allclose(np.array(json.loads(other.stdout)), EXPECTED, rtol=1e-5, atol=1e-6)

    port = row["port"]
    NTMPredictor("topics-endpoint", backend="local").delete_endpoint()
    with pytest.raises(ResourceNotFoundError):
        backend.describe_endpoint("topics-endpoint")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not os.path.exists(f"/proc/{row['pid']}") or open(f"/proc/{row['pid']}/stat").read().split()[2] == "Z"


def test_invoke_errors_say_what_was_wrong(backend, model_uri):
    NTMModel(model_uri, name="m").deploy(1, "local", endpoint_name="e")
    with pytest.raises(UnsupportedContentTypeError, match="image/png"):
        backend.invoke_endpoint("e", b"x", "image/png", payloads.JSON)
    with pytest.raises(EndpointError) as caught:
        backend.invoke_endpoint("e", b"1,2,3\n", payloads.CSV, payloads.JSON)
    assert (caught.value.status, caught.value.row, caught.value.field) == (400, 0, "features")
    with pytest.raises(ResourceInUseError):
        backend.create_endpoint({"EndpointName": "e", "ProductionVariants": [{"ModelName": "m"}]})
    with pytest.raises(ResourceNotFoundError):
        backend.invoke_endpoint("no-such-endpoint", b"1", payloads.CSV, payloads.JSON)
    body = backend.invoke_endpoint("e", encode_dense(ROWS), payloads.RECORDIO, payloads.JSON)
    np.testing.assert_allclose(np.array([p["topic_weights"] for p in json.loads(body)["predictions"]]), EXPECTED,
                               rtol=1e-5, atol=1e-6)


def test_an_endpoint_whose_model_cannot_load_fails_with_the_reason(backend, tmp_path):
    (tmp_path / "broken.tar.gz").write_bytes(b"garbage")
    with pytest.raises(UnexpectedStatusError, match="not a readable tar.gz"):
        NTMModel(storage.to_uri(tmp_path / "broken.tar.gz")).deploy(1, "local", endpoint_name="broken")
    assert backend.describe_endpoint("broken")["EndpointStatus"] == "Failed"


def _csv(rows):
    return "\n".join(",".join(str(int(v)) for v in row) for row in rows).encode()


def _transform(backend, model_uri, tmp_path, files, content_type, accept=payloads.JSONLINES, split_type=None,
               **options):
    source = tmp_path / "input"
    for name, data in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    model = NTMModel(model_uri)
    transformer = model.transformer(1, "local", accept=accept, assemble_with=options.pop("assemble_with", "Line"),
                                    output_path=storage.to_uri(tmp_path / "output") + "/", **options)
    transformer.transform(storage.to_uri(source), content_type=content_type, split_type=split_type)
    return tmp_path / "output", transformer


def _weights(path, accept=payloads.JSONLINES):
    if accept == payloads.JSONLINES:
        return np.array([json.loads(line)["topic_weights"] for line in path.read_text().splitlines() if line])
    return np.array([p["topic_weights"] for p in json.loads(path.read_text())["predictions"]])


@pytest.mark.parametrize("strategy", ["MultiRecord", "SingleRecord"])
def test_transform_scores_each_file_in_input_order(backend, model_uri, tmp_path, strategy, capsys):
    files = {"a.csv": _csv(ROWS[:10]), "b.csv": _csv(ROWS[10:]) + b"\n\n", "sub/c.csv": _csv(ROWS[:3])}
    output, transformer = _transform(backend, model_uri, tmp_path, files, payloads.CSV, strategy=strategy)
    np.testing.assert_allclose(_weights(output / "a.csv.out"), EXPECTED[:10], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_weights(output / "b.csv.out"), EXPECTED[10:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_weights(output / "sub/c.csv.out"), EXPECTED[:3], rtol=1e-5, atol=1e-6)
    progress = backend.describe_transform_job(transformer.latest_transform_job)["Progress"]
    assert progress == {"FilesDone": 3, "FilesTotal": 3, "RecordsDone": 33}
    assert "] 3/3 files, 33 records\n" in capsys.readouterr().err  # the progress bar wait() drew


def test_transform_splits_recordio_and_packs_requests_under_the_payload_limit(backend, model_uri, tmp_path):
    big = np.random.default_rng(6).poisson(0.7, (9000, FEATURE_DIM)).astype(np.float32)  # ~1.5 MB of RecordIO
    path = tmp_path / "rows.rec"
    write_numpy_to_dense_tensor(str(path), big)
    output, _ = _transform(backend, model_uri, tmp_path, {"rows.rec": path.read_bytes()}, payloads.RECORDIO,
                           max_payload=1, split_type="RecordIO")
    np.testing.assert_allclose(_weights(output / "rows.rec.out"), TopicInference(random_artifact()).topic_weights(big),
                               rtol=1e-5, atol=1e-6)
    assert (output / "rows.rec.out").read_text().count("}\n{") == 8999  # one line per record, no blank lines


def test_transform_of_a_json_document_sends_the_whole_file(backend, model_uri, tmp_path):
    document = json.dumps({"instances": [{"features": row} for row in ROWS.tolist()]}).encode()
    output, _ = _transform(backend, model_uri, tmp_path, {"doc.json": document}, payloads.JSON, accept=payloads.JSON,
                           assemble_with="None")
    np.testing.assert_allclose(_weights(output / "doc.json.out", payloads.JSON), EXPECTED, rtol=1e-5, atol=1e-6)


def test_a_malformed_row_fails_the_job_naming_file_and_line_and_leaves_no_partial_output(backend, model_uri,
                                                                                        tmp_path):
    bad = _csv(ROWS[:5]).split(b"\n")
    bad[3] = b"1,2,oops"
    files = {"a.csv": _csv(ROWS[:4]), "b.csv": b"\n".join(bad)}
    with pytest.raises(UnexpectedStatusError, match=r"b\.csv line 4: .*column 3 is 'oops'"):
        _transform(backend, model_uri, tmp_path, files, payloads.CSV)
    assert (tmp_path / "output" / "a.csv.out").exists()  # files before the bad one are done, as on SageMaker
    assert not (tmp_path / "output" / "b.csv.out").exists()
    assert not list((tmp_path / "output").glob("*tmp*"))


def test_a_record_over_max_payload_fails_the_job(backend, model_uri, tmp_path):
    huge_line = ",".join(["0"] * FEATURE_DIM * 14000).encode()  # one ~1 MB line
    with pytest.raises(UnexpectedStatusError, match=r"big\.csv line 1: .* more than MaxPayloadInMB"):
        _transform(backend, model_uri, tmp_path, {"big.csv": huge_line}, payloads.CSV, max_payload=1)


def test_transform_requests_are_checked_when_created(backend, model_uri):
    NTMModel(model_uri, name="checked").transformer(1, "local")  # registers the model
    request = {"TransformJobName": "t", "ModelName": "checked",
               "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": "file:///nowhere"}},
                                  "ContentType": payloads.CSV, "SplitType": "Paragraph"},
               "TransformOutput": {"S3OutputPath": "file:///nowhere-out"},
               "TransformResources": {"InstanceType": "local", "InstanceCount": 1}}
    with pytest.raises(ValueError, match="SplitType"):
        backend.create_transform_job(request)
    with pytest.raises(ResourceNotFoundError):
        backend.describe_transform_job("t")


def test_the_local_backend_passes_the_conformance_suite(backend, tmp_path):
    check_backend(backend, data_location=tmp_path / "conformance", timeout=120)


def test_estimator_fit_deploy_predict_and_transform(backend, tmp_path):
    counts = make_corpus(200, 3).counts
    counts = np.asarray(counts.toarray() if hasattr(counts, "toarray") else counts, dtype=np.float32)
    estimator = NTM(None, 1, "local", num_topics=3, epochs=5, data_location=storage.to_uri(tmp_path / "data") + "/",
                    output_path=storage.to_uri(tmp_path / "out") + "/")
    estimator.fit(estimator.record_set(counts), logs=False)
    predictor = estimator.deploy(1, "local")
    try:
        records = predictor.predict(counts[:20])
        weights = np.array([r.label["topic_weights"].float32_tensor.values for r in records])
        assert weights.shape == (20, 3)
        np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-5)
    finally:
        predictor.delete_endpoint()
    (tmp_path / "score").mkdir()
    (tmp_path / "score" / "part.csv").write_bytes(_csv(counts[:20]))
    transformer = estimator.transformer(1, "local", output_path=storage.to_uri(tmp_path / "scores") + "/",
                                        accept=payloads.JSONLINES, assemble_with="Line")
    transformer.transform(storage.to_uri(tmp_path / "score"), content_type=payloads.CSV)
    np.testing.assert_allclose(_weights(tmp_path / "scores" / "part.csv.out"), weights, rtol=1e-5, atol=1e-6)
