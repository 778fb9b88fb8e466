"""The ``mock`` backend: registered through the same hook a third-party plugin uses.

Importing this module imports nothing heavy; the backend class is imported when first used.
"""

from ntm.hookspecs import hookimpl


def _create_mock_backend():
    from .backend import MockBackend

    return MockBackend()


@hookimpl
def register_backends(register):
    register("mock", _create_mock_backend, instance_types=("mock",),
             description="In memory, instant and deterministic: for unit tests of code that uses ntm")
