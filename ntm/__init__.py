"""ntm: Amazon SageMaker's Neural Topic Model API, running anywhere.

>>> from ntm import NTM
>>> estimator = NTM(role=None, instance_count=1, instance_type="mock", num_topics=10)

``import ntm`` loads no backend dependency (no torch, no boto3); backends are plugins, loaded the first
time one is looked up (see :mod:`ntm.plugins`).
"""

__version__ = "0.1.0"

from .backend import Backend
from .errors import (
    DuplicateBackendError,
    InvalidParameterError,
    MissingDependencyError,
    ResourceNotFoundError,
    UnexpectedStatusError,
    UnknownBackendError,
)
from .estimator import NTM
from .hookspecs import hookimpl
from .model import NTMModel
from .plugins import get_backend, list_backends
from .predictor import NTMPredictor
from .record_set import RecordSet

__all__ = [
    "Backend",
    "DuplicateBackendError",
    "InvalidParameterError",
    "MissingDependencyError",
    "NTM",
    "NTMModel",
    "NTMPredictor",
    "RecordSet",
    "ResourceNotFoundError",
    "UnexpectedStatusError",
    "UnknownBackendError",
    "get_backend",
    "hookimpl",
    "list_backends",
]
