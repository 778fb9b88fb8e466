"""A local training job's process: ``python -m ntm.plugins.local.worker JOB_NAME``.

It reads the job's request from the job store, fetches and checks its channels, trains, writes
``model.tar.gz`` atomically and records the outcome. Its stdout and stderr are the job's log. SIGTERM
(``stop_training_job``) stops it between epochs; any error marks the job Failed with the reason, so a
job never stays InProgress after its process is gone.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import traceback
from pathlib import Path
from typing import Dict, List, Optional

from ntm import storage
from ntm.backend import model_artifact_uri, training_channels
from ntm.errors import InvalidParameterError

from . import jobstore
from .artifact import dump_artifact
from .config import TrainingConfig
from .data import Channel, DataError, check_channel, read_vocabulary

DATA_CHANNELS = ("train", "validation", "test")
_stop = False


def log(line: str) -> None:
    stamp = dt.datetime.now().strftime("%m/%d/%Y %H:%M:%S")
    print(f"[{stamp} INFO] {line}", flush=True)


def channel_files(name: str, source: Dict, job: str, rank: int = 0, world: int = 1) -> List[Path]:
    """Local files of one channel; s3:// objects are downloaded into the job's folder first.

    ``ShardedByS3Key`` gives each of ``world`` workers every ``world``-th file, as SageMaker does.
    """
    import ntm.core as core

    uri = source.get("S3Uri", "")
    if source.get("S3DataType") == "ManifestFile":
        manifest = storage.download(uri, jobstore.job_dir(job) / "input" / name / ".amazon.manifest") \
            if storage.is_s3(uri) else storage.local_path(uri)
        uris = core.read_manifest(manifest)
    else:
        uris = storage.list_files(uri)
    if source.get("S3DataDistributionType") == "ShardedByS3Key" and world > 1:
        uris = uris[rank::world]
    files = []
    for index, item in enumerate(uris):
        if storage.is_s3(item):
            files.append(storage.download(item, jobstore.job_dir(job) / "input" / name / f"{index:05d}-{Path(item).name}"))
        else:
            files.append(storage.local_path(item))
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise DataError(f"channel '{name}': {len(missing)} files listed in {uri} do not exist, e.g. {missing[0]}")
    if not files and name in DATA_CHANNELS:
        raise DataError(f"channel '{name}': no files under {uri}")
    return files


def load_channels(request: Dict, config: TrainingConfig, job: str, rank: int = 0, world: int = 1):
    sources = training_channels(request)
    if "train" not in sources:
        raise DataError("the job has no 'train' channel")
    channels: Dict[str, Channel] = {}
    vocabulary: Optional[List[str]] = None
    content_types = {c["ChannelName"]: c.get("ContentType") for c in request.get("InputDataConfig", [])}
    for name, source in sources.items():
        files = channel_files(name, source, job, rank if name == "train" else 0, world)
        if name == "auxiliary":
            vocabulary = read_vocabulary(files, config.feature_dim)
        elif name in DATA_CHANNELS:
            channels[name] = check_channel(Channel(name, files, content_types.get(name)), config.feature_dim)
            log(f"channel '{name}': {channels[name].rows} documents, {channels[name].words:,.0f} words "
                f"in {len(files)} files")
        else:
            log(f"ignoring unknown channel '{name}'")
    return channels, vocabulary


def _on_sigterm(signum, frame) -> None:
    global _stop
    _stop = True


def join_workers(rank: int, world: int, address: str) -> None:
    """Join the job's other worker processes (torch.distributed, gloo on CPU)."""
    import datetime
    import torch.distributed

    torch.distributed.init_process_group("gloo", init_method=address, rank=rank, world_size=world,
                                         timeout=datetime.timedelta(minutes=10))


def run(job: str, rank: int = 0, world: int = 1, address: str = "") -> int:
    """Run worker ``rank`` of ``world`` for a job in the job store; rank 0 reports and writes the model."""
    import json

    from .trainer import train  # imports torch: after the cheap checks above have had their chance

    signal.signal(signal.SIGTERM, _on_sigterm)
    leader = rank == 0
    if leader:
        jobstore.update(job, started=jobstore.now(), secondary_status="Downloading")
    request = json.loads(jobstore.row(job)["request"])
    try:
        config = TrainingConfig.from_hyperparameters(request.get("HyperParameters") or {})
        channels, vocabulary = load_channels(request, config, job, rank, world)
        if world > 1:
            join_workers(rank, world, address)
            log(f"worker {rank} of {world} joined; training on {channels['train'].rows} documents of its shards")
        if leader:
            jobstore.update(job, secondary_status="Training")
        result = train(config, channels, vocabulary, log=log if leader else (lambda line: None),
                       metric=(lambda name, value: jobstore.add_metric(job, name, value)) if leader
                       else (lambda name, value: None),
                       should_stop=lambda: _stop or bool(jobstore.row(job)["stop_requested"]))
        if not leader:
            return 0
        if _stop or jobstore.row(job)["stop_requested"]:
            jobstore.finish(job, "Stopped", "Stopped")
            log("Training stopped on request")
            return 0
        jobstore.update(job, secondary_status="Uploading")
        uri = model_artifact_uri(request["OutputDataConfig"]["S3OutputPath"], job)
        storage.write_bytes(uri, dump_artifact(result.artifact))
        jobstore.finish(job, "Completed", "Completed", model_artifacts=uri)
        log(f"Model written to {uri}")
        return 0
    except (DataError, InvalidParameterError) as exc:
        jobstore.finish(job, "Failed", "Failed", f"ClientError: {exc}")
        log(f"ClientError: {exc}")
        return 1
    except BaseException as exc:  # the job must end Failed whatever went wrong, with the reason
        jobstore.finish(job, "Failed", "Failed", f"AlgorithmError: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        return 1


def main(argv: List[str]) -> int:
    """Run one worker. The local backend starts ``JOB --rank R --world N --address tcp://...``; under
    ``torchrun`` (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) the rank and group come from the
    environment, and ``--request FILE`` (a CreateTrainingJob JSON) registers the job in this machine's
    job store first, so the same training runs across machines."""
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(prog="python -m ntm.plugins.local.worker")
    parser.add_argument("job", nargs="?", help="a job already in $NTM_HOME's job store")
    parser.add_argument("--request", type=Path, help="a CreateTrainingJob request (JSON) to run instead")
    parser.add_argument("--rank", type=int, default=int(os.environ.get("RANK", 0)))
    parser.add_argument("--world", type=int, default=int(os.environ.get("WORLD_SIZE", 1)))
    parser.add_argument("--address", default="env://" if "MASTER_ADDR" in os.environ else "",
                        help="torch.distributed init method (tcp://host:port; env:// under torchrun)")
    args = parser.parse_args(argv)
    job = args.job
    if args.request is not None:
        request = json.loads(args.request.read_text(encoding="utf-8"))
        job = request["TrainingJobName"]
        try:
            jobstore.row(job)
        except Exception:
            jobstore.create(job, request)
        jobstore.job_dir(job).mkdir(parents=True, exist_ok=True)
        if args.rank == 0:
            jobstore.update(job, pid=os.getpid())
    if not job:
        parser.error("give a job name or --request FILE")
    return run(job, args.rank, args.world, args.address)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
