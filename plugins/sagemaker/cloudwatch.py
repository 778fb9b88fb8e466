"""A training job's CloudWatch logs (tailed stream by stream) and metrics (CloudWatch, else the final ones).

SageMaker writes one log stream per instance, ``<job>/algo-<n>-<epoch>``, in the group
``/aws/sagemaker/TrainingJobs``; streams appear only once a container starts writing, so they are
looked up again on every read. Metrics are the ones the algorithm declares (``MetricDefinitions``),
published under the namespace of the same name.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional

from ntm.errors import ResourceNotFoundError

from .aws_errors import error_code

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
METRICS_PERIOD_SECONDS = 60


class TrainingLogTail:
    """Reads the log lines a training job wrote since the last :meth:`read_new`, across its instances.

    ``call(operation, job_name, **request)`` performs one AWS call (the backend passes its
    throttling-aware wrapper); ``logs_client`` is a CloudWatch Logs client.
    """

    def __init__(self, logs_client, job_name: str, call: Callable[..., Any]) -> None:
        self.client = logs_client
        self.job_name = job_name
        self.call = call
        self.tokens: Dict[str, Optional[str]] = {}  # stream -> the forward token to read from next

    def _streams(self) -> List[str]:
        names, token = [], None
        while True:
            request = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": self.job_name + "/",
                       "orderBy": "LogStreamName"}
            if token:
                request["nextToken"] = token
            try:
                page = self.call(self.client.describe_log_streams, self.job_name, **request)
            except Exception as exc:
                # The group exists only once some job of the account has logged: no group, no lines yet.
                if _is_missing(exc):
                    return []
                raise
            names += [stream["logStreamName"] for stream in page.get("logStreams", [])]
            token = page.get("nextToken")
            if not token:
                return names

    def _read_stream(self, stream: str) -> List[Dict[str, Any]]:
        events, token = [], self.tokens.get(stream)
        while True:
            request = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
            if token:
                request["nextToken"] = token
            page = self.call(self.client.get_log_events, self.job_name, **request)
            events += page.get("events", [])
            # At the end of a stream CloudWatch hands back the token it was given.
            next_token = page.get("nextForwardToken")
            if not next_token or next_token == token:
                self.tokens[stream] = token
                return events
            token = next_token

    def read_new(self) -> List[str]:
        """Lines written since the last call, oldest first; prefixed ``[algo-2]`` when several instances log."""
        streams = self._streams()
        many = len(streams) > 1
        per_stream = []
        for stream in streams:
            host = stream.split("/", 1)[-1].rsplit("-", 1)[0] if many else ""
            per_stream.append([(event.get("timestamp", 0), index, f"[{host}] " if many else "", event["message"])
                               for index, event in enumerate(self._read_stream(stream))])
        return [prefix + message.rstrip("\n") for _, _, prefix, message in heapq.merge(*per_stream)]


def _is_missing(exc: BaseException) -> bool:
    return isinstance(exc, ResourceNotFoundError) or error_code(exc) in ("ResourceNotFoundException",
                                                                         "ResourceNotFound")


def status_lines(description: Dict[str, Any], already_shown: int) -> List[str]:
    """The job's secondary status transitions after the first ``already_shown`` (the SDK prints these
    while instances start, before any log line exists)."""
    lines = []
    for transition in (description.get("SecondaryStatusTransitions") or [])[already_shown:]:
        started = transition.get("StartTime")
        stamp = started.strftime("%Y-%m-%d %H:%M:%S") + " " if isinstance(started, datetime) else ""
        lines.append(f"{stamp}{transition.get('Status', '')} - {transition.get('StatusMessage', '')}".rstrip(" -"))
    return lines


def training_metrics(cloudwatch, description: Dict[str, Any], call: Callable[..., Any]) -> List[Dict[str, Any]]:
    """Rows ``{"timestamp", "metric_name", "value"}`` (seconds since training started), oldest first:
    CloudWatch's per-minute averages of every declared metric, or the job's ``FinalMetricDataList``
    when CloudWatch has none (metrics reach CloudWatch only for jobs that ran long enough)."""
    start = description.get("TrainingStartTime")
    rows: List[Dict[str, Any]] = []
    if isinstance(start, datetime):
        end = description.get("TrainingEndTime") or datetime.now(timezone.utc)
        names = [definition["Name"] for definition in
                 (description.get("AlgorithmSpecification") or {}).get("MetricDefinitions", [])]
        job = description["TrainingJobName"]
        for name in names:
            answer = call(cloudwatch.get_metric_statistics, job, Namespace=METRICS_NAMESPACE, MetricName=name,
                          Dimensions=[{"Name": "TrainingJobName", "Value": job}],
                          StartTime=start, EndTime=end + timedelta(minutes=1),  # CloudWatch drops seconds
                          Period=METRICS_PERIOD_SECONDS, Statistics=["Average"])
            rows += [{"timestamp": _seconds_since(start, point["Timestamp"]), "metric_name": name,
                      "value": float(point["Average"])} for point in answer.get("Datapoints", [])]
    if not rows:
        rows = [{"timestamp": _seconds_since(start, metric.get("Timestamp")),
                 "metric_name": metric["MetricName"], "value": float(metric["Value"])}
                for metric in description.get("FinalMetricDataList") or []]
    return sorted(rows, key=lambda row: (row["timestamp"], row["metric_name"]))


def _seconds_since(start: Any, moment: Any) -> float:
    if isinstance(start, datetime) and isinstance(moment, datetime):
        return max((moment - start).total_seconds(), 0.0)
    return 0.0
