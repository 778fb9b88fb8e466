"""``NTMModel``: a trained model artifact that can be deployed to an endpoint or used for batch transform."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import plugins, storage
from .backend import ENDPOINT_TERMINAL, NTM_IMAGE
from .jobs import check_status, wait_for
from .naming import name_from_base
from .predictor import NTMPredictor
from .serializers import BaseDeserializer, BaseSerializer


class NTMModel:
    """A reference to NTM model data (``model.tar.gz``, an ``s3://`` or ``file://`` URI).

    ``deploy()`` creates an endpoint and returns an :class:`NTMPredictor`. The backend is ``backend=``
    if given, else ``$NTM_BACKEND``, else the one the deploy ``instance_type`` selects.

    >>> model = NTMModel("file:///tmp/out/job/output/model.tar.gz")            # doctest: +SKIP
    >>> predictor = model.deploy(initial_instance_count=1, instance_type="local")  # doctest: +SKIP
    """

    def __init__(self, model_data: str, role: Optional[str] = None, sagemaker_session: Any = None, *,
                 name: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                 predictor_cls=NTMPredictor, backend: Optional[str] = None, **kwargs) -> None:
        if not isinstance(model_data, str) or not model_data:
            raise ValueError(f"model_data must be the URI of a model.tar.gz, got {model_data!r}")
        self.model_data = model_data
        self.role = role
        self.sagemaker_session = sagemaker_session
        self.name = name
        self.env = dict(env or {})
        self.predictor_cls = predictor_cls
        self.image_uri = NTM_IMAGE
        self.backend = backend
        self.vpc_config = kwargs.pop("vpc_config", None)
        self.tags = kwargs.pop("tags", None)
        if kwargs:
            raise TypeError(f"NTMModel got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        self.endpoint_name: Optional[str] = None
        self._created_on: Optional[str] = None

    def _backend_for(self, instance_type: Optional[str]) -> str:
        return plugins.select_backend(self.backend, instance_type)

    def _create(self, backend_name: str, tags: Optional[List[Dict[str, str]]] = None) -> str:
        """Register the model on ``backend_name`` (once) and return its name."""
        if self._created_on == backend_name:
            return self.name
        self.name = self.name or name_from_base("ntm")
        request: Dict[str, Any] = {
            "ModelName": self.name,
            "PrimaryContainer": {"Image": self.image_uri, "ModelDataUrl": self.model_data,
                                 "Environment": dict(self.env)},
        }
        if self.role:
            request["ExecutionRoleArn"] = self.role
        if tags or self.tags:
            request["Tags"] = list(tags or self.tags)
        if self.vpc_config:
            request["VpcConfig"] = self.vpc_config
        plugins.get_backend(backend_name).create_model(request)
        self._created_on = backend_name
        return self.name

    def deploy(self, initial_instance_count: int = 1, instance_type: Optional[str] = None,
               serializer: Optional[BaseSerializer] = None, deserializer: Optional[BaseDeserializer] = None,
               endpoint_name: Optional[str] = None, wait: bool = True, tags=None, **_sdk_options) -> NTMPredictor:
        """Create an endpoint serving this model and return a predictor for it.

        ``wait`` blocks until the endpoint is ``InService`` (raising if it fails). SDK options such as
        ``accelerator_type`` or ``kms_key`` are accepted and ignored.
        """
        if isinstance(initial_instance_count, bool) or not isinstance(initial_instance_count, int) \
                or initial_instance_count < 1:
            raise ValueError(f"initial_instance_count must be a positive int, got {initial_instance_count!r}")
        backend_name = self._backend_for(instance_type)
        model_name = self._create(backend_name, tags)
        endpoint_name = endpoint_name or model_name
        backend = plugins.get_backend(backend_name)
        request: Dict[str, Any] = {
            "EndpointName": endpoint_name,
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model_name,
                                    "InitialInstanceCount": initial_instance_count,
                                    "InstanceType": instance_type or backend_name}],
        }
        if tags or self.tags:
            request["Tags"] = list(tags or self.tags)
        backend.create_endpoint(request)
        self.endpoint_name = endpoint_name
        if wait:
            description = wait_for(lambda: backend.describe_endpoint(endpoint_name), "EndpointStatus",
                                   ENDPOINT_TERMINAL, backend.poll_interval)
            check_status(description, "endpoint", endpoint_name, "EndpointStatus", ("InService",))
        return self.predictor_cls(endpoint_name, self.sagemaker_session, serializer=serializer,
                                  deserializer=deserializer, backend=backend_name)

    def transformer(self, instance_count: int = 1, instance_type: Optional[str] = None, **options):
        """A :class:`ntm.transformer.Transformer` that batch-scores files with this model."""
        from .transformer import Transformer

        backend_name = self._backend_for(instance_type)
        model_name = self._create(backend_name, options.get("tags"))
        return Transformer(model_name, instance_count, instance_type or backend_name,
                           backend=backend_name, **options)

    def topics(self, top_n: int = 20, relevance: float = 0.3) -> List[List[Any]]:
        """Each topic's ``top_n`` words, best first: words when the training job had a vocabulary
        (the ``auxiliary`` channel's vocab.txt), word ids otherwise.

        ``relevance`` (Sievert & Shirley's lambda, in [0, 1]) trades a word's probability in the topic
        (1.0: most probable words first) against how specific it is to the topic (lower values); the
        default is the training log's (ntm.plugins.local.topics.DEFAULT_RELEVANCE).

        Read from the model's own parameters, for models trained by the local backend (SageMaker's
        own model.tar.gz holds MXNet parameters, which ntm does not read).

        >>> NTMModel(estimator.model_data).topics(top_n=5)[0]   # doctest: +SKIP
        ['orbit', 'nasa', 'launch', 'shuttle', 'moon']
        """
        from ntm.plugins.local.artifact import load_artifact
        from ntm.plugins.local.topics import rank_topics, relevance_scores

        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise ValueError(f"top_n must be a positive integer, got {top_n!r}")
        artifact = load_artifact(storage.read_bytes(self.model_data), self.model_data)
        ranked = rank_topics(relevance_scores(artifact.weights, relevance), top_n)
        if artifact.vocabulary is None:
            return ranked
        return [[artifact.vocabulary[w] for w in topic] for topic in ranked]

    def delete_model(self) -> None:
        """Delete the model from the backend it was created on."""
        if self._created_on is None:
            raise ValueError("this model has not been created on a backend yet (deploy() or transformer() do)")
        plugins.get_backend(self._created_on).delete_model(self.name)

    def __repr__(self) -> str:
        return f"NTMModel(model_data={self.model_data!r}, name={self.name!r}, backend={self.backend!r})"
