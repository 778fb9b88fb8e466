"""A local batch transform job: ``python -m ntm.plugins.local.transform JOB_NAME``.

Like SageMaker's: every input file (under an ``S3Prefix``, or listed by a ``ManifestFile``) is split into
records (``SplitType``: ``Line``, ``RecordIO`` or ``None`` for the whole file), records are packed into
requests (``MultiRecord``: as many as fit in ``MaxPayloadInMB``; ``SingleRecord``: one each), scored by
the same :class:`ModelService` the HTTP server runs (so the answers are byte-identical), and the
responses assembled in input order into ``<S3OutputPath>/<relative path>.out``. Requests run on
``InstanceCount x MaxConcurrentTransforms`` threads. Each ``.out`` is written atomically once its whole
file is scored, so a malformed row fails the job naming the file and row and leaves no partial output.
Progress goes to the job's row (``describe_transform_job``'s ``Progress``) and its log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

from ntm import payloads, storage
from ntm.backend import Request

from . import hostingstore, jobstore
from .invocations import InvocationError, ModelService

SPLIT_TYPES = ("Line", "RecordIO", "None")
STRATEGIES = ("MultiRecord", "SingleRecord")
_children: List[subprocess.Popen] = []


@dataclass
class Batch:
    """One request: the records' bytes and where they came from (first record's number, 1-based)."""
    body: bytes
    first_record: int
    record_numbers: List[int]


class TransformError(ValueError):
    """A file could not be transformed; the message names the file and the row."""


def check_request(request: Request) -> None:
    """Refuse a malformed request at creation, as SageMaker's CreateTransformJob does."""
    split = request["TransformInput"].get("SplitType", "None") or "None"
    if split not in SPLIT_TYPES:
        raise ValueError(f"TransformInput.SplitType must be one of {', '.join(SPLIT_TYPES)}, got {split!r}")
    strategy = request.get("BatchStrategy", "MultiRecord")
    if strategy not in STRATEGIES:
        raise ValueError(f"BatchStrategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    payload = request.get("MaxPayloadInMB", 6)
    if isinstance(payload, bool) or not isinstance(payload, int) or not 0 < payload <= 100:
        raise ValueError(f"MaxPayloadInMB must be an int in [1, 100], got {payload!r}")
    if request["TransformInput"].get("CompressionType", "None") not in ("None", None):
        raise ValueError("the local backend reads uncompressed input only (CompressionType 'None')")
    payloads.check_request_type(request["TransformInput"].get("ContentType", payloads.RECORDIO))
    payloads.check_response_type(request["TransformOutput"].get("Accept", payloads.JSON))


def log_path(name: str) -> Path:
    return hostingstore.transform_dir(name) / "log"


def start_job(name: str) -> None:
    folder = hostingstore.transform_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    with open(log_path(name), "ab") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "ntm.plugins.local.transform", name],
                                   stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=dict(os.environ, NTM_HOME=str(jobstore.home())))
    hostingstore.update("transform job", name, pid=process.pid)
    _children[:] = [child for child in _children if child.poll() is None]
    _children.append(process)


def reap_if_dead(name: str) -> None:
    """Mark an InProgress job whose process is gone as Failed (killed, machine rebooted)."""
    row = hostingstore.row("transform job", name)
    _children[:] = [child for child in _children if child.poll() is None]
    if row["status"] == "InProgress" and row["pid"] and not jobstore.pid_alive(row["pid"]):
        hostingstore.update_if("transform job", name, "InProgress", status="Failed", ended=jobstore.now(),
                               failure_reason=f"The transform process (pid {row['pid']}) exited without "
                                              f"reporting a result; see {log_path(name)}")


def input_files(source: Dict, job: str) -> List[Tuple[str, str]]:
    """``(uri, output name relative to the input prefix)`` for every input file, in order."""
    import ntm.core as core

    uri = source["S3Uri"]
    if source.get("S3DataType") == "ManifestFile":
        manifest = storage.download(uri, hostingstore.transform_dir(job) / ".manifest") \
            if storage.is_s3(uri) else storage.local_path(uri)
        prefix = json.loads(Path(manifest).read_text(encoding="utf-8"))[0]["prefix"]
        files = [storage.to_uri(item) for item in core.read_manifest(manifest)]
        base = storage.to_uri(prefix) if not storage.is_s3(prefix) else prefix
    else:
        files = storage.list_files(uri)
        base = uri
    base = base.rstrip("/")
    named = []
    for item in files:
        relative = item[len(base):].lstrip("/") if item.startswith(base + "/") else item.rsplit("/", 1)[-1]
        named.append((item, relative))
    return named


def split_records(data: bytes, split: str) -> Iterator[Tuple[int, bytes]]:
    """``(record number, bytes)`` of each record; Line numbers count every line, blank ones included."""
    if split == "None":
        yield 1, data
    elif split == "Line":
        for number, line in enumerate(data.split(b"\n"), start=1):
            if line.strip():
                yield number, line.rstrip(b"\r")
    else:
        import ntm.core as core

        offsets = core.record_offsets(data) + [len(data)]
        for number, (start, end) in enumerate(zip(offsets[:-1], offsets[1:]), start=1):
            yield number, data[start:end]


def make_batches(records: Iterator[Tuple[int, bytes]], split: str, strategy: str, limit: int,
                 where: str) -> Iterator[Batch]:
    joiner = b"\n" if split == "Line" else b""
    body: List[bytes] = []
    numbers: List[int] = []
    size = 0
    for number, record in records:
        if len(record) > limit:
            unit = "line" if split == "Line" else ("record" if split == "RecordIO" else "file")
            raise TransformError(f"{where} {unit} {number}: {len(record):,} bytes is more than MaxPayloadInMB "
                                 f"({limit // 2**20} MB); raise MaxPayloadInMB or split the input")
        if body and (strategy == "SingleRecord" or size + len(joiner) + len(record) > limit):
            yield Batch(joiner.join(body), numbers[0], numbers)
            body, numbers, size = [], [], 0
        size += len(record) + (len(joiner) if body else 0)
        body.append(record)
        numbers.append(number)
    if body:
        yield Batch(joiner.join(body), numbers[0], numbers)


def _score(service: ModelService, batch: Batch, content_type: str, accept: str, where: str, split: str) -> bytes:
    try:
        return service.invoke(batch.body, content_type, accept)[0]
    except InvocationError as exc:
        if exc.row is not None and 0 <= exc.row < len(batch.record_numbers) and split != "None":
            unit = "line" if split == "Line" else "record"
            place = f"{unit} {batch.record_numbers[exc.row]}"
        elif exc.row is not None:
            place = f"row {exc.row + 1}"
        else:
            place = f"records {batch.record_numbers[0]}-{batch.record_numbers[-1]}"
        raise TransformError(f"{where} {place}: {exc}") from None


def transform_file(service: ModelService, pool: ThreadPoolExecutor, data: bytes, request: Request,
                   where: str) -> Tuple[bytes, int]:
    """The assembled output of one input file and its number of records."""
    source = request["TransformInput"]
    split = source.get("SplitType") or "None"
    content_type = source.get("ContentType", payloads.RECORDIO)
    accept = request["TransformOutput"].get("Accept", payloads.JSON)
    line_assembly = request["TransformOutput"].get("AssembleWith", "None") == "Line"
    limit = request.get("MaxPayloadInMB", 6) * 1024 * 1024
    batches = list(make_batches(split_records(data, split), split, request.get("BatchStrategy", "MultiRecord"),
                                limit, where))
    responses = pool.map(lambda batch: _score(service, batch, content_type, accept, where, split), batches)
    parts = []
    for response in responses:
        if line_assembly and not response.endswith(b"\n"):
            response += b"\n"
        parts.append(response)
    return b"".join(parts), sum(len(batch.record_numbers) for batch in batches)


def _log(line: str) -> None:
    print(f"[{dt.datetime.now().strftime('%m/%d/%Y %H:%M:%S')} INFO] {line}", flush=True)


def _progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // max(total, 1)
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total} files"


def run(name: str) -> int:
    hostingstore.update("transform job", name, started=jobstore.now())
    row = hostingstore.row("transform job", name)
    request = json.loads(row["request"])
    try:
        files = input_files(request["TransformInput"]["DataSource"]["S3DataSource"], name)
        if not files:
            raise TransformError(f"no input files under {request['TransformInput']['DataSource']['S3DataSource']['S3Uri']}")
        service = ModelService.from_model_data(row["model_data"], max_payload_mb=request.get("MaxPayloadInMB", 6))
        threads = request["TransformResources"].get("InstanceCount", 1) * request.get("MaxConcurrentTransforms", 1)
        output = request["TransformOutput"]["S3OutputPath"]
        records = 0
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            for done, (uri, relative) in enumerate(files, start=1):
                scored, count = transform_file(service, pool, storage.read_bytes(uri), request, uri)
                storage.write_bytes(storage.join(output, relative + ".out"), scored)  # atomic: whole or none
                records += count
                hostingstore.update("transform job", name, progress=json.dumps(
                    {"FilesDone": done, "FilesTotal": len(files), "RecordsDone": records}))
                _log(f"{_progress_bar(done, len(files))}, {records} records; wrote {relative}.out")
        hostingstore.update("transform job", name, status="Completed", ended=jobstore.now())
        _log(f"Transform job {name} completed: {records} records in {len(files)} files")
        return 0
    except (TransformError, payloads.RequestError) as exc:
        hostingstore.update("transform job", name, status="Failed", ended=jobstore.now(),
                            failure_reason=f"ClientError: {exc}")
        _log(f"ClientError: {exc}")
        return 1
    except BaseException as exc:  # the job must end Failed, with the reason, whatever went wrong
        hostingstore.update("transform job", name, status="Failed", ended=jobstore.now(),
                            failure_reason=f"AlgorithmError: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
