"""Batch transform: score every file under a prefix with a model, as SageMaker's ``Transformer`` does."""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional

from . import payloads, plugins, storage
from .backend import TRANSFORM_TERMINAL
from .jobs import check_status, wait_for
from .naming import name_from_base

_STRATEGIES = {"MULTI_RECORD": "MultiRecord", "SINGLE_RECORD": "SingleRecord",
               "MultiRecord": "MultiRecord", "SingleRecord": "SingleRecord"}
_SPLIT_FOR = {payloads.RECORDIO: "RecordIO", payloads.CSV: "Line", payloads.JSONLINES: "Line",
              payloads.JSON: "None"}


class Transformer:
    """Runs transform jobs for one model. Made by ``NTM.transformer()`` or ``NTMModel.transformer()``.

    >>> transformer = estimator.transformer(1, "mock", output_path="file:///tmp/scores/")  # doctest: +SKIP
    >>> transformer.transform("file:///tmp/to-score/", content_type="text/csv")           # doctest: +SKIP
    """

    def __init__(self, model_name: str, instance_count: int, instance_type: str, strategy: Optional[str] = None,
                 assemble_with: Optional[str] = None, output_path: Optional[str] = None,
                 output_kms_key: Optional[str] = None, accept: Optional[str] = None,
                 max_concurrent_transforms: Optional[int] = None, max_payload: Optional[int] = None,
                 tags: Optional[List[Dict[str, str]]] = None, env: Optional[Dict[str, str]] = None,
                 base_transform_job_name: Optional[str] = None, sagemaker_session: Any = None,
                 volume_kms_key: Optional[str] = None, *, backend: Optional[str] = None, **_ignored) -> None:
        if strategy is not None and strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be 'MultiRecord' or 'SingleRecord', got {strategy!r}")
        if assemble_with not in (None, "Line", "None"):
            raise ValueError(f"assemble_with must be 'Line' or 'None', got {assemble_with!r}")
        self.model_name = model_name
        self.instance_count = instance_count
        self.instance_type = instance_type
        self.strategy = _STRATEGIES.get(strategy) if strategy else None
        self.assemble_with = assemble_with
        self.output_path = output_path
        self.accept = accept
        self.max_concurrent_transforms = max_concurrent_transforms
        self.max_payload = max_payload
        self.tags = tags
        self.env = env
        self.base_transform_job_name = base_transform_job_name or model_name
        self.sagemaker_session = sagemaker_session
        self.backend_name = plugins.select_backend(backend, instance_type)
        self.latest_transform_job: Optional[str] = None

    def transform(self, data: str, data_type: str = "S3Prefix", content_type: Optional[str] = None,
                  compression_type: Optional[str] = None, split_type: Optional[str] = None,
                  job_name: Optional[str] = None, wait: bool = True, logs: bool = True, **_ignored) -> None:
        """Start a transform job over ``data`` (an ``s3://``/``file://`` prefix or a local path)."""
        if data_type not in ("S3Prefix", "ManifestFile"):
            raise ValueError(f"data_type must be 'S3Prefix' or 'ManifestFile', got {data_type!r}")
        backend = plugins.get_backend(self.backend_name)
        job_name = job_name or name_from_base(self.base_transform_job_name)
        if self.output_path is None:
            self.output_path = storage.join(backend.default_output_path(), job_name) + "/"
        content_type = content_type or payloads.RECORDIO
        request: Dict[str, Any] = {
            "TransformJobName": job_name,
            "ModelName": self.model_name,
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": storage.to_uri(data)}},
                "ContentType": content_type,
                "SplitType": split_type or _SPLIT_FOR.get(payloads.media_type(content_type), "None"),
                "CompressionType": compression_type or "None",
            },
            "TransformOutput": {"S3OutputPath": storage.to_uri(self.output_path),
                                "Accept": self.accept or payloads.JSON,
                                "AssembleWith": self.assemble_with or "None"},
            "TransformResources": {"InstanceType": self.instance_type, "InstanceCount": self.instance_count},
        }
        optional = {"BatchStrategy": self.strategy, "MaxPayloadInMB": self.max_payload,
                    "MaxConcurrentTransforms": self.max_concurrent_transforms, "Environment": self.env,
                    "Tags": self.tags}
        request.update({key: value for key, value in optional.items() if value is not None})
        backend.create_transform_job(request)
        self.latest_transform_job = job_name
        if wait:
            self.wait(logs=logs)

    def wait(self, logs: bool = True) -> Dict[str, Any]:
        """Block until the latest transform job ends; raise if it failed.

        With ``logs``, a progress bar goes to stderr for backends that report progress (the local one's
        ``describe_transform_job`` has ``Progress: {"FilesDone", "FilesTotal", "RecordsDone"}``).
        """
        if self.latest_transform_job is None:
            raise ValueError("no transform job has been started yet; call transform() first")
        backend = plugins.get_backend(self.backend_name)
        name = self.latest_transform_job
        shown: List[Any] = [None]

        def describe() -> Dict[str, Any]:
            description = backend.describe_transform_job(name)
            progress = description.get("Progress")
            if logs and progress and progress != shown[0]:
                shown[0] = progress
                _show_progress(progress, final=description.get("TransformJobStatus") in TRANSFORM_TERMINAL)
            return description

        description = wait_for(describe, "TransformJobStatus", TRANSFORM_TERMINAL, backend.poll_interval)
        check_status(description, "Transform job", name, "TransformJobStatus", ("Completed", "Stopped"))
        return description


def _show_progress(progress: Dict[str, Any], final: bool, width: int = 30) -> None:
    done, total = int(progress.get("FilesDone", 0)), max(int(progress.get("FilesTotal", 0)), 1)
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files, "
                     f"{progress.get('RecordsDone', 0)} records" + ("\n" if final or done >= total else ""))
    sys.stderr.flush()
