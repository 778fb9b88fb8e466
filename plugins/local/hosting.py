"""Models, endpoints and batch transform for the local backend (SageMaker hosting on this machine).

Being built under issue 5; until then these verbs say so instead of pretending to work.
"""

from __future__ import annotations

from ntm.backend import Request


class LocalHosting:
    def _not_yet(self, verb: str):
        raise NotImplementedError(f"the local backend's {verb} is not built yet (issue 5: local endpoints)")

    def create_model(self, request: Request) -> Request:
        self._not_yet("create_model")

    def delete_model(self, name: str) -> None:
        self._not_yet("delete_model")

    def create_endpoint(self, request: Request) -> Request:
        self._not_yet("create_endpoint")

    def describe_endpoint(self, name: str) -> Request:
        self._not_yet("describe_endpoint")

    def invoke_endpoint(self, name: str, body: bytes, content_type: str, accept: str) -> bytes:
        self._not_yet("invoke_endpoint")

    def delete_endpoint(self, name: str) -> None:
        self._not_yet("delete_endpoint")

    def create_transform_job(self, request: Request) -> Request:
        self._not_yet("create_transform_job")

    def describe_transform_job(self, name: str) -> Request:
        self._not_yet("describe_transform_job")
