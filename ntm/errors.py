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
