"""Helpers for the serving tests: a model.tar.gz without training, and a server that always stops."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
from ntm.plugins.local import endpoints
from ntm.plugins.local.architecture import hidden_plan
from ntm.plugins.local.artifact import ModelArtifact, dump_artifact

FEATURE_DIM, NUM_TOPICS = 40, 4


def random_artifact(feature_dim: int = FEATURE_DIM, num_topics: int = NUM_TOPICS, batch_norm: bool = True,
                    seed: int = 0) -> ModelArtifact:
    """A model with random weights laid out as the trainer saves them (``hidden_plan`` order)."""
    rng = np.random.default_rng(seed)
    layers = [3 * num_topics, 2 * num_topics]
    weights: Dict[str, np.ndarray] = {
        "input_weight": rng.normal(0, 0.3, (feature_dim, layers[0])).astype(np.float32),
        "input_bias": rng.normal(0, 0.1, layers[0]).astype(np.float32),
    }
    for index, (kind, sizes) in enumerate(hidden_plan(layers, batch_norm)):
        prefix = f"hidden.{index}."
        if kind == "linear":
            weights[prefix + "weight"] = rng.normal(0, 0.3, (sizes[1], sizes[0])).astype(np.float32)
            weights[prefix + "bias"] = rng.normal(0, 0.1, sizes[1]).astype(np.float32)
        elif kind == "batch_norm":
            width = sizes[0]
            weights[prefix + "running_mean"] = rng.normal(0, 0.1, width).astype(np.float32)
            weights[prefix + "running_var"] = rng.uniform(0.5, 1.5, width).astype(np.float32)
            weights[prefix + "weight"] = rng.uniform(0.8, 1.2, width).astype(np.float32)
            weights[prefix + "bias"] = rng.normal(0, 0.1, width).astype(np.float32)
    weights["mu.weight"] = rng.normal(0, 0.5, (num_topics, layers[-1])).astype(np.float32)
    weights["mu.bias"] = rng.normal(0, 0.1, num_topics).astype(np.float32)
    weights["mu_bn.running_mean"] = rng.normal(0, 0.1, num_topics).astype(np.float32)
    weights["mu_bn.running_var"] = rng.uniform(0.5, 1.5, num_topics).astype(np.float32)
    weights["beta"] = rng.normal(0, 1, (num_topics, feature_dim)).astype(np.float32)
    config = {"num_topics": num_topics, "vocab_size": feature_dim, "encoder_layers": layers,
              "activation": "sigmoid", "batch_norm": batch_norm}
    topics = [list(map(int, np.argsort(-row)[:5])) for row in weights["beta"]]
    return ModelArtifact(weights, config, {}, topics, None)


def write_model(path: Path, **options) -> Path:
    path.write_bytes(dump_artifact(random_artifact(**options)))
    return path


def request(port: int, method: str, path: str, body: Optional[bytes] = None,
            headers: Optional[Dict[str, str]] = None, timeout: float = 30) -> Tuple[int, Dict[str, str], bytes]:
    """One HTTP request on a fresh connection: ``(status, headers, body)``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def running_server(model: Path, tmp_path: Path, workers: int = 1, extra=()) -> Iterator[Tuple[subprocess.Popen, int]]:
    """``ntm serve`` on 127.0.0.1 and a free port; yields ``(process, port)``; always stops it."""
    ready = tmp_path / f"ready-{time.monotonic_ns()}.json"
    log = open(tmp_path / "server.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "ntm.cli", "serve", str(model), "--host", "127.0.0.1",
                                "--port", "0", "--workers", str(workers), "--ready-file", str(ready), *extra],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        deadline = time.monotonic() + 60
        port = None
        while time.monotonic() < deadline and process.poll() is None:
            if ready.exists():
                port = json.loads(ready.read_text())["port"]
                with contextlib.suppress(OSError):
                    if request(port, "GET", "/ping", timeout=2)[0] == 200:
                        break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the server did not become ready: {(tmp_path / 'server.log').read_text()}")
        yield process, port
    finally:
        endpoints.stop_server(process.pid)  # the local backend's own drain-then-kill-the-group
        process.wait()
        log.close()
