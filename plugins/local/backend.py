"""The ``local`` backend: SageMaker's API on this machine.

Training jobs run in their own processes (``worker.py``) with their state in SQLite (``jobstore.py``),
so ``fit(wait=False)`` returns at once and ``NTM.attach(name)`` works from any Python process.
Endpoints and batch transform are served by ``LocalHosting`` (``hosting.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List

from ntm.backend import Backend, Request

from . import jobstore
from .config import TrainingConfig
from .hosting import LocalHosting

FOLLOW_POLL_SECONDS = 0.2


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalBackend(LocalHosting, Backend):
    poll_interval = 0.5

    # ----- training -------------------------------------------------------------------------------
    def create_training_job(self, request: Request) -> Request:
        name = request.get("TrainingJobName")
        if not name:
            raise ValueError("CreateTrainingJob request needs a TrainingJobName")
        # Refuse bad hyperparameters now, as SageMaker's CreateTrainingJob does, not in the job's log.
        TrainingConfig.from_hyperparameters(request.get("HyperParameters") or {})
        workers = int((request.get("ResourceConfig") or {}).get("InstanceCount") or 1)
        jobstore.create(name, request)
        folder = jobstore.job_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        address = f"tcp://127.0.0.1:{free_port()}"
        self._children = [p for p in getattr(self, "_children", []) if p.poll() is None]
        for rank in range(workers):
            # Rank 0 writes the job's log; the others' output (errors) goes beside it.
            log_file = jobstore.log_path(name) if rank == 0 else folder / f"log.worker-{rank}"
            with open(log_file, "ab") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "ntm.plugins.local.worker", name, "--rank", str(rank),
                     "--world", str(workers), "--address", address],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, env=dict(os.environ, NTM_HOME=str(jobstore.home())))
            if rank == 0:
                jobstore.update(name, pid=process.pid)
            self._children.append(process)  # kept to be reaped, so finished workers leave no zombies
        return {"TrainingJobArn": self.arn("training-job", name)}

    def describe_training_job(self, name: str) -> Request:
        jobstore.reap_if_dead(name)
        job = jobstore.row(name)
        out = dict(json.loads(job["request"]))
        out.update({
            "TrainingJobArn": self.arn("training-job", name),
            "TrainingJobStatus": job["status"],
            "SecondaryStatus": job["secondary_status"],
            "CreationTime": jobstore.as_datetime(job["created"]),
        })
        if job["started"]:
            out["TrainingStartTime"] = jobstore.as_datetime(job["started"])
        if job["ended"]:
            out["TrainingEndTime"] = jobstore.as_datetime(job["ended"])
        if job["failure_reason"]:
            out["FailureReason"] = job["failure_reason"]
        if job["model_artifacts"]:
            out["ModelArtifacts"] = {"S3ModelArtifacts": job["model_artifacts"]}
        if job["status"] == "Completed":
            latest: Dict[str, Dict[str, Any]] = {}
            for row in jobstore.metrics(name):
                latest[row["metric_name"]] = {"MetricName": row["metric_name"], "Value": row["value"],
                                              "Timestamp": row["timestamp"]}
            out["FinalMetricDataList"] = list(latest.values())
        return out

    def logs(self, name: str, follow: bool = False) -> Iterator[str]:
        jobstore.row(name)  # a missing job raises ResourceNotFoundError
        path = jobstore.log_path(name)
        position = 0
        pending = b""
        while True:
            final = self.describe_training_job(name)["TrainingJobStatus"] in ("Completed", "Failed", "Stopped")
            if path.exists():
                with open(path, "rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                    position = handle.tell()
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    yield line.decode("utf-8", "replace")
            if not follow or final:
                if pending and final:
                    yield pending.decode("utf-8", "replace")
                return
            time.sleep(FOLLOW_POLL_SECONDS)

    def stop_training_job(self, name: str) -> None:
        job = jobstore.row(name)
        if job["status"] != "InProgress":
            return
        jobstore.update(name, stop_requested=1, status="Stopping", secondary_status="Stopping")
        if job["pid"] and jobstore.pid_alive(job["pid"]):
            try:
                os.kill(job["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
        jobstore.reap_if_dead(name)

    def metrics(self, name: str) -> List[Dict[str, Any]]:
        job = jobstore.row(name)
        start = job["started"] or job["created"]
        return [dict(row, timestamp=row["timestamp"].timestamp() - start) for row in jobstore.metrics(name)]

    def wait_for_training(self, name: str, timeout: float = 3600.0) -> Request:
        """Block until the job is final (tests and benchmarks use this); return its description."""
        deadline = time.monotonic() + timeout
        while True:
            description = self.describe_training_job(name)
            if description["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                return description
            if time.monotonic() > deadline:
                raise TimeoutError(f"training job {name} still {description['TrainingJobStatus']} after {timeout} s")
            time.sleep(FOLLOW_POLL_SECONDS)

