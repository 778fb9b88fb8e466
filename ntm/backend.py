"""The backend contract: verbs named after the SageMaker API, exchanging SageMaker-shaped dicts.

Every backend (``local`` with PyTorch, ``sagemaker`` through boto3, ``mock`` in memory, third-party ones)
subclasses :class:`Backend` and receives the *same* request dicts, shaped like the SageMaker API's own
(``CreateTrainingJob``, ``DescribeTrainingJob``...). The SageMaker backend passes them through; other
backends interpret them. Keys a backend does not understand must be ignored, not rejected, so the
estimator can grow. Data locations (``S3Uri``, ``S3OutputPath``, ``ModelDataUrl``) are ``s3://`` or
``file://`` URIs; :mod:`ntm.storage` reads and writes both.

Errors: a name that does not exist raises :class:`ntm.errors.ResourceNotFoundError` (a ``ValueError``);
creating a name that exists raises :class:`ntm.errors.ResourceInUseError`; a malformed request raises
``ValueError`` naming the key. Run :func:`ntm.testing.check_backend` on your backend to check it.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional

from . import storage

#: ``TrainingJobStatus`` values (SageMaker's); the last three are final.
TRAINING_IN_PROGRESS, TRAINING_STOPPING = "InProgress", "Stopping"
TRAINING_TERMINAL = ("Completed", "Failed", "Stopped")
#: ``EndpointStatus`` values an endpoint settles in.
ENDPOINT_TERMINAL = ("InService", "Failed", "OutOfService")
#: ``TransformJobStatus`` final values.
TRANSFORM_TERMINAL = ("Completed", "Failed", "Stopped")

#: The algorithm image the estimator names; the sagemaker backend maps it to the regional ECR URI.
NTM_IMAGE = "ntm:1"

Request = Dict[str, Any]


class Backend:
    """Base class for backends. Subclass it, implement every verb, register the class with
    ``register_backends``. One instance serves a whole process (``ntm.get_backend`` caches it), so
    keep state on the instance and make the verbs thread-safe.

    Request shapes (keys in ``[]`` are optional)::

        create_training_job({
            "TrainingJobName": "ntm-2024-05-01-12-00-00-000",
            "AlgorithmSpecification": {"TrainingImage": "ntm:1", "TrainingInputMode": "File"},
            ["RoleArn": "arn:aws:iam::111122223333:role/SageMakerRole"],
            "HyperParameters": {"num_topics": "20", "feature_dim": "2000", ...},   # all str
            "InputDataConfig": [{
                "ChannelName": "train",            # also "validation", "test", "auxiliary"
                "DataSource": {"S3DataSource": {
                    "S3DataType": "ManifestFile",  # or "S3Prefix"
                    "S3Uri": "file:///home/me/.ntm/record-sets/NTM-.../.amazon.manifest",
                    "S3DataDistributionType": "ShardedByS3Key"}},   # or "FullyReplicated"
                ["ContentType": "application/x-recordio-protobuf"]}],
            "OutputDataConfig": {"S3OutputPath": "file:///home/me/.ntm/output/"},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "local", "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
            ["Tags": [{"Key": "k", "Value": "v"}]], ["VpcConfig": {...}],
            ["EnableNetworkIsolation": False]})
    """

    #: Seconds between status polls while the estimator waits (a backend that finishes at once uses 0).
    poll_interval: float = 2.0

    # ----- training -------------------------------------------------------------------------------
    def create_training_job(self, request: Request) -> Request:
        """Start a training job; return ``{"TrainingJobArn": str}`` without waiting for it.

        The model artifact must end up at ``{S3OutputPath}/{TrainingJobName}/output/model.tar.gz``
        (``S3OutputPath`` without its trailing slash), where ``describe_training_job`` reports it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement create_training_job")

    def describe_training_job(self, name: str) -> Request:
        """The job's request echoed back plus its state, as ``DescribeTrainingJob`` returns it:

        ``TrainingJobName``, ``TrainingJobArn``, ``TrainingJobStatus`` (``InProgress``, ``Completed``,
        ``Failed``, ``Stopping``, ``Stopped``), ``SecondaryStatus`` (``Starting``, ``Downloading``,
        ``Training``, ``Uploading``, ``Completed``, ``Failed``, ``Stopped``...), ``FailureReason`` (when
        Failed), ``HyperParameters``, ``AlgorithmSpecification``, ``InputDataConfig``,
        ``OutputDataConfig``, ``ResourceConfig``, ``StoppingCondition``, ``[RoleArn]``,
        ``ModelArtifacts: {"S3ModelArtifacts": uri}`` (once Completed), ``CreationTime``,
        ``[TrainingStartTime]``, ``[TrainingEndTime]`` (``datetime``, UTC), and
        ``FinalMetricDataList: [{"MetricName": str, "Value": float, "Timestamp": datetime}]``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement describe_training_job")

    def logs(self, name: str, follow: bool = False) -> Iterator[str]:
        """Yield the job's log lines (no trailing newline). With ``follow``, keep yielding until the
        job reaches a final status, then return; without it, yield what exists now."""
        raise NotImplementedError(f"{type(self).__name__} does not implement logs")

    def stop_training_job(self, name: str) -> None:
        """Ask a running job to stop (status ``Stopping`` then ``Stopped``); a no-op once it is final."""
        raise NotImplementedError(f"{type(self).__name__} does not implement stop_training_job")

    def metrics(self, name: str) -> List[Dict[str, Any]]:
        """Metric rows of a training job, oldest first: ``{"timestamp": float, "metric_name": str,
        "value": float}``, ``timestamp`` in seconds since the job started training (as the SDK's
        ``TrainingJobAnalytics`` dataframe). Names as SageMaker's NTM emits them:
        ``train:total_loss``, ``validation:total_loss``, ``test:total_loss``..."""
        raise NotImplementedError(f"{type(self).__name__} does not implement metrics")

    # ----- hosting --------------------------------------------------------------------------------
    def create_model(self, request: Request) -> Request:
        """Register a model; return ``{"ModelArn": str}``. Request::

            {"ModelName": str,
             "PrimaryContainer": {"Image": "ntm:1", "ModelDataUrl": uri of model.tar.gz,
                                  ["Environment": {str: str}]},
             ["ExecutionRoleArn": str], ["Tags": [...]]}
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement create_model")

    def delete_model(self, name: str) -> None:
        """Forget a model (endpoints already serving it keep running)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement delete_model")

    def create_endpoint(self, request: Request) -> Request:
        """Start serving a model; return ``{"EndpointArn": str}`` without waiting for ``InService``.

        SageMaker's ``CreateEndpointConfig`` and ``CreateEndpoint`` in one call (the sagemaker backend
        creates a config named after the endpoint)::

            {"EndpointName": str,
             "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": str,
                                     "InitialInstanceCount": 1, "InstanceType": str}],
             ["Tags": [...]]}
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement create_endpoint")

    def describe_endpoint(self, name: str) -> Request:
        """``{"EndpointName", "EndpointArn", "EndpointConfigName", "EndpointStatus"`` (``Creating``,
        ``InService``, ``Failed``, ``Deleting``...), ``["FailureReason"]``, ``"ProductionVariants":
        [{"VariantName", "ModelName", "CurrentInstanceCount", "InstanceType"}], "CreationTime"}``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement describe_endpoint")

    def invoke_endpoint(self, name: str, body: bytes, content_type: str, accept: str) -> bytes:
        """Score ``body`` and return the response bytes (SageMaker Runtime's ``InvokeEndpoint``).

        ``content_type``: ``application/x-recordio-protobuf``, ``text/csv``, ``application/json`` or
        ``application/jsonlines`` (parameters such as ``; label_size=0`` ignored). ``accept``:
        ``application/x-recordio-protobuf`` (one Record per row, ``label["topic_weights"]``),
        ``application/json`` (``{"predictions": [{"topic_weights": [...]}]}``) or
        ``application/jsonlines``. :mod:`ntm.payloads` parses and renders all of them. An unsupported
        type raises :class:`ntm.errors.UnsupportedContentTypeError`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement invoke_endpoint")

    def delete_endpoint(self, name: str) -> None:
        """Stop serving; a missing endpoint raises :class:`ntm.errors.ResourceNotFoundError`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement delete_endpoint")

    # ----- batch transform ------------------------------------------------------------------------
    def create_transform_job(self, request: Request) -> Request:
        """Score every file under an input prefix; return ``{"TransformJobArn": str}``. Request::

            {"TransformJobName": str, "ModelName": str,
             "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                "S3Uri": uri}},
                                "ContentType": str, "SplitType": "RecordIO" | "Line" | "None",
                                "CompressionType": "None"},
             "TransformOutput": {"S3OutputPath": uri, "Accept": str, "AssembleWith": "Line" | "None"},
             "TransformResources": {"InstanceType": str, "InstanceCount": int},
             ["BatchStrategy": "MultiRecord" | "SingleRecord"], ["MaxPayloadInMB": int],
             ["MaxConcurrentTransforms": int], ["Environment": {...}], ["Tags": [...]]}

        Each input file ``<prefix>/<path>`` is written to ``<S3OutputPath>/<path>.out``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement create_transform_job")

    def describe_transform_job(self, name: str) -> Request:
        """The request echoed back plus ``TransformJobArn``, ``TransformJobStatus`` (``InProgress``,
        ``Completed``, ``Failed``, ``Stopped``), ``["FailureReason"]``, ``CreationTime``,
        ``[TransformStartTime]``, ``[TransformEndTime]``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement describe_transform_job")

    # ----- defaults the estimator asks for --------------------------------------------------------
    def default_data_location(self) -> str:
        """Where ``record_set`` writes when the estimator has no ``data_location`` (a URI ending in /)."""
        return storage.to_uri(storage.ntm_home() / "record-sets") + "/"

    def default_output_path(self) -> str:
        """Where training jobs put artifacts when the estimator has no ``output_path``."""
        return storage.to_uri(storage.ntm_home() / "output") + "/"

    def use_session(self, session: Any) -> None:
        """Take settings from an estimator's ``sagemaker_session`` (a ``boto3.Session`` or a SageMaker SDK
        ``Session``): backends that talk to a cloud use its credentials and region; others ignore it."""

    def arn(self, kind: str, name: str) -> str:
        """An ARN-shaped identifier for a resource this backend created (``kind``: training-job...)."""
        return f"arn:ntm:{type(self).__name__.lower()}:local:000000000000:{kind}/{name}"


def model_artifact_uri(output_path: str, job_name: str) -> str:
    """Where a job's artifact lives: ``{output_path}/{job}/output/model.tar.gz``, as SageMaker puts it."""
    return f"{output_path.rstrip('/')}/{job_name}/output/model.tar.gz"


def training_channels(request: Request) -> Dict[str, Dict[str, Any]]:
    """``InputDataConfig`` as ``{channel name: S3DataSource dict}``, for backends reading a request."""
    channels = {}
    for index, channel in enumerate(request.get("InputDataConfig") or []):
        try:
            channels[channel["ChannelName"]] = channel["DataSource"]["S3DataSource"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"InputDataConfig[{index}] lacks {exc}: each channel needs ChannelName and "
                             "DataSource.S3DataSource") from None
    return channels


def required(request: Request, *keys: str) -> Any:
    """``request[k1][k2]...``, or a ValueError naming the missing key path (``TransformInput.ContentType``)."""
    value: Any = request
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or value.get(key) in (None, "", []):
            raise ValueError(f"the request lacks {'.'.join(keys[: depth + 1])}")
        value = value[key]
    return value


def hyperparameter(request: Request, name: str, default: Optional[str] = None) -> Optional[str]:
    """A hyperparameter string from a training request (they are always strings, as in SageMaker)."""
    return (request.get("HyperParameters") or {}).get(name, default)
