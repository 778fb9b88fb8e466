"""ntm's SageMaker-shaped request dicts made into exactly what the SageMaker API accepts.

The estimator already builds ``CreateTrainingJob``-shaped dicts; what remains is what only SageMaker
needs: the region's image for ``ntm:1``, a role ARN for a role name, ``s3://`` locations only, the
channel settings NTM expects, and no keys the API does not define (the backend contract lets the
estimator add keys a backend ignores; botocore would reject them).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Iterable, Optional

from ntm.backend import Request

from .images import resolve_image

RECORDIO = "application/x-recordio-protobuf"
#: How NTM reads each channel: the training data is split across instances, the evaluation data is not.
CHANNEL_DISTRIBUTION = {"validation": "FullyReplicated", "test": "FullyReplicated",
                        "auxiliary": "FullyReplicated"}

RoleResolver = Callable[[Optional[str]], str]


def only_api_keys(request: Request, allowed: Iterable[str]) -> Request:
    """A deep copy of ``request`` holding only the top-level keys the API operation defines."""
    allowed = set(allowed)
    return {key: copy.deepcopy(value) for key, value in request.items() if key in allowed}


def require_s3(uri: Any, where: str) -> str:
    """``uri`` if it is an ``s3://`` URI; otherwise a ValueError saying where to put the data instead."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"{where} is {uri!r}, but SageMaker reads and writes only s3:// locations: set "
                         "data_location and output_path to s3://bucket/prefix/ (or leave them unset for the "
                         "default bucket sagemaker-<region>-<account>)")
    return uri


def training_job(request: Request, *, region: str, role_arn: RoleResolver, allowed: Iterable[str]) -> Request:
    """The ``CreateTrainingJob`` request for an ntm training request."""
    api = only_api_keys(request, allowed)
    spec = api.setdefault("AlgorithmSpecification", {})
    spec["TrainingImage"] = resolve_image(spec.get("TrainingImage", ""), region)
    spec.setdefault("TrainingInputMode", "File")
    api["RoleArn"] = role_arn(request.get("RoleArn"))
    for channel in api.get("InputDataConfig") or []:
        _shape_channel(channel)
    output = api.get("OutputDataConfig") or {}
    require_s3(output.get("S3OutputPath"), "OutputDataConfig.S3OutputPath (the estimator's output_path)")
    return api


def _shape_channel(channel: Dict[str, Any]) -> None:
    name = channel.get("ChannelName", "?")
    source = channel.get("DataSource", {}).get("S3DataSource", {})
    require_s3(source.get("S3Uri"), f"channel {name!r} (S3Uri)")
    if name == "auxiliary":
        # The vocabulary (vocab.txt) NTM uses to print topic words: plain text, found under a prefix.
        source["S3DataType"] = "S3Prefix"
        channel.setdefault("ContentType", "text/plain")
    else:
        channel.setdefault("ContentType", RECORDIO)
    source["S3DataDistributionType"] = CHANNEL_DISTRIBUTION.get(
        name, source.get("S3DataDistributionType") or "ShardedByS3Key")


def model(request: Request, *, region: str, role_arn: RoleResolver, allowed: Iterable[str]) -> Request:
    """The ``CreateModel`` request for an ntm model request."""
    api = only_api_keys(request, allowed)
    container = api.setdefault("PrimaryContainer", {})
    container["Image"] = resolve_image(container.get("Image", ""), region)
    require_s3(container.get("ModelDataUrl"), "PrimaryContainer.ModelDataUrl (the model_data)")
    if not container.get("Environment"):
        container.pop("Environment", None)
    api["ExecutionRoleArn"] = role_arn(request.get("ExecutionRoleArn"))
    return api


def endpoint_config(request: Request, *, allowed: Iterable[str]) -> Request:
    """``CreateEndpointConfig`` for an ntm endpoint request: the config is named after the endpoint."""
    api = only_api_keys(request, allowed)
    api["EndpointConfigName"] = request["EndpointName"]
    return api


def endpoint(request: Request) -> Request:
    """``CreateEndpoint`` for an ntm endpoint request, using the config :func:`endpoint_config` made."""
    api = {"EndpointName": request["EndpointName"], "EndpointConfigName": request["EndpointName"]}
    if request.get("Tags"):
        api["Tags"] = copy.deepcopy(request["Tags"])
    return api


def transform_job(request: Request, *, allowed: Iterable[str]) -> Request:
    """The ``CreateTransformJob`` request for an ntm transform request."""
    api = only_api_keys(request, allowed)
    source = api.get("TransformInput", {}).get("DataSource", {}).get("S3DataSource", {})
    require_s3(source.get("S3Uri"), "TransformInput S3Uri (the data to transform)")
    require_s3(api.get("TransformOutput", {}).get("S3OutputPath"), "TransformOutput.S3OutputPath")
    if not api.get("Environment"):
        api.pop("Environment", None)
    return api
