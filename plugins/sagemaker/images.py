"""The NTM algorithm image of each region: ``ntm:1`` -> ``<account>.dkr.ecr.<region>.<domain>/ntm:1``.

The table is the SageMaker Python SDK's (2.257.x, ``image_uri_config/ntm.json``): Amazon publishes the
built-in algorithms from a different AWS account in every region, and the SDK is the only place that lists
them. Regions outside the ``aws`` partition have their own DNS suffix (the SDK's ``ALTERNATE_DOMAINS``).

>>> ntm_image_uri("us-west-2")
'174872318107.dkr.ecr.us-west-2.amazonaws.com/ntm:1'
"""

from __future__ import annotations

import difflib
from typing import Dict

from ntm.backend import NTM_IMAGE
from ntm.errors import CloudRegionError

NTM_REPOSITORY, NTM_VERSION = "ntm", "1"

#: region -> the AWS account that publishes the NTM image there (SDK 2.257.7, ntm.json, version "1").
NTM_REGISTRIES: Dict[str, str] = {
    "af-south-1": "455444449433",
    "ap-east-1": "286214385809",
    "ap-northeast-1": "351501993468",
    "ap-northeast-2": "835164637446",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "991648021394",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "475088953585",
    "ap-southeast-2": "712309505854",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "469771592824",
    "ca-west-1": "190319476487",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
    "eu-central-1": "664544806723",
    "eu-central-2": "680994064768",
    "eu-north-1": "669576153137",
    "eu-south-1": "257386234256",
    "eu-south-2": "104374241257",
    "eu-west-1": "438346466558",
    "eu-west-2": "644912444149",
    "eu-west-3": "749696950732",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "249704162688",
    "sa-east-1": "855470959533",
    "us-east-1": "382416733822",
    "us-east-2": "404615174143",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "226302683700",
    "us-iso-east-1": "490574956308",
    "us-isob-east-1": "765400339828",
    "us-isof-east-1": "108575199400",
    "us-isof-south-1": "124985052026",
    "us-west-1": "632365934929",
    "us-west-2": "174872318107",
}

#: DNS suffixes of regions outside the commercial partition (the SDK's ``utils.ALTERNATE_DOMAINS``).
REGION_DOMAINS: Dict[str, str] = {
    "cn-north-1": "amazonaws.com.cn",
    "cn-northwest-1": "amazonaws.com.cn",
    "us-iso-east-1": "c2s.ic.gov",
    "us-isob-east-1": "sc2s.sgov.gov",
    "us-isof-south-1": "csp.hci.ic.gov",
    "us-isof-east-1": "csp.hci.ic.gov",
}


def ntm_image_uri(region: str) -> str:
    """The ECR URI of the NTM algorithm image in ``region``; an unknown region raises
    :class:`ntm.errors.CloudRegionError` listing the regions that have it."""
    account = NTM_REGISTRIES.get(region)
    if account is None:
        close = difflib.get_close_matches(str(region), list(NTM_REGISTRIES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise CloudRegionError(
            f"SageMaker's NTM algorithm is not published in region {region!r}.{hint} Set AWS_DEFAULT_REGION "
            f"(or the session's region) to one of: {', '.join(sorted(NTM_REGISTRIES))}",
            service="sagemaker", code="UnknownRegion", resource=str(region))
    domain = REGION_DOMAINS.get(region, "amazonaws.com")
    return f"{account}.dkr.ecr.{region}.{domain}/{NTM_REPOSITORY}:{NTM_VERSION}"


def resolve_image(image: str, region: str) -> str:
    """``ntm:1`` (what the estimator names) as the region's ECR URI; any other image unchanged, so a
    user's own build of the algorithm (a full ECR URI) still works."""
    return ntm_image_uri(region) if image == NTM_IMAGE else image
