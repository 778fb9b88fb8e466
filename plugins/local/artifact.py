"""``model.tar.gz``: what a local training job leaves behind, and loading it back safely.

The archive holds only data formats that cannot run code when read:

- ``weights.npz``   the model's parameters and batch-norm statistics (numpy, read with allow_pickle=False)
- ``model.json``    format version, sizes, architecture and the job's hyperparameters (strings)
- ``metrics.json``  the final metrics
- ``topics.json``   each topic's top word ids, best first (and words, with a vocabulary)
- ``vocab.txt``     the auxiliary channel's vocabulary, when the job had one

Members are read into memory by name with size limits; nothing is extracted to disk, so a hostile
archive cannot write files, and anything unexpected is a clear :class:`ArtifactError`.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

FORMAT = "ntm-anywhere/1"
MEMBER_LIMIT = 2 << 30  # 2 GiB: far above any real model, far below a decompression bomb's ambitions


class ArtifactError(ValueError):
    """A model.tar.gz is corrupt, foreign (not written by ntm's local backend) or incomplete."""


@dataclass
class ModelArtifact:
    weights: Dict[str, np.ndarray]
    config: dict
    metrics: Dict[str, float] = field(default_factory=dict)
    topics: List[List[int]] = field(default_factory=list)
    vocabulary: Optional[List[str]] = None

    @property
    def num_topics(self) -> int:
        return int(self.config["num_topics"])

    @property
    def vocab_size(self) -> int:
        return int(self.config["vocab_size"])


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def dump_artifact(artifact: ModelArtifact) -> bytes:
    """Serialize an artifact into the bytes of a model.tar.gz."""
    weights = io.BytesIO()
    np.savez(weights, **{k: np.ascontiguousarray(v) for k, v in artifact.weights.items()})
    config = dict(artifact.config, format=FORMAT)
    topics = {"topics": artifact.topics}
    if artifact.vocabulary is not None:
        topics["words"] = [[artifact.vocabulary[w] for w in t] for t in artifact.topics]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        _add(tar, "weights.npz", weights.getvalue())
        _add(tar, "model.json", json.dumps(config, indent=1).encode())
        _add(tar, "metrics.json", json.dumps(artifact.metrics, indent=1).encode())
        _add(tar, "topics.json", json.dumps(topics).encode())
        if artifact.vocabulary is not None:
            _add(tar, "vocab.txt", "".join(w + "\n" for w in artifact.vocabulary).encode())
    return out.getvalue()


def _read_member(tar: tarfile.TarFile, name: str, source: str, required: bool = True) -> Optional[bytes]:
    try:
        info = tar.getmember(name)
    except KeyError:
        if required:
            raise ArtifactError(f"{source}: not an ntm model archive (no {name}); was it trained by the local "
                                "backend? SageMaker's own model.tar.gz holds MXNet parameters ntm cannot read") from None
        return None
    if not info.isfile() or info.size > MEMBER_LIMIT:
        raise ArtifactError(f"{source}: {name} is not a regular file of sane size")
    handle = tar.extractfile(info)
    return handle.read() if handle is not None else b""


def load_artifact(data: bytes, source: str = "model.tar.gz") -> ModelArtifact:
    """Parse model.tar.gz bytes; raise :class:`ArtifactError` naming ``source`` if they are not ours."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            raw_config = _read_member(tar, "model.json", source)
            raw_weights = _read_member(tar, "weights.npz", source)
            raw_metrics = _read_member(tar, "metrics.json", source, required=False)
            raw_topics = _read_member(tar, "topics.json", source, required=False)
            raw_vocab = _read_member(tar, "vocab.txt", source, required=False)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArtifactError(f"{source}: not a readable tar.gz archive ({exc})") from exc
    try:
        config = json.loads(raw_config)
        metrics = json.loads(raw_metrics) if raw_metrics else {}
        topics = json.loads(raw_topics)["topics"] if raw_topics else []
        vocabulary = raw_vocab.decode("utf-8").split("\n")[:-1] if raw_vocab is not None else None
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{source}: corrupt metadata ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ArtifactError(f"{source}: unknown model format {config.get('format') if isinstance(config, dict) else config!r}"
                            f" (this ntm reads {FORMAT})")
    try:
        with np.load(io.BytesIO(raw_weights), allow_pickle=False) as npz:
            weights = {k: npz[k] for k in npz.files}
    except (ValueError, OSError) as exc:
        raise ArtifactError(f"{source}: corrupt weights.npz ({exc})") from exc
    return ModelArtifact(weights, config, metrics, topics, vocabulary)
