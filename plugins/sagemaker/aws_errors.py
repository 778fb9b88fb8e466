"""AWS failures as one clear ntm exception each, and the throttling retry loop every AWS call goes through.

botocore raises a ``ClientError`` whose code says what happened (``ResourceInUse``, ``AccessDeniedException``,
``ThrottlingException``...) and a handful of its own exceptions (no credentials, no region). A user should
see which resource was involved and what to do, not botocore internals; the botocore exception stays
chained as ``__cause__`` for whoever needs it.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any, Callable, Optional

from ntm.errors import (CloudAccessDeniedError, CloudCredentialsError, CloudError, CloudRegionError,
                        ResourceInUseError, ResourceNotFoundError, ThrottlingError, UnsupportedContentTypeError)

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "ProvisionedThroughputExceededException", "PriorRequestNotComplete", "EC2ThrottledException",
})
_CREDENTIAL_CODES = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
    "InvalidSignatureException", "SignatureDoesNotMatch", "InvalidAccessKeyId", "RequestExpired",
})
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
# SageMaker reports most missing names as a ValidationException whose text says so.
_NOT_FOUND_TEXT = re.compile(r"could not find|not found|does not exist|cannot find", re.IGNORECASE)
_CONFIGURE = ("Configure credentials (aws configure, AWS_PROFILE, aws sso login, or AWS_ACCESS_KEY_ID and "
              "AWS_SECRET_ACCESS_KEY) or pass sagemaker_session=boto3.Session(...)")

#: Retries of a throttled call after the first attempt, and the first delay (doubled each time).
THROTTLE_RETRIES, THROTTLE_FIRST_DELAY, THROTTLE_MAX_DELAY = 6, 1.0, 20.0


def error_code(exc: BaseException) -> str:
    """The service's error code of a botocore ``ClientError`` ('' for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _service_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Message", "")) if isinstance(response, dict) else str(exc)


def explain(exc: BaseException, action: str, kind: str = "", name: str = "", region: str = "",
            service: str = "sagemaker") -> Optional[Exception]:
    """The clear exception for ``exc`` raised while doing ``action`` (``"create"``, ``"describe"``...) to
    the ``kind`` resource ``name``; None when ``exc`` is not an AWS failure ntm knows how to explain."""
    what = f"{kind} {name!r}".strip() if kind or name else "the request"
    where = f" in region {region}" if region else ""
    botocore_kind = type(exc).__name__
    if botocore_kind in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
        return CloudCredentialsError(f"cannot {action} {what}: no AWS credentials were found ({exc}). {_CONFIGURE}",
                                     service=service, code=botocore_kind, resource=name)
    if botocore_kind == "NoRegionError":
        return CloudRegionError(f"cannot {action} {what}: no AWS region is configured. Set AWS_DEFAULT_REGION "
                                "(or region in ~/.aws/config) or pass sagemaker_session=boto3.Session("
                                "region_name=...)", service=service, code=botocore_kind, resource=name)
    if botocore_kind in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        return CloudError(f"cannot {action} {what}: {service} is unreachable ({exc}). Check the network, "
                          "proxy settings and the region name", service=service, code=botocore_kind, resource=name)
    code = error_code(exc)
    if not code:
        return None
    message = _service_message(exc)
    if code in THROTTLING_CODES:
        return ThrottlingError(f"{service} kept throttling the call to {action} {what}{where} ({code}) after "
                               f"{THROTTLE_RETRIES} retries with backoff. Make fewer calls at once, wait a "
                               "minute and retry, or ask AWS Support to raise the API rate limit",
                               service=service, code=code, resource=name)
    if code in _CREDENTIAL_CODES:
        return CloudCredentialsError(f"cannot {action} {what}: AWS rejected your credentials ({code}: {message}). "
                                     f"{_CONFIGURE}", service=service, code=code, resource=name)
    if code in _DENIED_CODES:
        return CloudAccessDeniedError(f"not allowed to {action} {what}{where} ({code}: {message}). Grant your "
                                      f"IAM user or role the {service} permission this needs, or use another "
                                      "profile", service=service, code=code, resource=name)
    if code == "ResourceInUse" or (code == "ValidationException" and "already exist" in message):
        return ResourceInUseError(f"{what} already exists{where} ({message}). SageMaker names are unique per "
                                  "account and region and cannot be reused: pick another name (omit job_name "
                                  "or endpoint_name for a timestamped one), or delete the old one first")
    if code in ("ResourceNotFound", "ResourceNotFoundException", "NoSuchEntity") or (
            code == "ValidationException" and _NOT_FOUND_TEXT.search(message)):
        return ResourceNotFoundError(f"{what} does not exist{where} ({message}). Check the name, and that "
                                     "AWS_DEFAULT_REGION / the session's region is the one it was created in")
    if code == "ModelError" and _original_status(exc) == 415:
        return UnsupportedContentTypeError(f"endpoint {name!r} does not accept that content type: {message}")
    if code == "ResourceLimitExceeded":
        return CloudError(f"cannot {action} {what}{where}: an account quota is used up ({message}). Delete "
                          "unused resources or request a quota increase in the Service Quotas console",
                          service=service, code=code, resource=name)
    return CloudError(f"{service} refused to {action} {what}{where}: {code}: {message}",
                      service=service, code=code, resource=name)


def _original_status(exc: BaseException) -> Optional[int]:
    response = getattr(exc, "response", None) or {}
    status = response.get("OriginalStatusCode")
    if status is None:  # InvokeEndpoint's ModelError carries the container's status in its message
        found = re.search(r"client error \((\d{3})\)", _service_message(exc))
        status = found.group(1) if found else None
    return int(status) if status is not None else None


def call_aws(operation: Callable[..., Any], *, action: str, kind: str = "", name: str = "", region: str = "",
             service: str = "sagemaker", sleep: Callable[[float], None] = time.sleep, **request) -> Any:
    """``operation(**request)``, retried with jittered exponential backoff while AWS throttles it; any AWS
    failure leaves as the exception :func:`explain` gives (a ``CloudError`` or ntm's own error types)."""
    delay = THROTTLE_FIRST_DELAY
    for attempt in range(THROTTLE_RETRIES + 1):
        try:
            return operation(**request)
        except Exception as exc:  # only AWS failures are translated; anything else re-raises unchanged
            if error_code(exc) in THROTTLING_CODES and attempt < THROTTLE_RETRIES:
                sleep(delay * random.uniform(0.5, 1.0))  # jitter: many throttled clients must not retry in step
                delay = min(delay * 2, THROTTLE_MAX_DELAY)
                continue
            clear = explain(exc, action, kind, name, region, service)
            if clear is None:
                raise
            raise clear from exc
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
