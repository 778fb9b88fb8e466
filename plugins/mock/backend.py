"""``MockBackend``: the whole backend contract in memory, instant and deterministic, for users' unit tests.

* Training jobs complete the moment they are created, with plausible, deterministic metrics and logs.
  Set ``next_training_failure = "reason"`` to make the next job fail with that ``FailureReason``.
* Endpoints are ``InService`` at once. Topic weights are ``softmax(x @ W / sqrt(n_features))`` with ``W`` drawn from a
  generator seeded by (feature count, topic count): they sum to 1, depend on the row, and are the same
  in every run; :meth:`MockBackend.topic_weights` computes the expected values for assertions.
* Transform jobs really read their input files and write ``<name>.out`` files (any ``file://`` or
  ``s3://`` location).
* Every verb call is appended to ``calls`` as ``MockCall(verb, args)``; ``reset()`` forgets everything.
"""

from __future__ import annotations

import copy
import math
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, NamedTuple, Optional

import numpy as np

from ntm import payloads, storage
from ntm.backend import Backend, hyperparameter, model_artifact_uri, required, training_channels
from ntm.errors import ResourceInUseError, ResourceNotFoundError

DEFAULT_NUM_TOPICS = 10  # for model_data the mock did not produce itself
DEFAULT_EPOCHS = 50


class MockCall(NamedTuple):
    verb: str
    args: Dict[str, Any]


class MockBackend(Backend):
    """In-memory backend (``instance_type="mock"`` or ``backend="mock"``). See the module docstring."""

    poll_interval = 0.0

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.next_training_failure: Optional[str] = None
        self.reset()

    def reset(self) -> None:
        """Forget every job, model, endpoint and recorded call."""
        with self._lock:
            self.calls: List[MockCall] = []
            self._jobs: Dict[str, Dict[str, Any]] = {}
            self._logs: Dict[str, List[str]] = {}
            self._metrics: Dict[str, List[Dict[str, Any]]] = {}
            self._artifacts: Dict[str, Dict[str, Optional[int]]] = {}
            self._models: Dict[str, Dict[str, Any]] = {}
            self._endpoints: Dict[str, Dict[str, Any]] = {}
            self._transforms: Dict[str, Dict[str, Any]] = {}

    def calls_to(self, verb: str) -> List[Dict[str, Any]]:
        """The arguments of every call to ``verb``, in order."""
        return [call.args for call in self.calls if call.verb == verb]

    def _record(self, verb: str, **args) -> None:
        self.calls.append(MockCall(verb, copy.deepcopy(args)))

    @staticmethod
    def topic_weights(features, num_topics: int) -> np.ndarray:
        """The weights the mock returns for ``features`` (rows x features): float32, rows sum to 1."""
        width = features.shape[1]
        projection = np.random.default_rng([width, num_topics]).standard_normal((width, num_topics))
        logits = np.asarray(features @ projection, dtype=np.float64) / math.sqrt(max(width, 1))
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)

    # ----- training -------------------------------------------------------------------------------
    def create_training_job(self, request):
        with self._lock:
            self._record("create_training_job", request=request)
            name = required(request, "TrainingJobName")
            if name in self._jobs:
                raise ResourceInUseError(f"training job {name!r} already exists on the mock backend")
            for key, value in (request.get("HyperParameters") or {}).items():
                if not isinstance(value, str):
                    raise ValueError(f"HyperParameters[{key!r}] is {value!r}; SageMaker hyperparameters are strings")
            output = required(request, "OutputDataConfig", "S3OutputPath")
            now = datetime.now(timezone.utc)
            job = copy.deepcopy(request)
            job.update(TrainingJobArn=self.arn("training-job", name), CreationTime=now,
                       TrainingStartTime=now, TrainingEndTime=now)
            reason = self._training_problem(request)
            if reason:
                job.update(TrainingJobStatus="Failed", SecondaryStatus="Failed", FailureReason=reason)
                self._logs[name] = [f"[mock] {name}: {reason}"]
                self._metrics[name] = []
            else:
                self._complete(job, output, now)
            self._jobs[name] = job
            return {"TrainingJobArn": job["TrainingJobArn"]}

    def _training_problem(self, request) -> Optional[str]:
        if self.next_training_failure:
            reason, self.next_training_failure = self.next_training_failure, None
            return reason
        channels = training_channels(request)
        if "train" not in channels:
            return "ClientError: no train channel in InputDataConfig"
        for needed in ("num_topics", "feature_dim"):
            if hyperparameter(request, needed) is None:
                return f"ClientError: the hyperparameter {needed} is required"
        for name in ("num_topics", "feature_dim", "epochs"):
            value = hyperparameter(request, name)
            if value is not None and not (value.isdigit() and int(value) >= 1):
                return f"ClientError: the hyperparameter {name} must be a positive integer, got {value!r}"
        return None

    def _complete(self, job, output: str, now: datetime) -> None:
        name = job["TrainingJobName"]
        num_topics = int(hyperparameter(job, "num_topics"))
        feature_dim = int(hyperparameter(job, "feature_dim"))
        epochs = int(hyperparameter(job, "epochs", str(DEFAULT_EPOCHS)))
        channels = training_channels(job)
        artifact = model_artifact_uri(output, name)
        self._artifacts[artifact] = {"num_topics": num_topics, "feature_dim": feature_dim}
        rows, lines = [], [f"[mock] {name}: {job['ResourceConfig']['InstanceCount']} x "
                           f"{job['ResourceConfig']['InstanceType']}, num_topics={num_topics}, "
                           f"feature_dim={feature_dim}, epochs={epochs}, channels={sorted(channels)}"]
        start = math.log(feature_dim + 1.0) * 10
        for epoch in range(epochs):
            train_loss = start * (0.6 + 0.4 / (epoch + 1))
            losses = {"train:total_loss": train_loss}
            if "validation" in channels:
                losses["validation:total_loss"] = train_loss * 1.05
            rows += [{"timestamp": float(epoch), "metric_name": metric, "value": value}
                     for metric, value in losses.items()]
            lines.append(f"[mock] #epoch {epoch + 1}: " + ", ".join(f"{k} = {v:.4f}" for k, v in losses.items()))
        if "test" in channels:
            rows.append({"timestamp": float(epochs), "metric_name": "test:total_loss", "value": train_loss * 1.1})
        lines.append(f"[mock] training completed; model artifact at {artifact}")
        final: Dict[str, float] = {}
        for row in rows:
            final[row["metric_name"]] = row["value"]
        job.update(TrainingJobStatus="Completed", SecondaryStatus="Completed",
                   ModelArtifacts={"S3ModelArtifacts": artifact},
                   FinalMetricDataList=[{"MetricName": k, "Value": v, "Timestamp": now + timedelta(seconds=1)}
                                        for k, v in final.items()])
        self._logs[name], self._metrics[name] = lines, rows

    def describe_training_job(self, name):
        with self._lock:
            self._record("describe_training_job", name=name)
            return copy.deepcopy(self._get(self._jobs, "training job", name))

    def logs(self, name, follow=False) -> Iterator[str]:
        with self._lock:
            self._record("logs", name=name, follow=follow)
            self._get(self._jobs, "training job", name)
            lines = list(self._logs[name])
        return iter(lines)

    def stop_training_job(self, name):
        with self._lock:
            self._record("stop_training_job", name=name)
            self._get(self._jobs, "training job", name)  # mock jobs are already final: nothing to stop

    def metrics(self, name):
        with self._lock:
            self._record("metrics", name=name)
            self._get(self._jobs, "training job", name)
            return copy.deepcopy(self._metrics[name])

    # ----- hosting --------------------------------------------------------------------------------
    def create_model(self, request):
        with self._lock:
            self._record("create_model", request=request)
            name = required(request, "ModelName")
            data = required(request, "PrimaryContainer", "ModelDataUrl")
            if name in self._models:
                raise ResourceInUseError(f"model {name!r} already exists on the mock backend")
            shape = self._artifacts.get(data, {"num_topics": DEFAULT_NUM_TOPICS, "feature_dim": None})
            model = copy.deepcopy(request)
            model.update(ModelArn=self.arn("model", name), CreationTime=datetime.now(timezone.utc), _shape=shape)
            self._models[name] = model
            return {"ModelArn": model["ModelArn"]}

    def delete_model(self, name):
        with self._lock:
            self._record("delete_model", name=name)
            self._get(self._models, "model", name)
            del self._models[name]

    def create_endpoint(self, request):
        with self._lock:
            self._record("create_endpoint", request=request)
            name = required(request, "EndpointName")
            variants = required(request, "ProductionVariants")
            if name in self._endpoints:
                raise ResourceInUseError(f"endpoint {name!r} already exists on the mock backend")
            model = self._get(self._models, "model", variants[0]["ModelName"])
            endpoint = {"EndpointName": name, "EndpointArn": self.arn("endpoint", name),
                        "EndpointConfigName": name, "EndpointStatus": "InService",
                        "CreationTime": datetime.now(timezone.utc),
                        "ProductionVariants": [{"VariantName": v.get("VariantName", "AllTraffic"),
                                                "ModelName": v["ModelName"],
                                                "CurrentInstanceCount": v.get("InitialInstanceCount", 1),
                                                "InstanceType": v.get("InstanceType", "mock")} for v in variants],
                        "_shape": model["_shape"]}
            self._endpoints[name] = endpoint
            return {"EndpointArn": endpoint["EndpointArn"]}

    def describe_endpoint(self, name):
        with self._lock:
            self._record("describe_endpoint", name=name)
            endpoint = copy.deepcopy(self._get(self._endpoints, "endpoint", name))
        endpoint.pop("_shape")
        return endpoint

    def invoke_endpoint(self, name, body, content_type, accept):
        with self._lock:
            self._record("invoke_endpoint", name=name, body=body, content_type=content_type, accept=accept)
            shape = self._get(self._endpoints, "endpoint", name)["_shape"]
        return payloads.render_response(self._score(body, content_type, shape, f"endpoint {name!r}"), accept)

    def _score(self, body: bytes, content_type: str, shape, where: str) -> np.ndarray:
        rows = payloads.parse_request(body, content_type)
        expected = shape["feature_dim"]
        if expected is not None and rows.shape[1] != expected:
            raise ValueError(f"{where} expects {expected} features per row (the model's feature_dim), "
                             f"got rows of {rows.shape[1]}")
        return self.topic_weights(rows, shape["num_topics"])

    def delete_endpoint(self, name):
        with self._lock:
            self._record("delete_endpoint", name=name)
            self._get(self._endpoints, "endpoint", name)
            del self._endpoints[name]

    # ----- batch transform ------------------------------------------------------------------------
    def create_transform_job(self, request):
        with self._lock:
            self._record("create_transform_job", request=request)
            name = required(request, "TransformJobName")
            if name in self._transforms:
                raise ResourceInUseError(f"transform job {name!r} already exists on the mock backend")
            model = self._get(self._models, "model", required(request, "ModelName"))
            now = datetime.now(timezone.utc)
            job = copy.deepcopy(request)
            job.update(TransformJobArn=self.arn("transform-job", name), CreationTime=now, TransformStartTime=now)
            try:
                self._transform(request, model["_shape"])
                job.update(TransformJobStatus="Completed")
            except Exception as exc:  # a bad input file fails the job, as on SageMaker, instead of raising
                job.update(TransformJobStatus="Failed", FailureReason=f"{type(exc).__name__}: {exc}")
            job["TransformEndTime"] = datetime.now(timezone.utc)
            self._transforms[name] = job
            return {"TransformJobArn": job["TransformJobArn"]}

    def _transform(self, request, shape) -> None:
        source = required(request, "TransformInput", "DataSource", "S3DataSource", "S3Uri")
        content_type = required(request, "TransformInput", "ContentType")
        output = required(request, "TransformOutput", "S3OutputPath")
        accept = request["TransformOutput"].get("Accept", payloads.JSON)
        files = storage.list_files(source)
        if not files:
            raise FileNotFoundError(f"no input files under {source}")
        base = source.rstrip("/")
        for uri in files:
            relative = uri[len(base):].lstrip("/") if uri != base else uri.rsplit("/", 1)[-1]
            weights = self._score(storage.read_bytes(uri), content_type, shape, uri)
            storage.write_bytes(storage.join(output, relative + ".out"), payloads.render_response(weights, accept))

    def describe_transform_job(self, name):
        with self._lock:
            self._record("describe_transform_job", name=name)
            return copy.deepcopy(self._get(self._transforms, "transform job", name))

    # ----- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _get(table: Dict[str, Dict[str, Any]], kind: str, name: str) -> Dict[str, Any]:
        try:
            return table[name]
        except KeyError:
            raise ResourceNotFoundError(f"{kind} {name!r} does not exist on the mock backend") from None


