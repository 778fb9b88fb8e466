"""The ``local`` backend: train with PyTorch and serve on this machine, with SageMaker's API.

Importing this module imports neither torch nor the backend; the factory does, when first used.
"""

from ntm.hookspecs import hookimpl


def _create_local_backend():
    import torch  # noqa: F401  (a missing torch is reported with the extra to install)

    from .backend import LocalBackend

    return LocalBackend()


@hookimpl
def register_backends(register):
    register("local", _create_local_backend, instance_types=("local", "local_cpu", "local_gpu"),
             description="Train with PyTorch and serve on this machine; jobs and endpoints outlive the process",
             extra="local")
