"""The sagemaker backend against moto in server mode (real HTTP on 127.0.0.1): the estimator's whole
life cycle, what lands in S3, and the requests SageMaker records."""

import json
import time

import boto3
import numpy as np
import pytest

from ntm import NTM, NTMModel, storage
from ntm.core import decode
from ntm.errors import BucketAccessError, ResourceNotFoundError, RoleResolutionError
from ntm.serializers import CSVSerializer, JSONDeserializer
from ntm.testing import check_backend
from sagemaker_fixtures import BUCKET, REGION, ROLE_NAME, FakeNtmContainer, queue_endpoint_results, sagemaker_backend

ROWS = np.random.default_rng(3).poisson(1.0, (40, 6)).astype(np.float32)
IMAGE = "174872318107.dkr.ecr.us-west-2.amazonaws.com/ntm:1"
DATA = f"s3://{BUCKET}/data"
OUTPUT = f"s3://{BUCKET}/output"


def estimator(**options) -> NTM:
    defaults = {"role": ROLE_NAME, "instance_count": 2, "instance_type": "ml.c5.xlarge", "num_topics": 4,
                "data_location": DATA, "output_path": OUTPUT}
    return NTM(**{**defaults, **options})


def trained(**options) -> NTM:
    sagemaker_backend()
    ntm = estimator(**options)
    ntm.fit(ntm.record_set(ROWS), logs=False, job_name="ntm-job")
    return ntm


def test_record_set_writes_encrypted_shards_and_manifest_the_codec_reads_back(aws):
    record_set = estimator().record_set(ROWS, encrypt=True)
    manifest = json.loads(storage.read_bytes(record_set.s3_data))
    prefix = record_set.s3_data[: -len(".amazon.manifest")]
    assert manifest == [{"prefix": prefix}, "matrix_0.pbr", "matrix_1.pbr"]
    assert prefix.startswith(DATA + "/NTM-")
    shards = [decode(storage.read_bytes(prefix + name))[0] for name in manifest[1:]]
    assert np.array_equal(np.concatenate(shards), ROWS)
    s3 = boto3.client("s3")
    for key in ["matrix_0.pbr", "matrix_1.pbr", ".amazon.manifest"]:
        head = s3.head_object(Bucket=BUCKET, Key=storage.split_s3(prefix + key)[1])
        assert head["ServerSideEncryption"] == "AES256"


def test_fit_creates_the_training_job_sagemaker_expects(aws):
    sagemaker_backend()
    ntm = estimator(epochs=3, tags=[{"Key": "team", "Value": "nlp"}], max_run=3600, volume_size=50)
    train = ntm.record_set(ROWS)
    validation = ntm.record_set(ROWS[:10], channel="validation")
    ntm.fit({"train": train, "validation": validation, "auxiliary": f"s3://{BUCKET}/vocab/"},
            mini_batch_size=16, logs=False, job_name="ntm-exact")
    job = boto3.client("sagemaker").describe_training_job(TrainingJobName="ntm-exact")
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["RoleArn"] == aws
    assert job["HyperParameters"] == {"num_topics": "4", "epochs": "3", "feature_dim": "6", "mini_batch_size": "16"}
    recordio = "application/x-recordio-protobuf"
    assert job["InputDataConfig"] == [
        {"ChannelName": "train", "ContentType": recordio, "DataSource": {"S3DataSource": {
            "S3DataType": "ManifestFile", "S3Uri": train.s3_data, "S3DataDistributionType": "ShardedByS3Key"}}},
        {"ChannelName": "validation", "ContentType": recordio, "DataSource": {"S3DataSource": {
            "S3DataType": "ManifestFile", "S3Uri": validation.s3_data,
            "S3DataDistributionType": "FullyReplicated"}}},
        {"ChannelName": "auxiliary", "ContentType": "text/plain", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/vocab/", "S3DataDistributionType": "FullyReplicated"}}},
    ]
    assert job["ResourceConfig"] == {"InstanceCount": 2, "InstanceType": "ml.c5.xlarge", "VolumeSizeInGB": 50}
    assert job["OutputDataConfig"]["S3OutputPath"] == OUTPUT
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert ntm.model_data == f"{OUTPUT}/ntm-exact/output/model.tar.gz"
    tags = boto3.client("sagemaker").list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
    assert {"Key": "team", "Value": "nlp"} in tags


def test_without_locations_the_sdk_default_bucket_is_created_and_used(aws):
    sagemaker_backend()
    ntm = NTM(ROLE_NAME, 1, "ml.m5.large", num_topics=3)
    record_set = ntm.record_set(ROWS)
    bucket = f"sagemaker-{REGION}-123456789012"
    assert record_set.s3_data.startswith(f"s3://{bucket}/sagemaker-record-sets/NTM-")
    ntm.fit(record_set, logs=False)
    assert ntm.output_path == f"s3://{bucket}/"


def test_attach_rebuilds_the_estimator_from_sagemaker(aws):
    trained(epochs=5)
    attached = NTM.attach("ntm-job", backend="sagemaker", logs=False)
    assert (attached.num_topics, attached.epochs, attached.instance_count) == (4, 5, 2)
    assert attached.role == aws and attached.model_data.endswith("/ntm-job/output/model.tar.gz")


def test_deploy_predict_and_delete_go_through_sagemaker(aws, moto_url):
    # moto's InvokeEndpoint takes text bodies only, so CSV in; the recorded answer is JSON.
    predictor = trained().deploy(1, "ml.m5.large", endpoint_name="ntm-endpoint", serializer=CSVSerializer(),
                                 deserializer=JSONDeserializer())
    sagemaker = boto3.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName="ntm-endpoint")
    assert endpoint["EndpointStatus"] == "InService" and endpoint["EndpointConfigName"] == "ntm-endpoint"
    config = sagemaker.describe_endpoint_config(EndpointConfigName="ntm-endpoint")
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    model_name = config["ProductionVariants"][0]["ModelName"]
    model = sagemaker.describe_model(ModelName=model_name)
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"{OUTPUT}/ntm-job/output/model.tar.gz"
    assert model["ExecutionRoleArn"] == aws
    queue_endpoint_results(moto_url, json.dumps({"predictions": [{"topic_weights": [0.25, 0.75]}]}))
    assert predictor.predict(ROWS[:1]) == {"predictions": [{"topic_weights": [0.25, 0.75]}]}
    predictor.delete_endpoint()
    predictor.delete_model()  # after the endpoint is gone, as SDK v2 examples do it
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
    with pytest.raises(ResourceNotFoundError, match="endpoint 'ntm-endpoint' does not exist"):
        predictor.delete_endpoint()


def test_transformer_starts_the_transform_job_sagemaker_expects(aws):
    transformer = trained().transformer(1, "ml.m5.large", output_path=f"s3://{BUCKET}/scores/",
                                        accept="application/jsonlines", assemble_with="Line")
    transformer.transform(f"s3://{BUCKET}/to-score/", content_type="text/csv", job_name="ntm-transform")
    job = boto3.client("sagemaker").describe_transform_job(TransformJobName="ntm-transform")
    assert job["TransformJobStatus"] == "Completed" and job["ModelName"] == transformer.model_name
    assert job["TransformInput"] == {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                     "S3Uri": f"s3://{BUCKET}/to-score/"}},
                                     "ContentType": "text/csv", "SplitType": "Line", "CompressionType": "None"}
    assert job["TransformOutput"] == {"S3OutputPath": f"s3://{BUCKET}/scores/", "Accept": "application/jsonlines",
                                      "AssembleWith": "Line"}
    assert job["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1}


def test_logs_are_read_from_every_instance_stream_in_time_order(aws, capsys):
    logs = boto3.client("logs")
    group = "/aws/sagemaker/TrainingJobs"
    logs.create_log_group(logGroupName=group)
    now = int(time.time() * 1000)  # CloudWatch drops events older than its retention
    for host, events in {"algo-1": [(now, "epoch 1 loss 9.1"), (now + 2, "epoch 2 loss 7.2")],
                         "algo-2": [(now + 1, "worker ready")]}.items():
        stream = f"ntm-job/{host}-1700000000"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": t, "message": m} for t, m in events])
    ntm = trained()
    lines = list(sagemaker_backend().logs("ntm-job", follow=True))
    assert [line for line in lines if line.startswith("[")] == [
        "[algo-1] epoch 1 loss 9.1", "[algo-2] worker ready", "[algo-1] epoch 2 loss 7.2"]
    ntm.latest_training_job.wait(logs=True)
    assert "[algo-1] epoch 2 loss 7.2" in capsys.readouterr().out


def test_metrics_come_from_the_jobs_final_metrics_when_cloudwatch_has_none(aws):
    rows = trained().training_job_analytics.rows()
    assert rows and all(set(row) == {"timestamp", "metric_name", "value"} for row in rows)
    final = boto3.client("sagemaker").describe_training_job(TrainingJobName="ntm-job")["FinalMetricDataList"]
    assert [(row["metric_name"], row["value"]) for row in rows] == [(m["MetricName"], m["Value"]) for m in final]


def test_a_missing_bucket_and_an_unknown_role_are_named(aws):
    with pytest.raises(BucketAccessError, match="bucket 'no-such-bucket' does not exist"):
        estimator(data_location="s3://no-such-bucket/data").record_set(ROWS)
    sagemaker_backend()
    ntm = estimator(role="NoSuchRole")
    with pytest.raises(RoleResolutionError, match="IAM role 'NoSuchRole'.*no IAM role has that name"):
        ntm.fit(ntm.record_set(ROWS), logs=False)


def test_the_backend_passes_the_conformance_suite_on_moto(aws, monkeypatch):
    monkeypatch.setenv("NTM_SAGEMAKER_ROLE", ROLE_NAME)
    backend = sagemaker_backend()
    FakeNtmContainer(backend, num_topics=2)
    check_backend(backend, data_location=f"s3://{BUCKET}/conformance/", instance_type="ml.m5.large", timeout=30)


def test_an_s3_model_deploys_on_sagemaker_from_its_uri(aws):
    sagemaker_backend()
    predictor = NTMModel(f"s3://{BUCKET}/elsewhere/model.tar.gz", role=ROLE_NAME).deploy(1, "ml.m5.large")
    assert predictor.backend_name == "sagemaker"
    assert boto3.client("sagemaker").describe_endpoint(EndpointName=predictor.endpoint_name)["EndpointStatus"] \
        == "InService"


def test_the_estimators_sagemaker_session_supplies_region_and_credentials(aws, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # only the session knows the region now
    session = boto3.Session(region_name=REGION)
    ntm = estimator(sagemaker_session=session)
    record_set = ntm.record_set(ROWS)
    assert storage._boto3_session is session
    ntm.fit(record_set, logs=False, job_name="ntm-session")
    assert sagemaker_backend().region == REGION
    assert session.client("sagemaker").describe_training_job(TrainingJobName="ntm-session")["TrainingJobStatus"] \
        == "Completed"
