"""Fixtures for the sagemaker backend's tests: fake AWS credentials, moto in server mode on 127.0.0.1, and a
stand-in for the NTM algorithm container (moto records jobs and endpoints but runs no algorithm).

tests/conftest.py loads this module as a pytest plugin, so its fixtures are available everywhere; it
imports botocore and moto only inside the fixtures, keeping test runs that do not use them light.
"""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.request

import pytest

from ntm import payloads, plugins, storage

REGION = "us-west-2"
BUCKET = "ntm-tests"
ROLE_NAME = "NtmSageMakerRole"


_REAL_AWS_ENV = {name: value for name, value in os.environ.items() if name.startswith("AWS_")}


def real_aws_environment() -> dict:
    """The AWS_* variables this process started with (only the opt-in real-AWS test uses them)."""
    return dict(_REAL_AWS_ENV)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    """No test reaches real AWS by accident: no credentials, profile or region from the environment or
    ~/.aws, and no instance-metadata lookups (a network call) when boto3 searches for credentials."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/ntm-tests/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ntm-tests/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("NTM_SAGEMAKER_ROLE", raising=False)
    _forget_boto3_default_session()
    yield
    storage.use_boto3_session(None)
    _forget_boto3_default_session()


def _forget_boto3_default_session() -> None:
    # boto3.client() reuses one default session, credentials and region included, for the whole process.
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        boto3.DEFAULT_SESSION = None


def fake_credentials(monkeypatch, endpoint_url=None) -> None:
    """Fake keys and a region, nothing read from ~/.aws, no instance-metadata lookups (network)."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "NTM_SAGEMAKER_ROLE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/ntm-tests/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ntm-tests/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # moto is local even where a proxy is set
    if endpoint_url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint_url)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture(scope="module")
def moto_url():
    """One moto server per test module, on a free port of 127.0.0.1; stopped after the module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url, monkeypatch):
    """A clean moto account: fake credentials, one bucket, one execution role; returns its ARN."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).read()
    fake_credentials(monkeypatch, moto_url)
    import boto3

    boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return boto3.client("iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument="{}")["Role"]["Arn"]


def sagemaker_backend():
    """The process's sagemaker backend, told not to wait between polls (moto finishes jobs at once)."""
    backend = plugins.get_backend("sagemaker")
    backend.poll_interval = 0.0
    backend.log_poll_seconds = 0.0
    return backend


class FakeNtmContainer:
    """What moto cannot do: run the algorithm. Hooked into the backend's boto3 clients, it answers
    InvokeEndpoint with the mock backend's deterministic topic weights (415 for a content type NTM does
    not speak, as the container does), writes transform outputs to S3 after CreateTransformJob, and
    refuses a second CreateTrainingJob of one name with ResourceInUse, as SageMaker does (moto accepts it).
    """

    def __init__(self, backend, num_topics: int) -> None:
        self.num_topics = num_topics
        self.sagemaker = backend._aws.client("sagemaker")
        runtime = backend._aws.client("sagemaker-runtime")
        # before-call sees the serialized request and may answer it; before-parameter-build sees the
        # API parameters (moto then records the transform job as Completed, its outputs already there).
        runtime.meta.events.register("before-call.sagemaker-runtime.InvokeEndpoint", self._invoke)
        self.sagemaker.meta.events.register("before-parameter-build.sagemaker.CreateTransformJob", self._transform)
        self.sagemaker.meta.events.register("before-parameter-build.sagemaker.CreateTrainingJob", self._unique_job)

    def _weights(self, body: bytes, content_type: str, operation: str):
        from botocore.exceptions import ClientError

        from ntm.plugins.mock.backend import MockBackend

        if payloads.media_type(content_type) not in payloads.REQUEST_TYPES:
            raise ClientError({"Error": {"Code": "ModelError", "Message": "Received client error (415) from "
                                         f"primary with message \"unsupported content type {content_type}\""},
                               "OriginalStatusCode": 415}, operation)
        return MockBackend.topic_weights(payloads.parse_request(body, content_type), self.num_topics)

    def _invoke(self, params, **_):
        from botocore.awsrequest import AWSResponse
        from botocore.response import StreamingBody

        body, headers = params["body"], params["headers"]
        body = body if isinstance(body, bytes) else body.read()
        weights = self._weights(body, headers["Content-Type"], "InvokeEndpoint")
        accept = headers.get("Accept", payloads.JSON)
        rendered = payloads.render_response(weights, accept)
        answer = {"Body": StreamingBody(io.BytesIO(rendered), len(rendered)), "ContentType": accept}
        return AWSResponse("http://fake-ntm-container", 200, {}, None), answer

    def _transform(self, params, **_):
        source = params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].rstrip("/")
        output, accept = params["TransformOutput"]["S3OutputPath"], params["TransformOutput"]["Accept"]
        for uri in storage.list_files(source):
            weights = self._weights(storage.read_bytes(uri), params["TransformInput"]["ContentType"],
                                    "CreateTransformJob")
            storage.write_bytes(storage.join(output, uri[len(source):] + ".out"),
                                payloads.render_response(weights, accept))

    def _unique_job(self, params, **_):
        from botocore.exceptions import ClientError

        try:
            self.sagemaker.describe_training_job(TrainingJobName=params["TrainingJobName"])
        except ClientError:
            return  # no such job yet: let moto create it
        raise ClientError({"Error": {"Code": "ResourceInUse", "Message": "Training job names must be unique "
                                     "within an AWS account and region, and a training job with this name "
                                     "already exists"}}, "CreateTrainingJob")


def queue_endpoint_results(moto_url: str, *bodies: str) -> None:
    """Make moto's InvokeEndpoint answer ``bodies`` in turn (its own way of faking inference)."""
    results = {"region": REGION, "results": [{"Body": body, "ContentType": payloads.JSON} for body in bodies]}
    request = urllib.request.Request(f"{moto_url}/moto-api/static/sagemaker/endpoint-results",
                                     data=json.dumps(results).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
