"""Served throughput and a mixed load run against ``ntm serve`` (gunicorn + uvicorn workers).

    python benchmarks/bench_serving.py [--workers 2] [--requests 12000] [--vocab 2000] [--topics 20]

1. Throughput: 100-row requests at concurrency 16 against the same model called in-process on the same
   batches, two ways: ``ModelService.invoke`` (decode + infer + render: the server's work minus HTTP) and
   ``TopicInference.topic_weights`` on already-decoded arrays (the model alone). Reports requests/s,
   rows/s, served/in-process ratios and p50/p99 latency per content type.
2. Load: ``--requests`` requests at concurrency 16 mixing every content type and Accept type with ~5%
   bad requests (wrong width, bad JSON, negative counts, unsupported type, over the payload limit).
   Passes only with zero 5xx, zero connection errors, every bad request refused with its 4xx, and every
   good response equal to the in-process answer.

The model has random weights of the trained layout (feature_dim = --vocab, encoder [3K, 2K], K topics);
documents are ~100-word bags of words. The server listens on 127.0.0.1 only and is always stopped.
"""

from __future__ import annotations

import os

# Before numpy loads: the in-process baseline is one caller, and a second BLAS thread on a busy 2-core
# machine made it 3-10x slower (thrashing), which would flatter the server. Workers get 1 thread too.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import http.client
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ntm import payloads
from ntm.core import encode_dense, encode_sparse
from ntm.plugins.local import endpoints
from ntm.plugins.local.architecture import hidden_plan
from ntm.plugins.local.artifact import ModelArtifact, dump_artifact
from ntm.plugins.local.inference import TopicInference
from ntm.plugins.local.invocations import ModelService

CONCURRENCY = 16
ROWS_PER_REQUEST = 100


def make_model(vocab: int, topics: int) -> ModelArtifact:
    rng = np.random.default_rng(0)
    layers = [3 * topics, 2 * topics]
    w = {"input_weight": rng.normal(0, 0.05, (vocab, layers[0])), "input_bias": rng.normal(0, 0.1, layers[0])}
    for i, (kind, sizes) in enumerate(hidden_plan(layers, False)):
        if kind == "linear":
            w[f"hidden.{i}.weight"] = rng.normal(0, 0.3, (sizes[1], sizes[0]))
            w[f"hidden.{i}.bias"] = rng.normal(0, 0.1, sizes[1])
    w.update({"mu.weight": rng.normal(0, 0.5, (topics, layers[-1])), "mu.bias": rng.normal(0, 0.1, topics),
              "mu_bn.running_mean": rng.normal(0, 0.1, topics), "mu_bn.running_var": rng.uniform(0.5, 1.5, topics),
              "beta": rng.normal(0, 1, (topics, vocab))})
    config = {"num_topics": topics, "vocab_size": vocab, "encoder_layers": layers, "activation": "sigmoid",
              "batch_norm": False}
    return ModelArtifact({k: v.astype(np.float32) for k, v in w.items()}, config)


def bodies_for(rows: np.ndarray) -> dict:
    """The same rows in every request format (name -> (content type, body))."""
    sparse = sp.csr_matrix(rows)
    return {
        "recordio-dense": (payloads.RECORDIO, encode_dense(rows)),
        "recordio-sparse": (payloads.RECORDIO, encode_sparse(sparse)),
        "csv": (payloads.CSV, "\n".join(",".join(map(str, r)) for r in rows.astype(int).tolist()).encode()),
        "json-dense": (payloads.JSON, json.dumps({"instances": [{"features": r} for r in rows.tolist()]}).encode()),
        "json-sparse": (payloads.JSON, json.dumps({"instances": [
            {"data": {"features": {"keys": sparse[i].indices.tolist(), "values": sparse[i].data.tolist(),
                                   "shape": [rows.shape[1]]}}} for i in range(rows.shape[0])]}).encode()),
        "jsonlines": (payloads.JSONLINES, "\n".join(json.dumps({"features": r}) for r in rows.tolist()).encode()),
    }


class Client:
    """One keep-alive connection per thread; counts connection errors instead of hiding them."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def post(self, body: bytes, content_type: str, accept: str):
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.perf_counter()
        connection.request("POST", "/invocations", body, {"Content-Type": content_type, "Accept": accept})
        response = connection.getresponse()
        payload = response.read()
        if response.getheader("connection", "").lower() == "close":
            connection.close()
            self.local.connection = None
        return response.status, payload, time.perf_counter() - started


def start_server(model: Path, workers: int, folder: Path):
    ready = folder / "ready.json"
    log = open(folder / "server.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "ntm.cli", "serve", str(model), "--host", "127.0.0.1",
                                "--port", "0", "--workers", str(workers), "--ready-file", str(ready)],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((folder / "server.log").read_text())
        time.sleep(0.05)
    port = json.loads(ready.read_text())["port"]
    time.sleep(1.0)  # let every worker boot
    return process, port


def stop_server(process) -> None:
    endpoints.stop_server(process.pid)  # the same drain-then-kill-the-group the local backend uses
    process.wait()


def throughput(client: Client, service: ModelService, inference: TopicInference, batches, fmt: str, seconds: float,
               rounds: int = 4):
    """Served and in-process rates, measured in alternating short rounds so both see the same background
    load (on a shared machine a one-off measurement of each can differ by 2x for unrelated reasons)."""
    requests = [bodies_for(rows)[fmt] for rows in batches]
    decoded = [payloads.parse_request(body, ct, service.feature_dim) for ct, body in requests]
    accept = payloads.RECORDIO if fmt.startswith("recordio") else payloads.JSON
    totals = {"invoke": [0, 0.0], "model": [0, 0.0], "served": [0, 0.0]}
    latencies = []

    def in_process(key, work, duration):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < duration:
            work(count % len(requests))
            count += 1
        totals[key][0] += count
        totals[key][1] += time.perf_counter() - started

    def served(duration):
        stop_at = time.perf_counter() + duration
        done = []

        def loop(thread: int):
            i = thread
            while time.perf_counter() < stop_at:
                content_type, body = requests[i % len(requests)]
                status, _, elapsed = client.post(body, content_type, accept)
                if status != 200:
                    raise RuntimeError(f"status {status}")
                done.append(elapsed)
                i += CONCURRENCY

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(loop, range(CONCURRENCY)))
        totals["served"][0] += len(done)
        totals["served"][1] += time.perf_counter() - started
        latencies.extend(done)

    for _ in range(rounds):
        in_process("invoke", lambda i: service.invoke(requests[i][1], requests[i][0], accept), seconds / rounds)
        in_process("model", lambda i: inference.topic_weights(decoded[i]), seconds / rounds)
        served(seconds / rounds)
    rate = {key: count / elapsed for key, (count, elapsed) in totals.items()}
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    return {"format": fmt, "served_rps": rate["served"], "invoke_rps": rate["invoke"], "model_rps": rate["model"],
            "vs_invoke": rate["served"] / rate["invoke"], "vs_model": rate["served"] / rate["model"],
            "p50_ms": p50, "p99_ms": p99}


def load_run(client: Client, inference: TopicInference, batches, total: int, vocab: int):
    accepts = list(payloads.RESPONSE_TYPES)
    good = []
    for index, rows in enumerate(batches):
        expected = inference.topic_weights(rows)
        for fmt, (content_type, body) in bodies_for(rows).items():
            good.append((content_type, body, expected, fmt))
    bad = [
        (payloads.CSV, b"1,2,3\n", 400), (payloads.JSON, b"{oops", 400), (payloads.CSV, b"", 400),
        (payloads.CSV, ",".join(["1"] * (vocab - 1) + ["-1"]).encode(), 400),
        (payloads.JSON, json.dumps({"instances": [{"data": {"features": {"keys": [vocab], "values": [1],
                                                                          "shape": [vocab]}}}]}).encode(), 400),
        ("image/png", b"\x89PNG", 415), (payloads.CSV, b"0," * (3 << 20) + b"0", 413),
    ]
    rng = random.Random(7)
    plan = []
    for i in range(total):
        if rng.random() < 0.05:
            plan.append(("bad", rng.choice(bad), rng.choice(accepts)))
        else:
            plan.append(("good", rng.choice(good), accepts[i % len(accepts)]))
    counts = {"ok": 0, "wrong": 0, "5xx": 0, "refused_as_expected": 0, "unexpected_status": 0, "connection_errors": 0}
    lock = threading.Lock()

    def one(item):
        kind, spec, accept = item
        try:
            status, payload, _ = client.post(spec[1], spec[0], accept)
        except (OSError, http.client.HTTPException):
            client.local.connection = None
            with lock:
                counts["connection_errors"] += 1
            return
        with lock:
            if status >= 500:
                counts["5xx"] += 1
            elif kind == "bad":
                counts["refused_as_expected" if status == spec[2] else "unexpected_status"] += 1
            elif status != 200:
                counts["unexpected_status"] += 1
            elif np.allclose(payloads.parse_response(payload, accept), spec[2], rtol=1e-5, atol=1e-6):
                counts["ok"] += 1
            else:
                counts["wrong"] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, plan))
    counts["seconds"] = time.perf_counter() - started
    counts["requests"] = total
    counts["passed"] = (counts["5xx"] == counts["connection_errors"] == counts["wrong"] == 0
                        and counts["unexpected_status"] == 0)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--requests", type=int, default=12000)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--topics", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each throughput measurement")
    args = parser.parse_args()

    artifact = make_model(args.vocab, args.topics)
    inference = TopicInference(artifact)
    service = ModelService(inference)
    rng = np.random.default_rng(1)
    batches = [rng.poisson(100 / args.vocab, (ROWS_PER_REQUEST, args.vocab)).astype(np.float32) for _ in range(32)]
    with tempfile.TemporaryDirectory(prefix="ntm-bench-serving-") as scratch:
        folder = Path(scratch)
        (folder / "model.tar.gz").write_bytes(dump_artifact(artifact))
        process, port = start_server(folder / "model.tar.gz", args.workers, folder)
        try:
            client = Client(port)
            print(f"model: feature_dim {args.vocab}, {args.topics} topics; {args.workers} workers; "
                  f"{os.cpu_count()} CPUs; {ROWS_PER_REQUEST}-row requests, concurrency {CONCURRENCY}")
            print(f"{'format':16} {'served req/s':>12} {'invoke req/s':>12} {'model req/s':>12} "
                  f"{'vs invoke':>9} {'vs model':>9} {'p50 ms':>7} {'p99 ms':>7}")
            for fmt in ("recordio-dense", "recordio-sparse", "json-sparse", "csv"):
                r = throughput(client, service, inference, batches, fmt, args.seconds)
                print(f"{r['format']:16} {r['served_rps']:12.0f} {r['invoke_rps']:12.0f} {r['model_rps']:12.0f} "
                      f"{r['vs_invoke']:9.0%} {r['vs_model']:9.0%} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f}")
            result = load_run(client, inference, batches, args.requests, args.vocab)
            print("load run:", json.dumps(result))
        finally:
            stop_server(process)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
