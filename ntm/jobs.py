"""Handles on running resources: waiting for a status, following logs, finding which backend owns a name."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Dict, Iterable, Optional, TextIO

from . import plugins
from .backend import TRAINING_TERMINAL
from .errors import BackendError, ResourceNotFoundError, UnexpectedStatusError

_MAX_POLL = 5.0


def wait_for(describe: Callable[[], Dict[str, Any]], status_key: str, terminal: Iterable[str],
              poll_interval: float, timeout: Optional[float] = None) -> Dict[str, Any]:
    """Call ``describe()`` until ``status_key`` holds one of ``terminal``; return that description.

    Polls start at ``poll_interval`` (0 means "the backend is synchronous") and back off to 5 s.
    """
    terminal = tuple(terminal)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = min(poll_interval, _MAX_POLL)
    while True:
        description = describe()
        if description.get(status_key) in terminal:
            return description
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{status_key} is still {description.get(status_key)!r} after {timeout} s")
        time.sleep(delay or 0.01)
        delay = min(max(delay * 1.5, 0.05), _MAX_POLL)


def check_status(description: Dict[str, Any], kind: str, name: str, status_key: str,
                 allowed: Iterable[str]) -> None:
    """Raise the SDK's error (``Error for Training job X: Failed. Reason: ...``) unless the status is allowed."""
    status = description.get(status_key)
    allowed = tuple(allowed)
    if status not in allowed:
        reason = description.get("FailureReason") or "(no reason given)"
        raise UnexpectedStatusError(f"Error for {kind} {name}: {status}. Reason: {reason}",
                                    allowed_statuses=allowed, actual_status=status or "")


class TrainingJob:
    """The estimator's ``latest_training_job``: a name plus the backend that runs it."""

    def __init__(self, backend_name: str, name: str) -> None:
        self.backend_name = backend_name
        self.name = name

    @property
    def job_name(self) -> str:
        return self.name

    @property
    def backend(self):
        return plugins.get_backend(self.backend_name)

    def describe(self) -> Dict[str, Any]:
        """The backend's ``describe_training_job`` for this job."""
        return self.backend.describe_training_job(self.name)

    def wait(self, logs: bool = True, out: Optional[TextIO] = None) -> Dict[str, Any]:
        """Block until the job ends, printing its log lines when ``logs``; raise if it failed."""
        backend = self.backend
        if logs:
            stream = out or sys.stdout
            for line in backend.logs(self.name, follow=True):
                stream.write(line + "\n")
            stream.flush()
        description = wait_for(lambda: backend.describe_training_job(self.name), "TrainingJobStatus",
                               TRAINING_TERMINAL, backend.poll_interval)
        check_status(description, "Training job", self.name, "TrainingJobStatus", ("Completed", "Stopped"))
        return description

    def stop(self) -> None:
        self.backend.stop_training_job(self.name)

    def __repr__(self) -> str:
        return f"TrainingJob(name={self.name!r}, backend={self.backend_name!r})"


def find_owner(verb: str, name: str, backend: Optional[str] = None) -> str:
    """The name of the backend on which ``verb(name)`` (a ``describe_*``) finds ``name``.

    An explicit ``backend`` or ``$NTM_BACKEND`` is trusted as is; otherwise the backends already in use
    in this process are asked first, then every registered one that can be created.
    """
    if backend or os.environ.get(plugins.BACKEND_ENV):
        return plugins.select_backend(backend)
    tried, problems = [], []
    candidates = list(plugins.backend_instances())
    candidates += [info.name for info in plugins.list_backends() if info.name not in candidates]
    for candidate in candidates:
        try:
            getattr(plugins.get_backend(candidate), verb)(name)
            return candidate
        except ResourceNotFoundError:
            tried.append(candidate)
        except (BackendError, NotImplementedError) as exc:
            problems.append(f"{candidate}: {exc}")
        except Exception as exc:  # e.g. no AWS credentials: that backend cannot answer, others may
            problems.append(f"{candidate}: {type(exc).__name__}: {exc}")
    message = f"no backend knows {name!r} (asked: {', '.join(tried) or 'none'})"
    if problems:
        message += "; backends that could not answer: " + "; ".join(problems)
    raise ResourceNotFoundError(message + ". Pass backend= to say where it lives")
