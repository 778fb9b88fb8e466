"""``NTMPredictor``: sends rows to an endpoint, returns one topic-weight Record per row."""

from __future__ import annotations

import io
from typing import Any, Dict, Optional

from . import plugins
from .jobs import find_owner
from .serializers import BaseDeserializer, BaseSerializer, RecordDeserializer, RecordSerializer


class NTMPredictor:
    """Transforms input vectors to their topic mixture (a lower-dimensional representation).

    ``predict(array)`` takes a 1-D (one row) or 2-D numpy array (or a scipy.sparse matrix) with as many
    columns as the model's ``feature_dim`` and, with the default serializers, returns a list of
    :class:`ntm.core.Record`, one per row. The topic vector is in ``record.label["topic_weights"]`` and,
    for code written after the SDK v1 docs, also in ``record.label["projection"]``.

    >>> predictor = NTMPredictor("my-endpoint", backend="mock")      # doctest: +SKIP
    >>> predictor.predict(rows)[0].label["topic_weights"].float32_tensor.values  # doctest: +SKIP
    """

    def __init__(self, endpoint_name: str, sagemaker_session: Any = None,
                 serializer: Optional[BaseSerializer] = None, deserializer: Optional[BaseDeserializer] = None,
                 component_name: Optional[str] = None, *, backend: Optional[str] = None) -> None:
        self.endpoint_name = endpoint_name
        self.sagemaker_session = sagemaker_session
        self.serializer = serializer if serializer is not None else RecordSerializer()
        self.deserializer = deserializer if deserializer is not None else RecordDeserializer()
        self.component_name = component_name
        self._backend_name = backend

    @property
    def endpoint(self) -> str:
        """The SDK v1 name of ``endpoint_name``."""
        return self.endpoint_name

    @property
    def backend_name(self) -> str:
        """The backend serving this endpoint (found by asking the backends when not given)."""
        if self._backend_name is None:
            self._backend_name = find_owner("describe_endpoint", self.endpoint_name)
        return self._backend_name

    @property
    def content_type(self) -> str:
        return self.serializer.CONTENT_TYPE

    @property
    def accept(self):
        return self.deserializer.ACCEPT

    def predict(self, data, initial_args: Optional[Dict[str, str]] = None, **_ignored):
        """Serialize ``data``, invoke the endpoint, deserialize the response.

        ``initial_args`` may override ``ContentType`` and ``Accept`` as in the SDK; the SDK's other
        keyword arguments (``target_model``, ``inference_id``...) are accepted and ignored.
        """
        args = dict(initial_args or {})
        content_type = args.get("ContentType", self.content_type)
        accept = args.get("Accept", ", ".join(self.accept))
        body = _to_bytes(self.serializer.serialize(data))
        response = plugins.get_backend(self.backend_name).invoke_endpoint(
            self.endpoint_name, body, content_type, accept)
        result = self.deserializer.deserialize(io.BytesIO(response), accept)
        _add_projection(result)
        return result

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        """Delete the endpoint (raises ``ValueError`` if it does not exist)."""
        backend = plugins.get_backend(self.backend_name)
        # Remembered so delete_model() still works afterwards, the order SDK v2 examples use.
        self._model_names = self._serving_models(backend)
        backend.delete_endpoint(self.endpoint_name)

    def delete_model(self) -> None:
        """Delete the model behind this endpoint (before or after ``delete_endpoint``)."""
        backend = plugins.get_backend(self.backend_name)
        names = getattr(self, "_model_names", None)
        for name in names if names is not None else self._serving_models(backend):
            backend.delete_model(name)

    def _serving_models(self, backend) -> list:
        variants = backend.describe_endpoint(self.endpoint_name).get("ProductionVariants", [])
        return [variant["ModelName"] for variant in variants if variant.get("ModelName")]

    def __repr__(self) -> str:
        return f"NTMPredictor(endpoint_name={self.endpoint_name!r}, backend={self._backend_name!r})"


def _to_bytes(body) -> bytes:
    if hasattr(body, "getvalue"):
        return body.getvalue()
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError(f"the serializer returned {type(body).__name__}; a serializer must return bytes, str "
                    "or a binary file")


def _add_projection(result) -> None:
    # The SDK v1 docs (the seed) say the vector is under "projection"; the algorithm writes
    # "topic_weights". Give code written against either name what it looks for.
    if not isinstance(result, list):
        return
    for record in result:
        label = getattr(record, "label", None)
        if label is not None and "topic_weights" in label and "projection" not in label:
            label["projection"].CopyFrom(label["topic_weights"])
