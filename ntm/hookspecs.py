"""Hook specifications: the only points where plugins plug in (markers and specs, nothing else).

A plugin is a module (or object) with functions decorated ``@ntm.hookimpl`` whose names match the specs
below. Implementations may accept a subset of a spec's arguments, so specs can grow without breaking them.
"""

from __future__ import annotations

from typing import Callable

import pluggy

PROJECT_NAME = "ntm"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_backends(register: Callable[..., None]) -> None:
    """Register one or more backends by calling ``register`` once per backend.

    :param register: ``register(name, factory, *, instance_types=(), aliases=(), description="",
        extra=None)``. ``factory()`` returns an :class:`ntm.Backend`; it is called the first time the
        backend is used, so import heavy dependencies inside it, not at module level.
        ``instance_types`` are :func:`fnmatch` patterns (``"local*"``, ``"ml.*"``) that select this
        backend from an estimator's ``instance_type``; ``extra`` names the pip extra that provides
        the factory's optional dependencies, quoted when one is missing.

    Hooks register, they never act: do not start processes or open connections here.
    """
