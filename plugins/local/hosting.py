"""Models, endpoints and batch transform for the local backend: SageMaker hosting on this machine.

``create_endpoint`` starts a real HTTP server process group (``endpoints.py``: gunicorn over uvicorn
workers, one per ``InitialInstanceCount``) on a free loopback port and returns at once; the endpoint is
``Creating`` until ``/ping`` answers, then ``InService``. State lives in SQLite (``hostingstore.py``), so
``NTMPredictor(name)`` in another process finds the endpoint, and the server outlives the process that
deployed it until ``delete_endpoint`` stops it. ``invoke_endpoint`` speaks HTTP to it
(``endpoint_client.py``). Transform jobs run in their own processes (``transform.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from typing import Any, Dict, Tuple

from ntm.backend import Request, required

from . import endpoints, hostingstore, transform
from .endpoint_client import EndpointClient
from .jobstore import as_datetime




class LocalHosting:
    """The hosting verbs of :class:`LocalBackend` (see :class:`ntm.Backend` for the request shapes)."""

    @property
    def _client(self) -> EndpointClient:
        client = self.__dict__.get("_endpoint_client")
        if client is None:
            client = self.__dict__["_endpoint_client"] = EndpointClient()
        return client

    # ----- models ---------------------------------------------------------------------------------
    def create_model(self, request: Request) -> Request:
        name = required(request, "ModelName")
        required(request, "PrimaryContainer", "ModelDataUrl")
        hostingstore.insert("model", name, request)
        return {"ModelArn": self.arn("model", name)}

    def delete_model(self, name: str) -> None:
        hostingstore.row("model", name)
        hostingstore.delete("model", name)

    def model_data(self, model_name: str) -> str:
        """The ``ModelDataUrl`` a registered model serves."""
        return json.loads(hostingstore.row("model", model_name)["request"])["PrimaryContainer"]["ModelDataUrl"]

    # ----- endpoints ------------------------------------------------------------------------------
    def create_endpoint(self, request: Request) -> Request:
        name = required(request, "EndpointName")
        variant = required(request, "ProductionVariants")[0]
        model_name = required(variant, "ModelName")
        count = variant.get("InitialInstanceCount", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"ProductionVariants[0].InitialInstanceCount must be a positive int, got {count!r}")
        model_data = self.model_data(model_name)
        hostingstore.insert("endpoint", name, request, model_name=model_name, model_data=model_data,
                            instance_count=count, status="Creating", modified=_now())
        try:
            pid = endpoints.start_server(name, model_data, count)
        except OSError as exc:
            hostingstore.update("endpoint", name, status="Failed", failure_reason=f"could not start: {exc}")
            raise
        hostingstore.update("endpoint", name, pid=pid)
        return {"EndpointArn": self.arn("endpoint", name)}

    def _refresh_endpoint(self, name: str):
        """The endpoint's row after noticing what its process did (became ready, or died)."""
        row = hostingstore.row("endpoint", name)
        if row["status"] == "Creating":
            if not endpoints.alive(row["pid"]):
                hostingstore.update_if("endpoint", name, "Creating", status="Failed", modified=_now(),
                                       failure_reason="The endpoint's server exited before it was ready: "
                                                      + endpoints.log_tail(name))
            else:
                address = endpoints.read_ready_file(name)
                if address is not None and endpoints.workers_started(row["pid"], row["instance_count"]) \
                        and endpoints.ping(*address):
                    hostingstore.update_if("endpoint", name, "Creating", status="InService", host=address[0],
                                           port=address[1], modified=_now())
        elif row["status"] == "InService" and not endpoints.alive(row["pid"]):
            hostingstore.update_if("endpoint", name, "InService", status="Failed", modified=_now(),
                                   failure_reason=f"The endpoint's server (pid {row['pid']}) exited; see "
                                                  f"{endpoints.log_path(name)}: " + endpoints.log_tail(name))
        return hostingstore.row("endpoint", name)

    def describe_endpoint(self, name: str) -> Request:
        row = self._refresh_endpoint(name)
        request = json.loads(row["request"])
        variant = request["ProductionVariants"][0]
        out: Dict[str, Any] = {
            "EndpointName": name, "EndpointArn": self.arn("endpoint", name), "EndpointConfigName": name,
            "EndpointStatus": row["status"], "CreationTime": as_datetime(row["created"]),
            "LastModifiedTime": as_datetime(row["modified"]),
            "ProductionVariants": [{"VariantName": variant.get("VariantName", "AllTraffic"),
                                    "ModelName": row["model_name"],
                                    "CurrentInstanceCount": row["instance_count"],
                                    "DesiredInstanceCount": row["instance_count"],
                                    "InstanceType": variant.get("InstanceType", "local")}],
        }
        if row["failure_reason"]:
            out["FailureReason"] = row["failure_reason"]
        if row["port"]:
            out["Url"] = f"http://{row['host']}:{row['port']}"  # not SageMaker's: where to curl the server
        return out

    def _address(self, name: str) -> Tuple[str, int]:
        row = hostingstore.row("endpoint", name)
        if row["status"] != "InService":
            row = self._refresh_endpoint(name)
        if row["status"] != "InService":
            reason = f": {row['failure_reason']}" if row["failure_reason"] else ""
            raise ValueError(f"Endpoint {name!r} is {row['status']}, not InService{reason}; wait for it "
                             "(deploy(wait=True)) or deploy it again")
        return row["host"], row["port"]

    def invoke_endpoint(self, name: str, body: bytes, content_type: str, accept: str) -> bytes:
        host, port = self._address(name)
        try:
            return self._client.invoke(host, port, body, content_type, accept, f"endpoint {name!r}")
        except ConnectionError as exc:
            status = self._refresh_endpoint(name)["status"]
            raise ConnectionError(f"endpoint {name!r} at http://{host}:{port} did not answer ({exc}); its status "
                                  f"is {status}; log: {endpoints.log_path(name)}") from exc

    def delete_endpoint(self, name: str) -> None:
        row = hostingstore.row("endpoint", name)
        hostingstore.update("endpoint", name, status="Deleting", modified=_now())
        endpoints.stop_server(row["pid"])
        if row["port"]:
            self._client.forget(row["host"], row["port"])
        hostingstore.delete("endpoint", name)
        shutil.rmtree(hostingstore.endpoint_dir(name), ignore_errors=True)

    # ----- batch transform ------------------------------------------------------------------------
    def create_transform_job(self, request: Request) -> Request:
        name = required(request, "TransformJobName")
        required(request, "TransformInput", "DataSource", "S3DataSource", "S3Uri")
        required(request, "TransformOutput", "S3OutputPath")
        transform.check_request(request)
        model_data = self.model_data(required(request, "ModelName"))
        hostingstore.insert("transform job", name, request, model_data=model_data, status="InProgress")
        transform.start_job(name)
        return {"TransformJobArn": self.arn("transform-job", name)}

    def describe_transform_job(self, name: str) -> Request:
        transform.reap_if_dead(name)
        row = hostingstore.row("transform job", name)
        out = dict(json.loads(row["request"]))
        out.update({"TransformJobArn": self.arn("transform-job", name), "TransformJobStatus": row["status"],
                    "CreationTime": as_datetime(row["created"])})
        for key, column in (("TransformStartTime", "started"), ("TransformEndTime", "ended")):
            if row[column]:
                out[key] = as_datetime(row[column])
        if row["failure_reason"]:
            out["FailureReason"] = row["failure_reason"]
        if row["progress"]:
            out["Progress"] = json.loads(row["progress"])  # not SageMaker's: files and records done so far
        return out


def _now() -> float:
    return dt.datetime.now(dt.timezone.utc).timestamp()
