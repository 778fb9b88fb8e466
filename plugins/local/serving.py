"""Run the inference server: gunicorn's arbiter over uvicorn worker processes (``ntm serve``, endpoints).

gunicorn supervises: it binds the socket, forks ``workers`` processes, restarts one that dies, and on
SIGTERM stops accepting, lets every in-flight request finish (up to ``graceful_timeout``) and exits 0.
Each worker runs uvicorn (httptools parser, uvloop where installed) with :class:`InferenceApp`. The
model is loaded once, before the fork (``preload_app``), so workers share its memory and the port only
opens once the model is ready: ``/ping`` can never answer 200 for a server without a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

from ntm.errors import MissingDependencyError

DEFAULT_HOST = "0.0.0.0"  # the container contract: SageMaker reaches the container from outside
DEFAULT_PORT = 8080
SAGEMAKER_MODEL_DIR = "/opt/ml/model"  # where SageMaker unpacks a container's ModelDataUrl
GRACEFUL_TIMEOUT_S = 30
# Longer than any client's idle pool timeout, so the server is never the side that drops a pooled
# connection just as the client reuses it (SageMaker asks containers for more than 60 s).
KEEPALIVE_S = 65
# BLAS threads per worker: the workers are the parallelism; more threads only fight over the cores.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _import_server_packages():
    try:
        import gunicorn.app.base
        import uvicorn_worker
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(
            f"serving a model needs {exc.name}, which is not installed; install it with: "
            "pip install 'ntm-anywhere[local]'") from exc
    return gunicorn.app.base, uvicorn_worker


def _worker_class():
    _, uvicorn_worker = _import_server_packages()

    class InferenceWorker(uvicorn_worker.UvicornWorker):
        """uvicorn in a gunicorn worker, without the lifespan protocol (the model is preloaded)."""

        CONFIG_KWARGS = {"loop": "auto", "http": "auto", "lifespan": "off"}

    return InferenceWorker


def limit_blas_threads() -> None:
    """One BLAS thread per worker unless the user chose otherwise (call before numpy starts its pool)."""
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def write_ready_file(path: Path, host: str, port: int) -> None:
    """Say where the server listens, atomically (the deploying process polls for this file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"pid": os.getpid(), "host": host, "port": port}))
    os.replace(temporary, path)


def serve(model_data: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, workers: int = 1,
          max_payload_mb: Optional[float] = None, ready_file: Optional[Path] = None,
          graceful_timeout: float = GRACEFUL_TIMEOUT_S, access_log: bool = False,
          name: str = "ntm-serve") -> None:
    """Serve ``model_data`` (a model.tar.gz URI or path) in the foreground until SIGTERM or Ctrl-C.

    ``port=0`` picks a free port; ``ready_file`` receives ``{"pid", "host", "port"}`` once the socket is
    listening. Raises ``ArtifactError`` before binding anything when the model cannot be loaded.

    >>> serve("file:///models/model.tar.gz", host="127.0.0.1", port=8080, workers=2)  # doctest: +SKIP
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    base, _ = _import_server_packages()
    from .invocations import ModelService  # numpy loads here, after limit_blas_threads() had its chance
    from .server import InferenceApp

    service = ModelService.from_model_data(model_data, max_payload_mb=max_payload_mb,
                                           max_concurrent_transforms=workers)
    app = InferenceApp(service)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def when_ready(arbiter) -> None:
        bound_host, bound_port = arbiter.LISTENERS[0].sock.getsockname()[:2]
        arbiter.log.info("ntm: serving %s (%d topics, feature_dim %d) on %s:%d with %d workers", model_data,
                         service.num_topics, service.feature_dim, bound_host, bound_port, workers)
        if ready_file is not None:
            write_ready_file(Path(ready_file), bound_host, bound_port)

    options: Dict[str, Any] = {
        "bind": [bind], "workers": workers, "worker_class": _worker_class(), "preload_app": True,
        "graceful_timeout": graceful_timeout, "timeout": 120, "keepalive": KEEPALIVE_S,
        "when_ready": when_ready, "proc_name": name, "errorlog": "-", "loglevel": "info",
        "accesslog": "-" if access_log else None,
        # gunicorn >= 25 opens a control socket at one fixed path per user: two endpoints would collide.
        "control_socket_disable": True,
    }

    class Application(base.BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):
            return app

    Application(prog=name).run()
