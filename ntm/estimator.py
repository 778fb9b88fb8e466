"""``NTM``: the SageMaker Neural Topic Model estimator, running on whichever backend the instance type picks."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional

from . import plugins, storage
from .analytics import TrainingJobAnalytics
from .backend import NTM_IMAGE
from .channels import input_data_config
from .errors import InvalidParameterError
from .hyperparameters import Boolean, Choice, Float, Integer, PositiveIntList, descriptors, serialize_all
from .jobs import TrainingJob, find_owner
from .model import NTMModel
from .naming import base_from_name, name_from_base
from .predictor import NTMPredictor
from .record_set import RecordSet, write_record_set

# SDK EstimatorBase options we accept so ported code runs; they change nothing outside SageMaker.
_IGNORED_SDK_OPTIONS = frozenset({
    "use_spot_instances", "max_wait", "checkpoint_s3_uri", "checkpoint_local_path", "rules",
    "debugger_hook_config", "tensorboard_output_config", "enable_sagemaker_metrics", "profiler_config",
    "disable_profiler", "environment", "max_retry_attempts", "container_log_level", "code_location",
    "metric_definitions", "encrypt_inter_container_traffic", "keep_alive_period_in_seconds",
    "disable_output_compression", "enable_infra_check", "enable_remote_debug", "model_uri",
    "model_channel_name", "image_uri",
})
_NOT_FITTED = "Estimator is not associated with a training job; call fit() or NTM.attach() first"


class NTM:
    """An unsupervised algorithm that organises a corpus of documents into topics (SageMaker's NTM).

    The seed (SDK v1) signature ``NTM(role, train_instance_count, train_instance_type, num_topics, ...)``
    and the SDK v2 spelling ``instance_count``/``instance_type`` both work. ``instance_type`` picks the
    backend: ``"local"`` (PyTorch on this machine), ``"ml.*"`` (SageMaker), ``"mock"`` (instant, for
    tests); ``backend=`` or ``$NTM_BACKEND`` override it.

    >>> ntm = NTM(role=None, instance_count=1, instance_type="mock", num_topics=5)
    >>> ntm.hyperparameters()
    {'num_topics': '5'}
    """

    repo_name = "ntm"
    repo_version = "1"

    feature_dim = Integer("feature_dim", low=1)
    mini_batch_size = Integer("mini_batch_size", low=1)
    num_topics = Integer("num_topics", 2, 1000, "An integer in [2, 1000]")
    encoder_layers = PositiveIntList("encoder_layers", "A comma separated list of positive integers")
    epochs = Integer("epochs", 1, 100, "An integer in [1, 100]")
    encoder_layers_activation = Choice("encoder_layers_activation", ("sigmoid", "tanh", "relu"),
                                       'One of "sigmoid", "tanh" or "relu"')
    optimizer = Choice("optimizer", ("adagrad", "adam", "rmsprop", "sgd", "adadelta"),
                       'One of "adagrad", "adam", "rmsprop", "sgd" and "adadelta"')
    tolerance = Float("tolerance", 1e-6, 0.1, "A float in [1e-6, 0.1]")
    num_patience_epochs = Integer("num_patience_epochs", 1, 10, "An integer in [1, 10]")
    batch_norm = Boolean("batch_norm", "Value must be a boolean")
    rescale_gradient = Float("rescale_gradient", 1e-3, 1.0, "A float in [1e-3, 1.0]")
    clip_gradient = Float("clip_gradient", 1e-3, sdk_text="A float greater equal to 1e-3")
    weight_decay = Float("weight_decay", 0.0, 1.0, "A float in [0.0, 1.0]")
    learning_rate = Float("learning_rate", 1e-6, 1.0, "A float in [1e-6, 1.0]")
    # The algorithm's own hyperparameters that the SDK's class does not expose.
    sub_sample = Float("sub_sample", 1e-6, 1.0, "A float in (0, 1]")
    seed = Integer("seed", 0, 2**31 - 1, "An integer in [0, 2**31 - 1]")

    def __init__(self, role: Optional[str] = None, instance_count: Optional[int] = None,
                 instance_type: Optional[str] = None, num_topics: Optional[int] = None,
                 encoder_layers: Optional[List[int]] = None, epochs: Optional[int] = None,
                 encoder_layers_activation: Optional[str] = None, optimizer: Optional[str] = None,
                 tolerance: Optional[float] = None, num_patience_epochs: Optional[int] = None,
                 batch_norm: Optional[bool] = None, rescale_gradient: Optional[float] = None,
                 clip_gradient: Optional[float] = None, weight_decay: Optional[float] = None,
                 learning_rate: Optional[float] = None, *, sub_sample: Optional[float] = None,
                 seed: Optional[int] = None, train_instance_count: Optional[int] = None,
                 train_instance_type: Optional[str] = None, backend: Optional[str] = None,
                 data_location: Optional[str] = None, output_path: Optional[str] = None,
                 base_job_name: Optional[str] = None, sagemaker_session: Any = None,
                 tags: Optional[List[Dict[str, str]]] = None, volume_size: int = 30,
                 max_run: int = 24 * 60 * 60, input_mode: str = "File", output_kms_key: Optional[str] = None,
                 volume_kms_key: Optional[str] = None, subnets: Optional[List[str]] = None,
                 security_group_ids: Optional[List[str]] = None, enable_network_isolation: bool = False,
                 **kwargs) -> None:
        unknown = sorted(set(kwargs) - _IGNORED_SDK_OPTIONS)
        if unknown:
            raise TypeError(f"NTM() got unexpected keyword arguments: {', '.join(unknown)}")
        self.sdk_options = dict(kwargs)
        self.role = role
        self.instance_count = _one_of("instance_count", instance_count, "train_instance_count",
                                      train_instance_count)
        self.instance_type = _one_of("instance_type", instance_type, "train_instance_type", train_instance_type)
        if self.instance_count is None:
            self.instance_count = 1
        if isinstance(self.instance_count, bool) or not isinstance(self.instance_count, int) \
                or self.instance_count < 1:
            raise InvalidParameterError(f"The 'instance_count' parameter of NTM must be an int in the range "
                                        f"[1, inf). Got {self.instance_count!r} instead.", parameter="instance_count")
        if self.instance_type is not None and not isinstance(self.instance_type, str):
            raise InvalidParameterError(f"The 'instance_type' parameter of NTM must be a str such as 'local', "
                                        f"'ml.c5.xlarge' or 'mock'. Got {self.instance_type!r} instead.",
                                        parameter="instance_type")
        self.backend = backend
        self.data_location = data_location
        self.output_path = output_path
        self.base_job_name = base_job_name
        self.sagemaker_session = sagemaker_session
        self.tags = tags
        self.volume_size, self.max_run, self.input_mode = volume_size, max_run, input_mode
        self.output_kms_key, self.volume_kms_key = output_kms_key, volume_kms_key
        self.subnets, self.security_group_ids = subnets, security_group_ids
        self.enable_network_isolation = enable_network_isolation
        self.latest_training_job: Optional[TrainingJob] = None
        self._current_job_name: Optional[str] = None
        self._deployed_endpoint: Optional[str] = None
        self.num_topics = num_topics
        self.encoder_layers = encoder_layers
        self.epochs = epochs
        self.encoder_layers_activation = encoder_layers_activation
        self.optimizer = optimizer
        self.tolerance = tolerance
        self.num_patience_epochs = num_patience_epochs
        self.batch_norm = batch_norm
        self.rescale_gradient = rescale_gradient
        self.clip_gradient = clip_gradient
        self.weight_decay = weight_decay
        self.learning_rate = learning_rate
        self.sub_sample = sub_sample
        self.seed = seed

    # ----- configuration --------------------------------------------------------------------------
    @property
    def train_instance_count(self) -> int:
        """The SDK v1 name of ``instance_count``."""
        return self.instance_count

    @property
    def train_instance_type(self) -> Optional[str]:
        """The SDK v1 name of ``instance_type``."""
        return self.instance_type

    @property
    def data_location(self) -> Optional[str]:
        """Where ``record_set`` writes: an ``s3://`` or ``file://`` prefix or a path (ends with ``/``).
        None means the backend's default (a folder under ``$NTM_HOME`` for local backends)."""
        return self._data_location

    @data_location.setter
    def data_location(self, value: Optional[str]) -> None:
        if value is not None:
            if not isinstance(value, str) and not hasattr(value, "__fspath__"):
                raise TypeError(f"data_location must be an s3:// or file:// URI or a path, got {type(value).__name__}")
            value = storage.to_uri(value)
            value = value if value.endswith("/") else value + "/"
        self._data_location = value

    @property
    def backend_name(self) -> str:
        """The backend this estimator uses: ``backend``, else ``$NTM_BACKEND``, else by ``instance_type``."""
        if self.latest_training_job is not None:
            return self.latest_training_job.backend_name
        return plugins.select_backend(self.backend, self.instance_type)

    def training_image_uri(self) -> str:
        """The algorithm image name (``ntm:1``); the sagemaker backend maps it to the regional ECR URI."""
        return NTM_IMAGE

    def hyperparameters(self) -> Dict[str, str]:
        """The set hyperparameters as the strings sent to training (lists as JSON, the rest via ``str``)."""
        return serialize_all(self)

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Constructor arguments and their current values (scikit-learn's protocol)."""
        return {name: getattr(self, name) for name in _param_names(type(self))}

    def set_params(self, **params) -> "NTM":
        """Set constructor arguments by name, validating hyperparameters; return ``self``."""
        valid = _param_names(type(self))
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                                 f"Valid parameters are: {sorted(valid)!r}.")
            setattr(self, name, value)
        return self

    # ----- data -----------------------------------------------------------------------------------
    def record_set(self, train, labels=None, channel: str = "train", encrypt: bool = False,
                   distribution: str = "ShardedByS3Key", *, progress: Optional[bool] = None) -> RecordSet:
        """Write ``train`` (and ``labels``) as RecordIO shards, one per instance, and return a RecordSet.

        ``train``: a 2-D numpy array, a scipy.sparse matrix (sparse records), or an iterator of row
        chunks for corpora larger than memory. Written under ``data_location`` (``s3://``, ``file://``
        or a path; default: the backend's). ``encrypt`` stores the objects encrypted at rest on S3 (SSE-S3).
        """
        location = self.data_location
        if location is None or self.sagemaker_session is not None:
            backend = self._backend(self.backend_name)  # hands the session to s3:// writes too
            location = location or backend.default_data_location()
        return write_record_set(train, labels, location=location, num_shards=self.instance_count,
                                channel=channel, distribution=distribution, name_prefix=type(self).__name__,
                                progress=progress, encrypt=encrypt)

    def _backend(self, name: str):
        """The backend ``name``, handed this estimator's ``sagemaker_session`` when it has one."""
        backend = plugins.get_backend(name)
        if self.sagemaker_session is not None:
            backend.use_session(self.sagemaker_session)
        return backend

    # ----- training -------------------------------------------------------------------------------
    def fit(self, records, mini_batch_size: Optional[int] = None, wait: bool = True, logs: bool = True,
            job_name: Optional[str] = None, experiment_config: Optional[Dict[str, str]] = None) -> None:
        """Train on ``records``: a RecordSet, a list of them (one channel each), or a dict
        ``{channel: RecordSet | URI}`` (``auxiliary`` holds ``vocab.txt``).

        ``wait`` blocks until the job ends (printing its logs when ``logs``); otherwise return at once
        and use ``latest_training_job`` or ``NTM.attach(name)`` later.
        """
        if mini_batch_size is not None:
            mini_batch_size = _check_mini_batch_size(mini_batch_size)
        channels, feature_dim = input_data_config(records)
        if self.num_topics is None:
            raise InvalidParameterError("The 'num_topics' parameter of NTM is required before fit(). Got None "
                                        "instead.", parameter="num_topics")
        if feature_dim is not None:
            self.feature_dim = feature_dim
        elif self.feature_dim is None:
            raise ValueError("feature_dim is unknown: the train channel is a URI, not a RecordSet; "
                             "set estimator.feature_dim (the vocabulary size) before fit()")
        self.mini_batch_size = mini_batch_size
        backend_name = plugins.select_backend(self.backend, self.instance_type)
        backend = self._backend(backend_name)
        job_name = job_name or name_from_base(self.base_job_name or self.repo_name)
        if self.output_path is None:
            self.output_path = backend.default_output_path()
        backend.create_training_job(self._training_request(job_name, channels, backend_name))
        self._current_job_name = job_name
        self.latest_training_job = TrainingJob(backend_name, job_name)
        if wait:
            self.latest_training_job.wait(logs=logs)

    def _training_request(self, job_name: str, channels, backend_name: str) -> Dict[str, Any]:
        output = {"S3OutputPath": storage.to_uri(self.output_path)}
        if self.output_kms_key:
            output["KmsKeyId"] = self.output_kms_key
        resources: Dict[str, Any] = {"InstanceCount": self.instance_count,
                                     "InstanceType": self.instance_type or backend_name,
                                     "VolumeSizeInGB": self.volume_size}
        if self.volume_kms_key:
            resources["VolumeKmsKeyId"] = self.volume_kms_key
        request: Dict[str, Any] = {
            "TrainingJobName": job_name,
            "AlgorithmSpecification": {"TrainingImage": self.training_image_uri(),
                                       "TrainingInputMode": self.input_mode},
            "HyperParameters": self.hyperparameters(),
            "InputDataConfig": channels,
            "OutputDataConfig": output,
            "ResourceConfig": resources,
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_run},
            "EnableNetworkIsolation": bool(self.enable_network_isolation),
        }
        if self.role:
            request["RoleArn"] = self.role
        if self.tags:
            request["Tags"] = list(self.tags)
        if self.subnets or self.security_group_ids:
            request["VpcConfig"] = {"Subnets": list(self.subnets or []),
                                    "SecurityGroupIds": list(self.security_group_ids or [])}
        return request

    @classmethod
    def attach(cls, training_job_name: str, sagemaker_session: Any = None, *, backend: Optional[str] = None,
               logs: bool = True) -> "NTM":
        """An estimator bound to an existing training job, rebuilt from the job's description.

        If the job is still running, block until it ends, printing its logs (``logs=False`` to stay quiet).
        The backend is ``backend=`` if given, else the one that knows the job; ``sagemaker_session`` is
        handed to it (and to the ``sagemaker`` backend before the search, so it looks in the right account).
        """
        if sagemaker_session is not None:
            plugins.get_backend(plugins.select_backend(backend or "sagemaker")).use_session(sagemaker_session)
        owner = find_owner("describe_training_job", training_job_name, backend)
        job = plugins.get_backend(owner).describe_training_job(training_job_name)
        resources = job.get("ResourceConfig", {})
        params: Dict[str, Any] = {
            "role": job.get("RoleArn"), "instance_count": resources.get("InstanceCount", 1),
            "instance_type": resources.get("InstanceType"),
            "output_path": job.get("OutputDataConfig", {}).get("S3OutputPath"),
            "base_job_name": base_from_name(training_job_name), "backend": owner,
            "sagemaker_session": sagemaker_session,
        }
        if "VolumeSizeInGB" in resources:
            params["volume_size"] = resources["VolumeSizeInGB"]
        if "MaxRuntimeInSeconds" in job.get("StoppingCondition", {}):
            params["max_run"] = job["StoppingCondition"]["MaxRuntimeInSeconds"]
        hyperparameters = dict(job.get("HyperParameters") or {})
        constructor = inspect.signature(cls.__init__).parameters
        for attribute, descriptor in descriptors(cls).items():
            if descriptor.name in hyperparameters and attribute in constructor:
                params[attribute] = hyperparameters.pop(descriptor.name)
        estimator = cls(**params)
        for attribute, descriptor in descriptors(cls).items():  # set by fit(), not the constructor
            if descriptor.name in hyperparameters:
                setattr(estimator, attribute, hyperparameters[descriptor.name])
        estimator._current_job_name = training_job_name
        estimator.latest_training_job = TrainingJob(owner, training_job_name)
        if job.get("TrainingJobStatus") not in ("Completed", "Failed", "Stopped"):
            estimator.latest_training_job.wait(logs=logs)
        return estimator

    @property
    def model_data(self) -> Optional[str]:
        """URI of the trained ``model.tar.gz`` (None before ``fit``)."""
        if self.latest_training_job is None:
            return None
        job = self.latest_training_job.describe()
        uri = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if not uri:
            raise ValueError(f"training job {self.latest_training_job.name} has no model artifact "
                             f"(status {job.get('TrainingJobStatus')}); wait for it to complete")
        return uri

    @property
    def training_job_analytics(self) -> TrainingJobAnalytics:
        """Metrics of the latest training job (``.dataframe()``: timestamp, metric_name, value)."""
        if self._current_job_name is None:
            raise ValueError("Estimator is not associated with a TrainingJob")
        return TrainingJobAnalytics(self._current_job_name, backend=self.latest_training_job.backend_name)

    # ----- hosting --------------------------------------------------------------------------------
    def create_model(self, vpc_config_override: Any = None, **kwargs) -> NTMModel:
        """An :class:`NTMModel` for the latest training job's artifact, on the same backend."""
        self._ensure_fitted()
        kwargs.setdefault("tags", self.tags)
        role = kwargs.pop("role", self.role)
        return NTMModel(self.model_data, role, self.sagemaker_session,
                        backend=self.latest_training_job.backend_name, **kwargs)

    def deploy(self, initial_instance_count: int = 1, instance_type: Optional[str] = None, serializer=None,
               deserializer=None, endpoint_name: Optional[str] = None, wait: bool = True, **kwargs) -> NTMPredictor:
        """Deploy the trained model and return an :class:`NTMPredictor`.

        Defaults as the seed documents: one instance of the training ``instance_type``, the endpoint
        named after the training job.
        """
        self._ensure_fitted()
        model_kwargs = {key: kwargs.pop(key) for key in ("env", "name") if key in kwargs}
        model = self.create_model(**model_kwargs) if model_kwargs else self._job_model()
        predictor = model.deploy(initial_instance_count, instance_type or self.instance_type, serializer,
                                 deserializer, endpoint_name=endpoint_name or self.latest_training_job.name,
                                 wait=wait, **kwargs)
        self._deployed_endpoint = predictor.endpoint_name
        return predictor

    def delete_endpoint(self) -> None:
        """Delete the endpoint ``deploy`` created (SDK v1); raises ``ValueError`` if it does not exist."""
        self._ensure_fitted()
        name = self._deployed_endpoint or self.latest_training_job.name
        self.latest_training_job.backend.delete_endpoint(name)

    def transformer(self, instance_count: int = 1, instance_type: Optional[str] = None, strategy=None,
                    assemble_with=None, output_path=None, output_kms_key=None, accept=None, env=None,
                    max_concurrent_transforms=None, max_payload=None, tags=None, role=None,
                    volume_kms_key=None, **kwargs):
        """A :class:`ntm.transformer.Transformer` that batch-scores files with the trained model."""
        self._ensure_fitted()
        model = self.create_model(role=role) if role else self._job_model()
        return model.transformer(instance_count, instance_type or self.instance_type, strategy=strategy,
                                 assemble_with=assemble_with, output_path=output_path,
                                 output_kms_key=output_kms_key, accept=accept, env=env,
                                 max_concurrent_transforms=max_concurrent_transforms, max_payload=max_payload,
                                 tags=tags or self.tags, volume_kms_key=volume_kms_key,
                                 base_transform_job_name=self.base_job_name, **kwargs)

    def _job_model(self) -> NTMModel:
        # One model per training job, created on the backend once, however often deploy() and
        # transformer() are called (SageMaker refuses a second model of the same name).
        job_name = self.latest_training_job.name
        if getattr(self, "_model", None) is None or self._model_job != job_name:
            self._model, self._model_job = self.create_model(), job_name
        return self._model

    def _ensure_fitted(self) -> None:
        if self.latest_training_job is None:
            raise ValueError(_NOT_FITTED)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.get_params().items() if v is not None}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _one_of(name: str, value, old_name: str, old_value):
    if value is not None and old_value is not None:
        raise TypeError(f"NTM() got both {name}={value!r} and {old_name}={old_value!r}; pass {name} only "
                        f"({old_name} is the SDK v1 spelling of the same argument)")
    return old_value if value is None else value


def _check_mini_batch_size(value) -> int:
    parsed = Integer("mini_batch_size", 1, 10000, "")
    try:
        return parsed.coerce(value, "NTM.fit")
    except InvalidParameterError as exc:
        raise InvalidParameterError(str(exc), parameter="mini_batch_size",
                                    sdk_message="mini_batch_size must be in [1, 10000]") from None


def _param_names(cls) -> List[str]:
    # Constructor arguments, without the SDK v1 aliases (they name the same values) and **kwargs.
    skip = {"self", "kwargs", "train_instance_count", "train_instance_type"}
    return [name for name in inspect.signature(cls.__init__).parameters if name not in skip]
