"""``check_backend``: the conformance suite a backend must pass (built-ins and third-party plugins alike).

Run it from your plugin's tests::

    from ntm.testing import check_backend

    def test_my_backend_conforms(tmp_path):
        check_backend(MyBackend(), data_location=tmp_path)

It trains a 2-topic model on a tiny corpus, deploys it, scores it in every wire format, runs a batch
transform and deletes everything, checking the response shapes of each verb on the way. The first
problem raises :class:`BackendConformanceError` naming the verb and what was wrong.
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import payloads, storage
from .backend import (ENDPOINT_TERMINAL, TRAINING_TERMINAL, TRANSFORM_TERMINAL, Backend, NTM_IMAGE,
                      model_artifact_uri)
from .errors import ResourceInUseError, ResourceNotFoundError, UnsupportedContentTypeError
from .naming import name_from_base
from .record_set import write_record_set

NUM_TOPICS, FEATURE_DIM = 2, 8


class BackendConformanceError(AssertionError):
    """A backend broke the contract documented on :class:`ntm.Backend`."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BackendConformanceError(message)


def _expect_error(error: type, verb: str, call: Callable[[], Any]) -> None:
    try:
        call()
    except error:
        return
    except Exception as exc:
        raise BackendConformanceError(f"{verb} raised {type(exc).__name__}: {exc}; expected {error.__name__}") from exc
    raise BackendConformanceError(f"{verb} did not raise {error.__name__}")


def _wait(describe: Callable[[], Dict[str, Any]], key: str, terminal, timeout: float, verb: str) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description = describe()
        _require(isinstance(description, dict), f"{verb} returned {type(description).__name__}, not a dict")
        if description.get(key) in terminal:
            return description
        _require(time.monotonic() < deadline, f"{verb}: {key} still {description.get(key)!r} after {timeout} s")
        time.sleep(0.2)


def check_backend(backend: Backend, *, data_location: Any = None, output_path: Optional[str] = None,
                  instance_type: str = "conformance", timeout: float = 600.0) -> None:
    """Run ``backend`` through the whole contract; raise :class:`BackendConformanceError` on a breach.

    ``data_location`` / ``output_path``: where the test data and artifacts go (default: a temporary
    ``file://`` folder; a cloud backend passes an ``s3://`` prefix). ``instance_type`` is sent in
    ``ResourceConfig`` and ``ProductionVariants``.
    """
    _require(isinstance(backend, Backend), f"{type(backend).__name__} does not subclass ntm.Backend")
    with tempfile.TemporaryDirectory(prefix="ntm-conformance-") as scratch:
        location = storage.to_uri(data_location or scratch).rstrip("/") + "/"
        output = (output_path or location + "output").rstrip("/") + "/"
        _check_missing_names(backend)
        rows = np.random.default_rng(7).poisson(1.0, (12, FEATURE_DIM)).astype(np.float32)
        record_set = write_record_set(rows, location=location + "data/", num_shards=1)
        job = _check_training(backend, record_set.s3_data, output, instance_type, timeout)
        model_name, endpoint = _check_hosting(backend, job, instance_type, timeout, rows)
        _check_transform(backend, model_name, location, instance_type, timeout, rows)
        backend.delete_endpoint(endpoint)
        _expect_error(ResourceNotFoundError, "describe_endpoint after delete_endpoint",
                      lambda: backend.describe_endpoint(endpoint))
        backend.delete_model(model_name)


def _check_missing_names(backend: Backend) -> None:
    missing = "ntm-conformance-no-such-name"
    for verb in ("describe_training_job", "describe_endpoint", "describe_transform_job", "delete_endpoint"):
        call = getattr(backend, verb)
        _expect_error(ResourceNotFoundError, f"{verb}({missing!r})", lambda call=call: call(missing))


def _training_request(name: str, manifest: str, output: str, instance_type: str) -> Dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": NTM_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {"num_topics": str(NUM_TOPICS), "feature_dim": str(FEATURE_DIM), "epochs": "2",
                            "mini_batch_size": "4"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "ManifestFile", "S3Uri": manifest, "S3DataDistributionType": "ShardedByS3Key"}}}],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": instance_type, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def _check_training(backend, manifest, output, instance_type, timeout) -> Dict[str, Any]:
    name = name_from_base("ntm-conformance")
    request = _training_request(name, manifest, output, instance_type)
    answer = backend.create_training_job(request)
    _require(isinstance(answer, dict) and "TrainingJobArn" in answer,
             f"create_training_job returned {answer!r}; expected a dict with TrainingJobArn")
    _expect_error(ResourceInUseError, "create_training_job with an existing name",
                  lambda: backend.create_training_job(request))
    job = _wait(lambda: backend.describe_training_job(name), "TrainingJobStatus", TRAINING_TERMINAL, timeout,
                "describe_training_job")
    _require(job["TrainingJobStatus"] == "Completed",
             f"training job ended {job['TrainingJobStatus']}: {job.get('FailureReason')}")
    for key in ("TrainingJobName", "TrainingJobArn", "SecondaryStatus", "HyperParameters", "InputDataConfig",
                "OutputDataConfig", "ResourceConfig", "CreationTime"):
        _require(key in job, f"describe_training_job lacks {key}")
    _require(job["HyperParameters"] == request["HyperParameters"],
             "describe_training_job must echo HyperParameters as sent (strings)")
    artifact = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    _require(artifact == model_artifact_uri(output, name),
             f"ModelArtifacts.S3ModelArtifacts is {artifact!r}; expected {model_artifact_uri(output, name)!r}")
    for metric in job.get("FinalMetricDataList", []):
        _require({"MetricName", "Value"} <= set(metric), f"FinalMetricDataList entry {metric!r} lacks MetricName/Value")
    lines = list(backend.logs(name, follow=True))
    _require(all(isinstance(line, str) for line in lines), "logs() must yield str lines")
    rows = backend.metrics(name)
    _require(isinstance(rows, list), f"metrics() returned {type(rows).__name__}, not a list")
    for row in rows:
        _require({"timestamp", "metric_name", "value"} <= set(row), f"metric row {row!r} lacks a column")
        _require(isinstance(row["value"], (int, float)), f"metric row {row!r}: value is not a number")
    backend.stop_training_job(name)  # stopping a finished job is a no-op
    _require(backend.describe_training_job(name)["TrainingJobStatus"] == "Completed",
             "stop_training_job changed the status of a finished job")
    return job


def _check_hosting(backend, job, instance_type, timeout, rows):
    model_name = job["TrainingJobName"]
    backend.create_model({"ModelName": model_name, "PrimaryContainer": {
        "Image": NTM_IMAGE, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]}})
    endpoint = model_name
    answer = backend.create_endpoint({"EndpointName": endpoint, "ProductionVariants": [{
        "VariantName": "AllTraffic", "ModelName": model_name, "InitialInstanceCount": 1,
        "InstanceType": instance_type}]})
    _require(isinstance(answer, dict) and "EndpointArn" in answer, f"create_endpoint returned {answer!r}")
    described = _wait(lambda: backend.describe_endpoint(endpoint), "EndpointStatus", ENDPOINT_TERMINAL, timeout,
                      "describe_endpoint")
    _require(described["EndpointStatus"] == "InService", f"endpoint ended {described['EndpointStatus']}")
    _require(described.get("EndpointName") == endpoint, "describe_endpoint must echo EndpointName")
    _check_invocations(backend, endpoint, rows)
    return model_name, endpoint


def _check_invocations(backend, endpoint: str, rows: np.ndarray) -> None:
    from .core import encode_dense

    bodies = {
        payloads.RECORDIO: encode_dense(rows),
        payloads.CSV: "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode(),
        payloads.JSON: json.dumps({"instances": [{"features": row} for row in rows.tolist()]}).encode(),
        payloads.JSONLINES: "\n".join(json.dumps({"features": row}) for row in rows.tolist()).encode(),
    }
    results: List[np.ndarray] = []
    for content_type, body in bodies.items():
        for accept in payloads.RESPONSE_TYPES:
            response = backend.invoke_endpoint(endpoint, body, content_type, accept)
            _require(isinstance(response, (bytes, bytearray)), f"invoke_endpoint returned {type(response).__name__}")
            weights = payloads.parse_response(bytes(response), accept)
            _require(weights.shape == (len(rows), NUM_TOPICS),
                     f"invoke_endpoint({content_type} -> {accept}) gave shape {weights.shape}; "
                     f"expected {(len(rows), NUM_TOPICS)}")
            _require(np.allclose(weights.sum(axis=1), 1.0, atol=1e-3),
                     f"topic_weights do not sum to 1 ({content_type} -> {accept})")
            results.append(weights)
    for weights in results[1:]:
        _require(np.allclose(weights, results[0], atol=1e-4),
                 "the same rows gave different topic_weights in different formats (inference must be "
                 "deterministic)")
    _expect_error(UnsupportedContentTypeError, "invoke_endpoint with ContentType image/png",
                  lambda: backend.invoke_endpoint(endpoint, b"x", "image/png", payloads.JSON))


def _check_transform(backend, model_name, location, instance_type, timeout, rows) -> None:
    source = location + "transform-input/"
    storage.write_bytes(source + "part-0.csv",
                        "\n".join(",".join(str(int(v)) for v in row) for row in rows).encode())
    output = location + "transform-output/"
    name = name_from_base("ntm-conformance-transform")
    backend.create_transform_job({
        "TransformJobName": name, "ModelName": model_name,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
                           "ContentType": payloads.CSV, "SplitType": "Line", "CompressionType": "None"},
        "TransformOutput": {"S3OutputPath": output, "Accept": payloads.JSONLINES, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
    })
    job = _wait(lambda: backend.describe_transform_job(name), "TransformJobStatus", TRANSFORM_TERMINAL, timeout,
                "describe_transform_job")
    _require(job["TransformJobStatus"] == "Completed", f"transform job ended {job['TransformJobStatus']}: "
             f"{job.get('FailureReason')}")
    weights = payloads.parse_response(storage.read_bytes(output + "part-0.csv.out"), payloads.JSONLINES)
    _require(weights.shape == (len(rows), NUM_TOPICS),
             f"transform output part-0.csv.out holds {weights.shape} weights; expected {(len(rows), NUM_TOPICS)}")
