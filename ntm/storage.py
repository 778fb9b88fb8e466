"""Reading and writing data by URI: ``file://`` (or a plain path) on this machine, ``s3://`` through boto3.

One small seam, dispatched on the scheme, so record sets, training jobs and transform jobs never care
where the bytes live. Local writes are atomic (temporary file, then rename); S3 writes use boto3's
managed transfers (multipart above the threshold). boto3 is imported only when an ``s3://`` URI is used.

>>> uri = to_uri("/tmp/data")
>>> uri
'file:///tmp/data'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, List, Tuple, Union
from urllib.parse import quote, unquote, urlparse

from .errors import MissingDependencyError

PathOrUri = Union[str, os.PathLike]
HOME_ENV = "NTM_HOME"


def ntm_home() -> Path:
    """The folder holding ntm's local state and default data: ``$NTM_HOME`` or ``~/.ntm``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".ntm").expanduser()


def is_s3(uri: PathOrUri) -> bool:
    return isinstance(uri, str) and uri.startswith("s3://")


def to_uri(location: PathOrUri) -> str:
    """``s3://`` URIs unchanged; a plain (possibly relative) path or ``file://`` URI as an absolute
    ``file://`` URI, so it still means the same place to a backend running in another process."""
    if is_s3(location):
        return location
    text = os.fspath(location)
    trailing = "/" if text.endswith(("/", os.sep)) else ""
    path = Path(_file_path(text)) if text.startswith("file://") else Path(text).expanduser()
    return "file://" + quote(str(path.absolute())) + trailing


def local_path(uri: PathOrUri) -> Path:
    """The local path a ``file://`` URI or plain path names (``s3://`` is refused)."""
    if is_s3(uri):
        raise ValueError(f"{uri} is an s3:// URI; download it first (ntm.storage.download)")
    text = os.fspath(uri)
    return Path(_file_path(text) if text.startswith("file://") else text).expanduser()


def _file_path(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise ValueError(f"{uri}: file:// URIs name a local path (file:///abs/path), not host {parsed.netloc!r}")
    return unquote(parsed.path)


def join(base: str, *parts: str) -> str:
    """Join URI (or path) pieces with single slashes: ``join("s3://b/p/", "x", "y") == "s3://b/p/x/y"``."""
    out = base.rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


def split_s3(uri: str) -> Tuple[str, str]:
    """``s3://bucket/key`` as ``("bucket", "key")``."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


def s3_client():
    """A boto3 S3 client from the default credential chain (boto3 imported here, lazily)."""
    try:
        import boto3
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(
            "s3:// locations need boto3, which is not installed; install it with: "
            "pip install 'ntm-anywhere[sagemaker]'") from exc
    return boto3.client("s3")


@contextlib.contextmanager
def open_write(uri: PathOrUri) -> Iterator[BinaryIO]:
    """A binary file to write ``uri`` through; the object appears only if the block completes.

    Local: a temporary file in the target folder, renamed over the target. S3: a local temporary
    file uploaded with a managed (multipart when large) transfer.
    """
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with tempfile.TemporaryFile() as spool:
            yield spool
            spool.seek(0)
            s3_client().upload_fileobj(spool, bucket, key)
        return
    path = local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(uri: PathOrUri, data: Union[bytes, bytearray, memoryview]) -> None:
    """Write ``data`` to ``uri`` atomically."""
    with open_write(uri) as out:
        out.write(data)


def read_bytes(uri: PathOrUri) -> bytes:
    """The whole object at ``uri``."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return local_path(uri).read_bytes()


def delete(uri: PathOrUri) -> None:
    """Remove the object (or local folder) at ``uri``; a missing one is not an error."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        s3_client().delete_object(Bucket=bucket, Key=key)
        return
    path = local_path(uri)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def exists(uri: PathOrUri) -> bool:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        found = s3_client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return any(obj["Key"] == key for obj in found.get("Contents", []))
    return local_path(uri).exists()


def list_files(prefix: PathOrUri) -> List[str]:
    """Every object under ``prefix`` (a folder, a key prefix or a single file), sorted, as URIs.

    Names starting with a dot (``.amazon.manifest``, temporary files) are left out.
    """
    if is_s3(prefix):
        bucket, key = split_s3(prefix)
        paginator = s3_client().get_paginator("list_objects_v2")
        keys = [obj["Key"] for page in paginator.paginate(Bucket=bucket, Prefix=key)
                for obj in page.get("Contents", [])]
        return sorted(f"s3://{bucket}/{k}" for k in keys if not Path(k).name.startswith("."))
    path = local_path(prefix)
    if path.is_file():
        return [to_uri(path)]
    if not path.is_dir():
        return []
    return sorted(to_uri(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def download(uri: PathOrUri, destination: PathOrUri) -> Path:
    """Copy the object at ``uri`` to the local file ``destination`` (managed transfer for S3)."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if is_s3(uri):
        bucket, key = split_s3(uri)
        s3_client().download_file(bucket, key, str(destination))
    else:
        shutil.copyfile(local_path(uri), destination)
    return destination
