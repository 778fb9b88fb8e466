"""The ``sagemaker`` backend: the same estimator code on Amazon SageMaker, for ``instance_type="ml.*"``.

Registered through the same hook a third-party plugin uses. Importing this module imports nothing
heavy: boto3 is imported when the backend is first used (``pip install 'ntm-anywhere[sagemaker]'``).
"""

from ntm.hookspecs import hookimpl


def _create_sagemaker_backend():
    from .backend import SageMakerBackend

    return SageMakerBackend()


@hookimpl
def register_backends(register):
    register("sagemaker", _create_sagemaker_backend, instance_types=("ml.*",),
             description="Amazon SageMaker's own NTM algorithm, through boto3 (S3, SageMaker, CloudWatch)",
             extra="sagemaker")
