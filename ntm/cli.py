"""The ``ntm`` command. One subcommand per function registered in :data:`COMMANDS`.

``ntm serve MODEL_DATA`` runs a model's inference server in the foreground, speaking SageMaker's
container contract (``/ping``, ``/invocations``, ``/execution-parameters``), so a model trained anywhere
can be shipped in a bring-your-own-container image::

    ntm serve file:///opt/ml/model/model.tar.gz --port 8080 --workers 4

A new subcommand is a function ``add(subparsers)`` that adds its parser and sets ``handler`` (a callable
taking the parsed arguments and returning an exit status) with ``set_defaults``; append it to
:data:`COMMANDS`. Heavy imports belong inside handlers so ``ntm --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, List, Optional


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number in [0, 65535] (0: any free port), got {text!r}")
    return value


def _run_serve(args: argparse.Namespace) -> int:
    from ntm.plugins.local import serving

    serving.limit_blas_threads()  # before numpy loads: one BLAS thread per worker process
    from ntm.plugins.local.artifact import ArtifactError

    try:
        serving.serve(args.model_data, host=args.host, port=args.port, workers=args.workers,
                      max_payload_mb=args.max_payload_mb, ready_file=args.ready_file,
                      access_log=args.access_log)
    except (ArtifactError, FileNotFoundError) as exc:
        print(f"ntm serve: cannot load the model: {exc}", file=sys.stderr)
        return 2
    return 0


def add_serve(subparsers) -> None:
    from ntm.plugins.local.serving import DEFAULT_HOST, DEFAULT_PORT, SAGEMAKER_MODEL_DIR

    parser = subparsers.add_parser(
        "serve", help="serve a model.tar.gz over HTTP (SageMaker's container contract)",
        description="Serve MODEL_DATA in the foreground: GET /ping, POST /invocations (text/csv, "
                    "application/json, application/jsonlines, application/x-recordio-protobuf), "
                    "GET /execution-parameters. SIGTERM drains in-flight requests, then exits.")
    parser.add_argument("model_data", metavar="MODEL_DATA", nargs="?", default=SAGEMAKER_MODEL_DIR,
                        help="the model.tar.gz a local training job wrote (a path, file:// or s3:// URI), or a "
                             f"folder holding it or its unpacked files (default {SAGEMAKER_MODEL_DIR}, where "
                             "SageMaker puts a container's model)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT,
                        help=f"port to bind (default {DEFAULT_PORT}, SageMaker's; 0 picks a free one)")
    parser.add_argument("--workers", type=_positive_int, default=1,
                        help="worker processes (default 1; about one per CPU core)")
    parser.add_argument("--max-payload-mb", type=float, default=None,
                        help="largest request body in MB (default $NTM_MAX_PAYLOAD_MB or 6); larger ones get 413")
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    parser.add_argument("--ready-file", default=None, help=argparse.SUPPRESS)  # endpoints learn the port here
    parser.set_defaults(handler=_run_serve)


#: Functions that add one subcommand each (see the module docstring).
COMMANDS: List[Callable] = [add_serve]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ntm", description="Amazon SageMaker's Neural Topic Model, anywhere.")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``ntm`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
