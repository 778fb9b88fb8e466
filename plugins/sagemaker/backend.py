"""``SageMakerBackend``: the backend verbs as calls to Amazon SageMaker through boto3.

A thin pass-through: ntm's requests are already shaped like SageMaker's (``api_requests`` adds the
region's image, the role ARN and the channel settings), and SageMaker's answers are returned as they
come, minus botocore's ``ResponseMetadata``. Every call goes through :func:`aws_errors.call_aws`, so
throttling is retried with backoff and failures arrive as ntm exceptions naming the resource.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterator, List, Optional

from ntm import storage
from ntm.backend import TRAINING_TERMINAL, Backend, Request
from ntm.errors import CloudError, ResourceNotFoundError

from . import api_requests
from .aws import AwsSession
from .aws_errors import call_aws
from .cloudwatch import TrainingLogTail, status_lines, training_metrics


class SageMakerBackend(Backend):
    """Runs NTM on Amazon SageMaker (``instance_type="ml.*"``, or ``backend="sagemaker"``).

    ``session``: a ``boto3.Session`` or SageMaker SDK ``Session`` (default: boto3's default chain);
    an estimator's ``sagemaker_session`` replaces it through :meth:`use_session`.

    >>> backend = SageMakerBackend(boto3.Session(region_name="us-west-2"))   # doctest: +SKIP
    >>> backend.describe_training_job("ntm-2024-05-01-12-00-00-000")["TrainingJobStatus"]  # doctest: +SKIP
    'Completed'
    """

    #: Seconds between status polls while the estimator waits (it backs off up to 5 s from here).
    poll_interval = 5.0
    #: Seconds between reads of the log streams while following a running job.
    log_poll_seconds = 10.0

    def __init__(self, session: Any = None, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep
        self._session_given: Any = None
        self._aws = AwsSession(session)
        if session is not None:
            self.use_session(session)

    def use_session(self, session: Any) -> None:
        """Use ``session`` (``boto3.Session`` or SageMaker SDK ``Session``) for every later call, S3 included."""
        if session is None or session is self._session_given:
            return
        self._session_given = session
        self._aws = AwsSession(session)
        storage.use_boto3_session(self._aws.boto_session)

    @property
    def region(self) -> str:
        """The AWS region jobs run in."""
        return self._aws.region

    # ----- plumbing -------------------------------------------------------------------------------
    def _call(self, service: str, operation: str, *, action: str, kind: str = "", name: str = "",
              **request) -> Dict[str, Any]:
        client = self._aws.client(service)
        answer = call_aws(getattr(client, operation), action=action, kind=kind, name=name,
                          region=self._aws.region, service=service, sleep=self._sleep, **request)
        if isinstance(answer, dict):
            answer.pop("ResponseMetadata", None)
        return answer

    def _api_keys(self, operation: str) -> List[str]:
        model = self._aws.client("sagemaker").meta.service_model.operation_model(operation)
        return list(model.input_shape.members)

    def _monitoring_call(self, operation: Callable[..., Any], job_name: str, **request) -> Dict[str, Any]:
        # The call the CloudWatch helpers make: throttling-aware, failures explained.
        return call_aws(operation, action="read the logs or metrics of", kind="training job", name=job_name,
                        region=self._aws.region, service="cloudwatch", sleep=self._sleep, **request)

    # ----- training -------------------------------------------------------------------------------
    def create_training_job(self, request: Request) -> Request:
        name = _required(request, "TrainingJobName")
        api = api_requests.training_job(request, region=self.region, role_arn=self._aws.role_arn,
                                        allowed=self._api_keys("CreateTrainingJob"))
        answer = self._call("sagemaker", "create_training_job", action="create", kind="training job",
                            name=name, **api)
        return {"TrainingJobArn": answer["TrainingJobArn"]}

    def describe_training_job(self, name: str) -> Request:
        return self._call("sagemaker", "describe_training_job", action="describe", kind="training job",
                          name=name, TrainingJobName=name)

    def logs(self, name: str, follow: bool = False) -> Iterator[str]:
        tail = TrainingLogTail(self._aws.client("logs"), name, self._monitoring_call)
        if not follow:
            self.describe_training_job(name)  # a missing job is an error, not an empty log
            yield from tail.read_new()
            return
        shown = 0
        while True:
            description = self.describe_training_job(name)
            lines = status_lines(description, shown)
            shown += len(lines)
            yield from lines
            yield from tail.read_new()  # read after describing: a final status means every line is in
            if description.get("TrainingJobStatus") in TRAINING_TERMINAL:
                return
            self._sleep(self.log_poll_seconds)

    def stop_training_job(self, name: str) -> None:
        if self.describe_training_job(name).get("TrainingJobStatus") in TRAINING_TERMINAL:
            return  # stopping a finished job is a no-op (SageMaker would refuse it)
        try:
            self._call("sagemaker", "stop_training_job", action="stop", kind="training job", name=name,
                       TrainingJobName=name)
        except CloudError as exc:
            # The job may have finished between the two calls; only then is the refusal harmless.
            if exc.code != "ValidationException" or \
                    self.describe_training_job(name).get("TrainingJobStatus") not in TRAINING_TERMINAL:
                raise

    def metrics(self, name: str) -> List[Dict[str, Any]]:
        return training_metrics(self._aws.client("cloudwatch"), self.describe_training_job(name),
                                self._monitoring_call)

    # ----- hosting --------------------------------------------------------------------------------
    def create_model(self, request: Request) -> Request:
        name = _required(request, "ModelName")
        api = api_requests.model(request, region=self.region, role_arn=self._aws.role_arn,
                                 allowed=self._api_keys("CreateModel"))
        answer = self._call("sagemaker", "create_model", action="create", kind="model", name=name, **api)
        return {"ModelArn": answer["ModelArn"]}

    def delete_model(self, name: str) -> None:
        self._call("sagemaker", "delete_model", action="delete", kind="model", name=name, ModelName=name)

    def create_endpoint(self, request: Request) -> Request:
        name = _required(request, "EndpointName")
        _required(request, "ProductionVariants")
        config = api_requests.endpoint_config(request, allowed=self._api_keys("CreateEndpointConfig"))
        self._call("sagemaker", "create_endpoint_config", action="create", kind="endpoint config", name=name,
                   **config)
        try:
            answer = self._call("sagemaker", "create_endpoint", action="create", kind="endpoint", name=name,
                                **api_requests.endpoint(request))
        except Exception:
            # The config exists only for this endpoint; leaving it would block the next attempt's name.
            self._delete_endpoint_config(name)
            raise
        return {"EndpointArn": answer["EndpointArn"]}

    def describe_endpoint(self, name: str) -> Request:
        endpoint = self._call("sagemaker", "describe_endpoint", action="describe", kind="endpoint", name=name,
                              EndpointName=name)
        # DescribeEndpoint leaves out which model each variant serves; the contract (and
        # NTMPredictor.delete_model) needs it, so take it from the endpoint config.
        config_name = endpoint.get("EndpointConfigName")
        if config_name:
            config = self._call("sagemaker", "describe_endpoint_config", action="describe",
                                kind="endpoint config", name=config_name, EndpointConfigName=config_name)
            configured = {v.get("VariantName"): v for v in config.get("ProductionVariants", [])}
            for variant in endpoint.get("ProductionVariants") or []:
                source = configured.get(variant.get("VariantName"), {})
                for key in ("ModelName", "InstanceType"):
                    if key in source:
                        variant.setdefault(key, source[key])
        return endpoint

    def invoke_endpoint(self, name: str, body: bytes, content_type: str, accept: str) -> bytes:
        answer = self._call("sagemaker-runtime", "invoke_endpoint", action="invoke", kind="endpoint", name=name,
                            EndpointName=name, Body=body, ContentType=content_type, Accept=accept)
        return answer["Body"].read()

    def delete_endpoint(self, name: str) -> None:
        endpoint = self._call("sagemaker", "describe_endpoint", action="describe", kind="endpoint", name=name,
                              EndpointName=name)
        self._call("sagemaker", "delete_endpoint", action="delete", kind="endpoint", name=name, EndpointName=name)
        self._delete_endpoint_config(endpoint.get("EndpointConfigName") or name)

    def _delete_endpoint_config(self, name: str) -> None:
        try:
            self._call("sagemaker", "delete_endpoint_config", action="delete", kind="endpoint config", name=name,
                       EndpointConfigName=name)
        except ResourceNotFoundError:
            pass  # already gone: the point was that it should not exist

    # ----- batch transform ------------------------------------------------------------------------
    def create_transform_job(self, request: Request) -> Request:
        name = _required(request, "TransformJobName")
        api = api_requests.transform_job(request, allowed=self._api_keys("CreateTransformJob"))
        answer = self._call("sagemaker", "create_transform_job", action="create", kind="transform job",
                            name=name, **api)
        return {"TransformJobArn": answer["TransformJobArn"]}

    def describe_transform_job(self, name: str) -> Request:
        return self._call("sagemaker", "describe_transform_job", action="describe", kind="transform job",
                          name=name, TransformJobName=name)

    # ----- defaults -------------------------------------------------------------------------------
    def default_data_location(self) -> str:
        """``s3://sagemaker-<region>-<account>/sagemaker-record-sets/``, as the SDK defaults it."""
        return f"s3://{self._aws.default_bucket()}/sagemaker-record-sets/"

    def default_output_path(self) -> str:
        """``s3://sagemaker-<region>-<account>/``, as the SDK defaults it."""
        return f"s3://{self._aws.default_bucket()}/"

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self._aws.account_id()}:{kind}/{name}"


def _required(request: Request, key: str) -> Any:
    value: Optional[Any] = request.get(key) if isinstance(request, dict) else None
    if not value:
        raise ValueError(f"the request lacks {key}")
    return value
