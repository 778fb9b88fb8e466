"""``AwsSession``: the boto3 session behind the sagemaker backend (region, clients, account, role ARNs).

Credentials and region come from boto3's default chain (environment, ``~/.aws``, instance or container
role) unless a ``boto3.Session`` or a SageMaker SDK ``Session`` is handed over. boto3 honours
``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``), which is how the tests point it at moto.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Optional

from ntm.errors import CloudCredentialsError, CloudError, CloudRegionError, RoleResolutionError

from .aws_errors import call_aws, error_code
from .images import NTM_REGISTRIES, ntm_image_uri

#: The execution role used when an estimator or model names none (the SDK's get_execution_role() stand-in).
ROLE_ENV = "NTM_SAGEMAKER_ROLE"


class AwsSession:
    """One boto3 session and the clients made from it (boto3 clients are thread-safe, so they are shared).

    ``session``: a ``boto3.Session``, an object with a ``boto_session`` attribute (the SageMaker SDK's
    ``Session``), or None for boto3's default session.
    """

    def __init__(self, session: Any = None) -> None:
        import boto3

        self.boto_session = getattr(session, "boto_session", session) or boto3.Session()
        self._lock = threading.Lock()
        self._clients: Dict[str, Any] = {}
        self._account: Optional[str] = None
        self._roles: Dict[str, str] = {}

    @property
    def region(self) -> str:
        """The session's region; none, or one without the NTM image, raises ``CloudRegionError``."""
        region = self.boto_session.region_name
        if not region:
            raise CloudRegionError(
                "no AWS region is configured for the sagemaker backend. Set AWS_DEFAULT_REGION (or region "
                "in ~/.aws/config), or pass sagemaker_session=boto3.Session(region_name='us-west-2') to NTM",
                service="sagemaker", code="NoRegion")
        if region not in NTM_REGISTRIES:
            ntm_image_uri(region)  # raises the error that lists the regions offering NTM
        return region

    def client(self, service: str):
        """The client for ``service`` (``sagemaker``, ``sagemaker-runtime``, ``logs``, ``s3``...)."""
        with self._lock:
            if service not in self._clients:
                region = self.region  # checked first: it needs no lookup, credentials may
                if self.boto_session.get_credentials() is None:
                    raise CloudCredentialsError(
                        "the sagemaker backend found no AWS credentials. Configure them (aws configure, "
                        "AWS_PROFILE, aws sso login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or pass "
                        "sagemaker_session=boto3.Session(...) to NTM", service=service, code="NoCredentials")
                from botocore.config import Config

                # botocore retries transient errors itself; throttling gets ntm's longer loop on top
                # (aws_errors.call_aws) so the final error can say what happened.
                config = Config(retries={"max_attempts": 3, "mode": "standard"},
                                user_agent_extra="ntm-anywhere")
                self._clients[service] = self.boto_session.client(service, region_name=region, config=config)
            return self._clients[service]

    def account_id(self) -> str:
        """The caller's AWS account id (STS GetCallerIdentity, asked once)."""
        if self._account is None:
            identity = call_aws(self.client("sts").get_caller_identity, action="look up the caller of",
                                kind="AWS account", region=self.region, service="sts")
            self._account = identity["Account"]
        return self._account

    def role_arn(self, role: Optional[str]) -> str:
        """``role`` as an ARN: an ARN (anything with ``/``) unchanged, a bare name looked up in IAM,
        as the SageMaker SDK's ``expand_role`` does. No role: ``$NTM_SAGEMAKER_ROLE``, else an error."""
        role = role or os.environ.get(ROLE_ENV)
        if not role:
            raise RoleResolutionError(
                "SageMaker runs training jobs and models as an IAM execution role, and none was given: pass "
                "role='arn:aws:iam::<account>:role/<name>' (or the role's name) to NTM(...), or set "
                f"${ROLE_ENV}", service="iam", code="NoRole")
        if "/" in role:
            return role
        if role not in self._roles:
            self._roles[role] = self._look_up_role(role)
        return self._roles[role]

    def _look_up_role(self, name: str) -> str:
        iam = self.client("iam")
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except Exception as exc:  # translate the IAM failures a user can act on; re-raise the rest
            code = error_code(exc)
            if code == "NoSuchEntity":
                reason = "no IAM role has that name in this account"
            elif code in ("AccessDenied", "AccessDeniedException"):
                reason = "your credentials may not call iam:GetRole"
            else:
                raise
            raise RoleResolutionError(
                f"cannot resolve the IAM role {name!r} to an ARN: {reason}. Pass the full ARN "
                f"(arn:aws:iam::<account>:role/{name}) as role=, or create the role with SageMaker as a "
                "trusted entity", service="iam", code=code, resource=name) from exc

    def default_bucket(self) -> str:
        """``sagemaker-<region>-<account>``, the SDK's default bucket, created if it does not exist."""
        region, s3 = self.region, self.client("s3")
        bucket = f"sagemaker-{region}-{self.account_id()}"
        try:
            s3.head_bucket(Bucket=bucket)
            return bucket
        except Exception as exc:  # only "not there" leads to creating it; other failures are explained
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                from ntm.storage import explain_s3_error

                clear = explain_s3_error(exc, "use", f"s3://{bucket}/")
                if clear is None:
                    raise
                raise clear from exc
        request: Dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint of itself
            request["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            call_aws(s3.create_bucket, action="create", kind="S3 bucket", name=bucket, region=region,
                     service="s3", **request)
        except CloudError as exc:
            if exc.code != "BucketAlreadyOwnedByYou":  # another process created it first: fine
                raise
        return bucket
