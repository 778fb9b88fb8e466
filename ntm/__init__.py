"""ntm: Amazon SageMaker's Neural Topic Model API, running anywhere.

>>> from ntm import NTM
>>> estimator = NTM(role=None, instance_count=1, instance_type="mock", num_topics=10)

The public names are imported on first use (PEP 562), so ``import ntm.core`` stays as light as the codec
and ``import ntm`` loads no backend dependency (no torch, no boto3); backends are plugins, loaded the first
time one is looked up (see :mod:`ntm.plugins`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Backend": "ntm.backend",
    "DuplicateBackendError": "ntm.errors",
    "InvalidParameterError": "ntm.errors",
    "MissingDependencyError": "ntm.errors",
    "ResourceNotFoundError": "ntm.errors",
    "UnexpectedStatusError": "ntm.errors",
    "UnknownBackendError": "ntm.errors",
    "NTM": "ntm.estimator",
    "NTMModel": "ntm.model",
    "NTMPredictor": "ntm.predictor",
    "RecordSet": "ntm.record_set",
    "hookimpl": "ntm.hookspecs",
    "get_backend": "ntm.plugins",
    "list_backends": "ntm.plugins",
}

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


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ntm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from .backend import Backend
    from .errors import (DuplicateBackendError, InvalidParameterError, MissingDependencyError,
                         ResourceNotFoundError, UnexpectedStatusError, UnknownBackendError)
    from .estimator import NTM
    from .hookspecs import hookimpl
    from .model import NTMModel
    from .plugins import get_backend, list_backends
    from .predictor import NTMPredictor
    from .record_set import RecordSet
