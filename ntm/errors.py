"""Exception types users can catch; each message says what was wrong, where, and what to do.

Several classes subclass two built-ins (as scikit-learn's ``InvalidParameterError`` does) so code written
against the SageMaker SDK, which raises plain ``ValueError``/``TypeError``, keeps catching them.
"""

from __future__ import annotations

from typing import Optional


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter or argument has the wrong type or a value outside its allowed range.

    ``sdk_message`` holds the text the SageMaker SDK raises for the same mistake (for example
    ``"Invalid hyperparameter value 1 for num_topics. Expecting: An integer in [2, 1000]"``), so code
    that matched on it can still find it.
    """

    def __init__(self, message: str, *, parameter: str = "", sdk_message: Optional[str] = None):
        super().__init__(message)
        self.parameter = parameter
        self.sdk_message = sdk_message or message


class BackendError(Exception):
    """Base class for problems finding or loading a backend."""


class UnknownBackendError(BackendError, ValueError):
    """No backend is registered under the requested name or for the requested instance type."""


class DuplicateBackendError(BackendError, ValueError):
    """Two plugins registered the same backend name (or alias)."""


class MissingDependencyError(BackendError, ImportError):
    """A backend needs an optional package that is not installed; the message names the pip extra."""


class ResourceNotFoundError(ValueError):
    """A training job, model, endpoint or transform job of that name does not exist on the backend.

    A ``ValueError``, as the SageMaker SDK documents for ``delete_endpoint`` on a missing endpoint.
    """


class ResourceInUseError(ValueError):
    """A resource of that name already exists (SageMaker's ``ResourceInUse``)."""


class UnexpectedStatusError(ValueError):
    """A job or endpoint ended in a status other than the one waited for (the SDK's
    ``UnexpectedStatusException``); ``actual_status`` says which."""

    def __init__(self, message: str, *, allowed_statuses=(), actual_status: str = ""):
        super().__init__(message)
        self.allowed_statuses = tuple(allowed_statuses)
        self.actual_status = actual_status


class UnsupportedContentTypeError(ValueError):
    """A request body or Accept header names a content type the endpoint does not speak."""


class CloudError(Exception):
    """A cloud service (AWS for the ``sagemaker`` backend and ``s3://`` data) refused or failed a request.

    The message names the resource and what to do; ``service``, ``code`` (the service's error code, such
    as ``AccessDenied``) and ``resource`` hold the same facts for code that inspects them. The botocore
    exception, where there was one, is chained as ``__cause__``.
    """

    def __init__(self, message: str, *, service: str = "", code: str = "", resource: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.code = code
        self.resource = resource


class CloudCredentialsError(CloudError, PermissionError):
    """No credentials were found, or the service rejected them (expired, invalid)."""


class CloudRegionError(CloudError, ValueError):
    """No region is configured, or the region is one the service (or NTM's image table) does not offer."""


class RoleResolutionError(CloudError, ValueError):
    """An IAM role name could not be turned into an ARN (it does not exist, or IAM cannot be read)."""


class BucketAccessError(CloudError, PermissionError):
    """An S3 bucket does not exist or denies this caller access."""


class CloudAccessDeniedError(CloudError, PermissionError):
    """The caller (or the job's execution role) is not allowed to perform a call."""


class ThrottlingError(CloudError):
    """The service kept throttling a call after ntm retried it with backoff."""
