"""Reading and writing data by URI: ``file://`` (or a plain path) on this machine, ``s3://`` through boto3.

One small seam, dispatched on the scheme, so record sets, training jobs and transform jobs never care
where the bytes live. Local writes are atomic (temporary file, then rename); S3 writes use boto3's
managed transfers (multipart above 8 MB, parts in parallel threads, retried with backoff), optionally
with server-side encryption (``encrypt=True``: SSE-S3, AES256, as the SageMaker SDK asks for). boto3 is
imported only when an ``s3://`` URI is used. S3 failures a user can fix (a missing bucket, access denied,
no credentials) raise one :class:`ntm.errors.CloudError` subclass naming the bucket and what to do.

>>> uri = to_uri("/tmp/data")
>>> uri
'file:///tmp/data'
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, List, Optional, Tuple, Union
from urllib.parse import quote, unquote, urlparse

from .errors import BucketAccessError, CloudCredentialsError, MissingDependencyError

PathOrUri = Union[str, os.PathLike]
HOME_ENV = "NTM_HOME"
#: ``ExtraArgs`` for an encrypted upload: SSE-S3, the SDK's ``encrypt=True``.
SSE_ARGS = {"ServerSideEncryption": "AES256"}
_MULTIPART_BYTES = 8 * 1024 * 1024
# None: boto3's default session (environment, ~/.aws, instance role); see use_boto3_session().
_boto3_session = None


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


def use_boto3_session(session) -> None:
    """Make ``s3://`` reads and writes use ``session`` (a ``boto3.Session``; None: the default chain).

    The ``sagemaker`` backend calls this with the session it was configured with, so record sets land
    in the account and region its jobs run in.
    """
    global _boto3_session
    _boto3_session = session


def s3_client():
    """A boto3 S3 client (boto3 imported here, lazily) that retries throttling and transient errors."""
    try:
        import boto3
        from botocore.config import Config
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(
            "s3:// locations need boto3, which is not installed; install it with: "
            "pip install 'ntm-anywhere[sagemaker]'") from exc
    factory = _boto3_session or boto3
    return factory.client("s3", config=Config(retries={"max_attempts": 10, "mode": "standard"}))


def _transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=_MULTIPART_BYTES, multipart_chunksize=_MULTIPART_BYTES,
                          max_concurrency=8, use_threads=True)


@contextlib.contextmanager
def _s3_errors(action: str, uri: str) -> Iterator[None]:
    """Turn the S3 failures a user can fix into one clear exception; re-raise anything else."""
    try:
        yield
    except Exception as exc:
        clear = explain_s3_error(exc, action, uri)
        if clear is None:
            raise
        raise clear from exc


def explain_s3_error(exc: Exception, action: str, uri: str) -> Optional[Exception]:
    """The clear ntm exception for an S3 failure while doing ``action`` to ``uri`` (missing bucket, access
    denied, bad or missing credentials); None when ``exc`` is something else."""
    kind = type(exc).__name__
    bucket = urlparse(uri).netloc
    if kind in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
        return CloudCredentialsError(
            f"cannot {action} {uri}: no AWS credentials found ({exc}). Configure them (aws configure, "
            "AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or use a file:// location",
            service="s3", code=kind, resource=uri)
    # Managed transfers wrap the service error in S3UploadFailedError text; ClientError carries a code.
    response = getattr(exc, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    if not code:
        found = re.search(r"\((\w+)\)", str(exc))
        code = found.group(1) if found and kind in ("S3UploadFailedError", "ClientError") else ""
    if code in ("NoSuchBucket",):
        return BucketAccessError(
            f"cannot {action} {uri}: the S3 bucket {bucket!r} does not exist. Create it (aws s3 mb "
            f"s3://{bucket}) in the region your jobs run in, or point data_location/output_path at a "
            "bucket you own", service="s3", code=code, resource=bucket)
    if code in ("AccessDenied", "403", "AllAccessDisabled", "AccountProblem"):
        return BucketAccessError(
            f"cannot {action} {uri}: access to the S3 bucket {bucket!r} is denied ({code}). Grant your "
            f"credentials s3:GetObject/PutObject/ListBucket on arn:aws:s3:::{bucket}/*, or use a bucket "
            "you own", service="s3", code=code, resource=bucket)
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "TokenRefreshRequired"):
        return CloudCredentialsError(
            f"cannot {action} {uri}: S3 rejected your AWS credentials ({code}). Refresh them (aws sso "
            "login, new keys) and try again", service="s3", code=code, resource=uri)
    return None


@contextlib.contextmanager
def open_write(uri: PathOrUri, *, encrypt: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write ``uri`` through; the object appears only if the block completes.

    Local: a temporary file in the target folder, renamed over the target. S3: a local temporary
    file uploaded with a managed transfer (multipart and parallel when large); ``encrypt`` asks S3 to
    encrypt it at rest (SSE-S3). ``encrypt`` means nothing for local files.
    """
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with tempfile.TemporaryFile() as spool:
            yield spool
            spool.seek(0)
            with _s3_errors("upload to", uri):
                s3_client().upload_fileobj(spool, bucket, key, ExtraArgs=dict(SSE_ARGS) if encrypt else None,
                                           Config=_transfer_config())
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


def write_bytes(uri: PathOrUri, data: Union[bytes, bytearray, memoryview], *, encrypt: bool = False) -> None:
    """Write ``data`` to ``uri`` atomically (``encrypt``: SSE-S3 for ``s3://``)."""
    with open_write(uri, encrypt=encrypt) as out:
        out.write(data)


def read_bytes(uri: PathOrUri) -> bytes:
    """The whole object at ``uri``."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with _s3_errors("read", uri):
            return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return local_path(uri).read_bytes()


def delete(uri: PathOrUri) -> None:
    """Remove the object (or local folder) at ``uri``; a missing one is not an error."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        with _s3_errors("delete", uri):
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
        with _s3_errors("look for", uri):
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
        with _s3_errors("list", str(prefix)):
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
        with _s3_errors("download", uri):
            s3_client().download_file(bucket, key, str(destination), Config=_transfer_config())
    else:
        shutil.copyfile(local_path(uri), destination)
    return destination
