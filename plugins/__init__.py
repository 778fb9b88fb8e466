"""``ntm.plugins``: the plugin manager and the backend registry built from the ``register_backends`` hook.

The built-in backends live in this package's subpackages (``ntm.plugins.mock``, later ``local`` and
``sagemaker``), each a plugin module like any third-party one.

Built-in backends (``DEFAULT_PLUGINS``) and third-party ones (entry-point group ``ntm.plugins``) are
loaded the same way, lazily, the first time a backend is looked up: ``import ntm`` imports none of them.
The registry is rebuilt from the hook on every lookup (it is a handful of calls), so a plugin registered
at run time, as tests do, is seen at once; backend *instances* are created once per process and reused,
so an estimator, ``NTM.attach`` and a predictor all talk to the same in-process state.

Set ``NTM_DISABLE_PLUGIN_AUTOLOAD=1`` to skip entry points (built-ins still load); the test suite does.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import pluggy

from ntm import hookspecs
from ntm.errors import DuplicateBackendError, MissingDependencyError, UnknownBackendError

ENTRY_POINT_GROUP = "ntm.plugins"
DISABLE_AUTOLOAD_ENV = "NTM_DISABLE_PLUGIN_AUTOLOAD"
BACKEND_ENV = "NTM_BACKEND"
DISTRIBUTION = "ntm-anywhere"

# Built-in plugins, imported and registered exactly as an entry point would be.
DEFAULT_PLUGINS: Tuple[str, ...] = ("ntm.plugins.mock", "ntm.plugins.local", "ntm.plugins.sagemaker")

pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
pm.add_hookspecs(hookspecs)

#: plugin name -> the exception it raised while loading or registering (it is skipped, others load)
load_errors: Dict[str, BaseException] = {}

_lock = threading.RLock()
_loaded = False
_instances: Dict[str, Tuple[Callable, object]] = {}


@dataclass(frozen=True)
class BackendInfo:
    """One registered backend, as ``list_backends()`` reports it."""

    name: str
    factory: Callable[[], object] = field(repr=False)
    plugin: str
    instance_types: Tuple[str, ...] = ()
    aliases: Tuple[str, ...] = ()
    description: str = ""
    extra: Optional[str] = None


def load_plugins() -> None:
    """Import and register the built-in plugins, then the entry-point ones. Idempotent and thread-safe."""
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        for module_name in DEFAULT_PLUGINS:
            if pm.has_plugin(module_name):
                continue
            try:
                pm.register(importlib.import_module(module_name), name=module_name)
            except Exception as exc:  # a broken built-in must not hide the other backends
                _record_load_error(module_name, exc)
        if not os.environ.get(DISABLE_AUTOLOAD_ENV):
            _load_entry_points()
        _check_pending()


def _load_entry_points() -> None:
    for entry_point in _entry_points():
        name = entry_point.name
        if pm.has_plugin(name) or pm.is_blocked(name):
            continue
        try:
            pm.register(entry_point.load(), name=name)
        except Exception as exc:  # one bad plugin is reported by name; the rest still load
            _record_load_error(name, exc, where=f"entry point {entry_point.value!r}")


def _entry_points():
    from importlib import metadata

    found = metadata.entry_points()
    if hasattr(found, "select"):
        return list(found.select(group=ENTRY_POINT_GROUP))
    return list(found.get(ENTRY_POINT_GROUP, ()))  # Python 3.9


def _check_pending() -> None:
    # check_pending() catches hook implementations that match no spec (usually a typo in the name);
    # drop the plugin at fault so one typo does not take every backend down with it.
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            plugin_name = pm.get_name(exc.plugin) or repr(exc.plugin)
            pm.unregister(exc.plugin)
            _record_load_error(plugin_name, exc)


def _record_load_error(plugin: str, exc: BaseException, where: str = "") -> None:
    if plugin in load_errors:
        return
    load_errors[plugin] = exc
    detail = f" ({where})" if where else ""
    warnings.warn(f"ntm plugin {plugin!r}{detail} failed to load and was skipped: "
                  f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)


class _Registry:
    """Backends collected from one round of ``register_backends`` calls."""

    def __init__(self) -> None:
        self.backends: Dict[str, BackendInfo] = {}
        self.names: Dict[str, str] = {}  # name or alias -> canonical name
        self.claimed_by: Dict[str, List[str]] = {}  # name or alias -> every plugin that claimed it

    def add(self, info: BackendInfo) -> None:
        for key in (info.name, *info.aliases):
            self.claimed_by.setdefault(key, []).append(info.plugin)
            self.names.setdefault(key, info.name)
        self.backends.setdefault(info.name, info)


def _registrar(registry: _Registry, plugin: str):
    def register(name: str, factory: Callable[[], object], *, instance_types=(), aliases=(),
                 description: str = "", extra: Optional[str] = None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"plugin {plugin!r} registered a backend whose name is {name!r}; "
                            "a backend name is a non-empty string")
        if not callable(factory):
            raise TypeError(f"plugin {plugin!r} registered backend {name!r} with a factory that is "
                            f"not callable ({factory!r})")
        registry.add(BackendInfo(name=name, factory=factory, plugin=plugin,
                                 instance_types=tuple(instance_types), aliases=tuple(aliases),
                                 description=description, extra=extra))
    return register


def _collect() -> _Registry:
    load_plugins()
    registry = _Registry()
    hook = pm.hook.register_backends
    # Call each implementation on its own, so a plugin that raises is named and skipped.
    for impl in hook.get_hookimpls():  # registration order (pluggy calls them in reverse)
        plugin = pm.get_name(impl.plugin) or impl.plugin_name
        kwargs = {"register": _registrar(registry, plugin)}
        try:
            impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
        except Exception as exc:
            _record_load_error(plugin, exc, where="register_backends")
    return registry


def list_backends() -> List[BackendInfo]:
    """Every registered backend, in registration order (built-ins first).

    >>> [b.name for b in list_backends()]  # doctest: +SKIP
    ['mock', 'local', 'sagemaker']
    """
    return list(_collect().backends.values())


def _resolve_name(registry: _Registry, name: str) -> str:
    plugins = registry.claimed_by.get(name)
    if plugins is None:
        raise UnknownBackendError(_unknown_message(registry, name))
    if len(plugins) > 1:
        raise DuplicateBackendError(
            f"backend name {name!r} is registered by more than one plugin: "
            f"{' and '.join(repr(p) for p in plugins)}; uninstall one of them or pass the other's "
            "own backend name")
    return registry.names[name]


def _unknown_message(registry: _Registry, name: str) -> str:
    available = sorted(registry.backends)
    message = f"unknown backend {name!r}; available backends: {', '.join(available) or '(none)'}"
    close = difflib.get_close_matches(name, list(registry.names), n=1)
    if close:
        message += f". Did you mean {close[0]!r}?"
    if load_errors:
        failed = ", ".join(f"{p!r} ({type(e).__name__}: {e})" for p, e in load_errors.items())
        message += f". Plugins that failed to load: {failed}"
    return message


def get_backend(name: str):
    """The backend registered as ``name`` (or an alias), created on first use and reused after.

    Raises :class:`UnknownBackendError` (listing what is available), :class:`DuplicateBackendError`
    (naming both plugins) or :class:`MissingDependencyError` (naming the pip extra to install).
    """
    registry = _collect()
    canonical = _resolve_name(registry, name)
    info = registry.backends[canonical]
    with _lock:
        cached = _instances.get(canonical)
        if cached is not None and cached[0] is info.factory:
            return cached[1]
        instance = _create(info)
        _instances[canonical] = (info.factory, instance)
        return instance


def _create(info: BackendInfo):
    try:
        return info.factory()
    except ModuleNotFoundError as exc:
        missing = exc.name or str(exc)
        install = (f"pip install '{DISTRIBUTION}[{info.extra}]'" if info.extra
                   else f"pip install {missing}")
        raise MissingDependencyError(
            f"backend {info.name!r} (plugin {info.plugin!r}) needs the package {missing!r}, which is "
            f"not installed; install it with: {install}") from exc


def select_backend(backend: Optional[str] = None, instance_type: Optional[str] = None) -> str:
    """The canonical name of the backend to use: ``backend`` if given, then ``$NTM_BACKEND``, then the
    first backend whose ``instance_types`` patterns match ``instance_type``."""
    registry = _collect()
    if backend:
        return _resolve_name(registry, backend)
    from_env = os.environ.get(BACKEND_ENV)
    if from_env:
        try:
            return _resolve_name(registry, from_env)
        except UnknownBackendError as exc:
            raise UnknownBackendError(f"${BACKEND_ENV}: {exc}") from None
    if not instance_type:
        raise UnknownBackendError(
            "no backend chosen: pass instance_type (for example 'local', 'ml.c5.xlarge' or 'mock') "
            f"or backend=, or set ${BACKEND_ENV}")
    matches = [info for info in registry.backends.values()
               if any(fnmatch.fnmatchcase(instance_type, pattern) for pattern in info.instance_types)]
    if not matches:
        patterns = "; ".join(f"{', '.join(i.instance_types)} -> {i.name}"
                             for i in registry.backends.values() if i.instance_types)
        raise UnknownBackendError(
            f"no backend handles instance_type {instance_type!r}; registered instance types: "
            f"{patterns or '(none)'}. Pass backend= explicitly, or install the plugin for it")
    if len(matches) > 1:
        raise DuplicateBackendError(
            f"instance_type {instance_type!r} is claimed by several backends: "
            + " and ".join(f"{m.name!r} (plugin {m.plugin!r})" for m in matches)
            + "; pass backend= to choose one")
    return matches[0].name


def backend_instances() -> Dict[str, object]:
    """The backends already created in this process, by name (used to find who owns a job)."""
    with _lock:
        return {name: instance for name, (_, instance) in _instances.items()}


def _reset_for_tests() -> None:
    """Forget created backend instances and recorded load errors (test isolation only)."""
    with _lock:
        _instances.clear()
        load_errors.clear()


__all__ = ["BackendInfo", "DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "get_backend", "list_backends",
           "load_plugins", "load_errors", "pm", "select_backend"]
