"""End to end on real AWS: record_set, fit, deploy, predict, transform, delete. Costs money, takes ~15 min.

Skipped unless opted in (see README, "On SageMaker")::

    NTM_TEST_AWS=1 NTM_TEST_AWS_BUCKET=my-bucket NTM_TEST_AWS_ROLE=MySageMakerRole \\
    AWS_DEFAULT_REGION=us-west-2 python -m pytest -m aws tests/test_sagemaker_real_aws.py
"""

import os

import numpy as np
import pytest
from sagemaker_fixtures import real_aws_environment

from ntm import NTM, storage
from ntm.serializers import JSONDeserializer

pytestmark = pytest.mark.aws
REQUIRED = ("NTM_TEST_AWS_BUCKET", "NTM_TEST_AWS_ROLE")


@pytest.fixture
def real_aws(monkeypatch):
    """The AWS settings this process started with (the suite hides them from every other test)."""
    if os.environ.get("NTM_TEST_AWS") != "1" or not all(os.environ.get(name) for name in REQUIRED):
        pytest.skip("real-AWS test: set NTM_TEST_AWS=1, NTM_TEST_AWS_BUCKET and NTM_TEST_AWS_ROLE to run it")
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in real_aws_environment().items():
        monkeypatch.setenv(name, value)
    return os.environ["NTM_TEST_AWS_BUCKET"], os.environ["NTM_TEST_AWS_ROLE"]


def test_the_estimator_trains_deploys_and_scores_on_sagemaker(real_aws):
    bucket, role = real_aws
    prefix = f"s3://{bucket}/ntm-anywhere-e2e"
    counts = np.random.default_rng(0).poisson(0.3, (500, 50)).astype(np.float32)
    estimator = NTM(role, 1, "ml.c5.xlarge", num_topics=3, epochs=2, data_location=prefix + "/data/",
                    output_path=prefix + "/output/", base_job_name="ntm-anywhere-e2e")
    estimator.fit(estimator.record_set(counts, encrypt=True), mini_batch_size=100)
    assert estimator.training_job_analytics.rows()
    predictor = estimator.deploy(1, "ml.m5.large", deserializer=JSONDeserializer())
    try:
        weights = [p["topic_weights"] for p in predictor.predict(counts[:2])["predictions"]]
        assert len(weights) == 2 and all(abs(sum(w) - 1) < 1e-3 for w in weights)
    finally:
        predictor.delete_model()
        predictor.delete_endpoint()
    storage.write_bytes(prefix + "/score/rows.csv", b"\n".join(b",".join(b"%g" % v for v in row) for row in counts[:5]))
    transformer = estimator.transformer(1, "ml.m5.large", output_path=prefix + "/scores/", accept="application/json")
    transformer.transform(prefix + "/score/", content_type="text/csv")
    assert storage.read_bytes(prefix + "/scores/rows.csv.out")
