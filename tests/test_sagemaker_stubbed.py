"""The sagemaker backend's exact AWS requests and its failure paths, pinned with botocore's Stubber
(no network: an unexpected or differently shaped call fails the test)."""

import io
import json
from datetime import datetime, timedelta, timezone

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from sagemaker_fixtures import fake_credentials

from ntm import NTMModel, NTMPredictor, plugins
from ntm.core import encode_dense, read_records
from ntm.errors import (CloudAccessDeniedError, CloudCredentialsError, CloudRegionError, ResourceInUseError,
                        ResourceNotFoundError, RoleResolutionError, ThrottlingError, UnexpectedStatusError,
                        UnsupportedContentTypeError)
from ntm.jobs import TrainingJob
from ntm.payloads import render_response
from ntm.plugins.sagemaker import aws_errors

REGION = "us-west-2"
ARN = "arn:aws:sagemaker:us-west-2:111122223333:"
ROLE = "arn:aws:iam::111122223333:role/SageMakerRole"
IMAGE = "174872318107.dkr.ecr.us-west-2.amazonaws.com/ntm:1"
START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


class Stubs:
    """The process's sagemaker backend with a Stubber on each client it uses; sleeps are recorded."""

    def __init__(self) -> None:
        self.backend = plugins.get_backend("sagemaker")
        self.sleeps = []
        self.backend._sleep = self.sleeps.append
        self.backend.poll_interval = 0.0
        self.stubbers = {}
        for service in ("sagemaker", "sagemaker-runtime", "iam", "logs", "cloudwatch"):
            stubber = Stubber(self.backend._aws.client(service))
            stubber.activate()
            self.stubbers[service] = stubber

    def expect(self, service, operation, response, request):
        self.stubbers[service].add_response(operation, response, request)

    def fail(self, service, operation, code, message, request=None, status=400):
        self.stubbers[service].add_client_error(operation, service_error_code=code, service_message=message,
                                                http_status_code=status, expected_params=request)

    def done(self):
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def stubs(monkeypatch):
    fake_credentials(monkeypatch)
    stubs = Stubs()
    yield stubs
    stubs.done()


def training_request(**overrides):
    request = {
        "TrainingJobName": "ntm-job",
        "AlgorithmSpecification": {"TrainingImage": "ntm:1", "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {"num_topics": "20", "feature_dim": "2000"},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "ManifestFile", "S3Uri": "s3://b/d/.amazon.manifest",
                "S3DataDistributionType": "ShardedByS3Key"}}},
            {"ChannelName": "test", "DataSource": {"S3DataSource": {
                "S3DataType": "ManifestFile", "S3Uri": "s3://b/t/.amazon.manifest",
                "S3DataDistributionType": "ShardedByS3Key"}}},
            {"ChannelName": "auxiliary", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://b/vocab/", "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://b/out/", "KmsKeyId": "alias/out"},
        "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.c5.xlarge", "VolumeSizeInGB": 30,
                           "VolumeKmsKeyId": "alias/vol"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "Tags": [{"Key": "team", "Value": "nlp"}],
        "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
        "EnableNetworkIsolation": False,
        "NotAnApiKey": "the contract says backends ignore keys they do not know",
    }
    request.update(overrides)
    return request


def expected_create_training_job():
    api = training_request()
    del api["NotAnApiKey"]
    api["AlgorithmSpecification"] = {"TrainingImage": IMAGE, "TrainingInputMode": "File"}
    recordio = "application/x-recordio-protobuf"
    api["InputDataConfig"] = [
        {"ChannelName": "train", "ContentType": recordio, "DataSource": {"S3DataSource": {
            "S3DataType": "ManifestFile", "S3Uri": "s3://b/d/.amazon.manifest",
            "S3DataDistributionType": "ShardedByS3Key"}}},
        {"ChannelName": "test", "ContentType": recordio, "DataSource": {"S3DataSource": {
            "S3DataType": "ManifestFile", "S3Uri": "s3://b/t/.amazon.manifest",
            "S3DataDistributionType": "FullyReplicated"}}},
        {"ChannelName": "auxiliary", "ContentType": "text/plain", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://b/vocab/", "S3DataDistributionType": "FullyReplicated"}}}]
    return api


JOB_ARN = {"TrainingJobArn": "arn:aws:sagemaker:us-west-2:111122223333:training-job/ntm-job"}


def described(status="Completed", **extra):
    job = {"TrainingJobName": "ntm-job", "TrainingJobArn": JOB_ARN["TrainingJobArn"], "TrainingJobStatus": status,
           "SecondaryStatus": status, "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": IMAGE},
           "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.c5.xlarge", "VolumeSizeInGB": 30},
           "StoppingCondition": {"MaxRuntimeInSeconds": 60}, "CreationTime": START,
           "ModelArtifacts": {"S3ModelArtifacts": "s3://b/out/ntm-job/output/model.tar.gz"}}
    job.update(extra)
    return job


def test_create_training_job_sends_exactly_the_api_request(stubs):
    stubs.expect("sagemaker", "create_training_job", JOB_ARN, expected_create_training_job())
    assert stubs.backend.create_training_job(training_request()) == JOB_ARN


def test_a_role_name_is_resolved_to_its_arn_through_iam_once(stubs):
    stubs.expect("iam", "get_role", {"Role": {"Path": "/", "RoleName": "SageMakerRole", "RoleId": "AROAEXAMPLE1234567",
                                              "Arn": ROLE, "CreateDate": START}}, {"RoleName": "SageMakerRole"})
    stubs.expect("sagemaker", "create_training_job", JOB_ARN, expected_create_training_job())
    second = dict(expected_create_training_job(), TrainingJobName="ntm-job-2")
    stubs.expect("sagemaker", "create_training_job", JOB_ARN, second)
    stubs.backend.create_training_job(training_request(RoleArn="SageMakerRole"))
    stubs.backend.create_training_job(training_request(RoleArn="SageMakerRole", TrainingJobName="ntm-job-2"))


def test_an_unknown_role_name_names_the_role_and_the_fix(stubs):
    stubs.fail("iam", "get_role", "NoSuchEntity", "The role with name Nope cannot be found.", {"RoleName": "Nope"},
               status=404)
    with pytest.raises(RoleResolutionError, match=r"IAM role 'Nope'.*Pass the full ARN \(arn:aws:iam::<account>"):
        stubs.backend.create_training_job(training_request(RoleArn="Nope"))


def test_no_role_at_all_asks_for_one(stubs):
    with pytest.raises(RoleResolutionError, match="pass role="):
        stubs.backend.create_training_job(training_request(RoleArn=None))


def test_an_existing_job_name_raises_resource_in_use_naming_the_job(stubs):
    stubs.fail("sagemaker", "create_training_job", "ResourceInUse", "Training job names must be unique within an "
               "AWS account and region, and a training job with this name already exists (arn:...)",
               expected_create_training_job())
    with pytest.raises(ResourceInUseError, match="training job 'ntm-job' already exists in region us-west-2.*pick "
                                                 "another name"):
        stubs.backend.create_training_job(training_request())


def test_throttling_is_retried_with_growing_backoff(stubs):
    for _ in range(2):
        stubs.fail("sagemaker", "describe_training_job", "ThrottlingException", "Rate exceeded",
                   {"TrainingJobName": "ntm-job"})
    stubs.expect("sagemaker", "describe_training_job", described(), {"TrainingJobName": "ntm-job"})
    assert stubs.backend.describe_training_job("ntm-job")["TrainingJobStatus"] == "Completed"
    assert len(stubs.sleeps) == 2
    assert 0.5 <= stubs.sleeps[0] <= 1.0 and 1.0 <= stubs.sleeps[1] <= 2.0


def test_throttling_that_never_stops_ends_in_one_clear_error(stubs):
    for _ in range(aws_errors.THROTTLE_RETRIES + 1):
        stubs.fail("sagemaker", "describe_training_job", "ThrottlingException", "Rate exceeded",
                   {"TrainingJobName": "ntm-job"})
    with pytest.raises(ThrottlingError, match="kept throttling the call to describe training job 'ntm-job'") as info:
        stubs.backend.describe_training_job("ntm-job")
    assert info.value.code == "ThrottlingException" and len(stubs.sleeps) == aws_errors.THROTTLE_RETRIES


def test_a_missing_job_is_resource_not_found(stubs):
    stubs.fail("sagemaker", "describe_training_job", "ValidationException", "Requested resource not found.",
               {"TrainingJobName": "nope"})
    with pytest.raises(ResourceNotFoundError, match="training job 'nope' does not exist in region us-west-2"):
        stubs.backend.describe_training_job("nope")


def test_access_denied_names_the_call(stubs):
    stubs.fail("sagemaker", "describe_training_job", "AccessDeniedException", "User: x is not authorized",
               {"TrainingJobName": "ntm-job"})
    with pytest.raises(CloudAccessDeniedError, match="not allowed to describe training job 'ntm-job'"):
        stubs.backend.describe_training_job("ntm-job")


def test_a_failed_job_raises_with_its_failure_reason(stubs):
    reason = "ClientError: Unable to read data channel 'train'"
    stubs.expect("sagemaker", "describe_training_job", described("Failed", FailureReason=reason),
                 {"TrainingJobName": "ntm-job"})
    with pytest.raises(UnexpectedStatusError, match=f"Training job ntm-job: Failed. Reason: {reason}"):
        TrainingJob("sagemaker", "ntm-job").wait(logs=False)


def test_following_logs_shows_status_changes_and_new_lines_until_the_job_ends(stubs):
    group, stream = "/aws/sagemaker/TrainingJobs", "ntm-job/algo-1-1714564800"
    starting = [{"Status": "Starting", "StartTime": START, "StatusMessage": "Preparing the instances for training"}]
    training = starting + [{"Status": "Training", "StartTime": START, "StatusMessage": "Training image download "
                            "completed. Training in progress."}]
    streams_request = {"logGroupName": group, "logStreamNamePrefix": "ntm-job/", "orderBy": "LogStreamName"}
    stubs.expect("sagemaker", "describe_training_job", described("InProgress", SecondaryStatusTransitions=starting),
                 {"TrainingJobName": "ntm-job"})
    stubs.fail("logs", "describe_log_streams", "ResourceNotFoundException", "The specified log group does not "
               "exist.", streams_request)
    stubs.expect("sagemaker", "describe_training_job", described("Completed", SecondaryStatusTransitions=training),
                 {"TrainingJobName": "ntm-job"})
    stubs.expect("logs", "describe_log_streams", {"logStreams": [{"logStreamName": stream}]}, streams_request)
    first = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    stubs.expect("logs", "get_log_events", {"events": [{"timestamp": 1, "message": "#epoch 1 loss 7.1\n"}],
                                            "nextForwardToken": "f/1"}, first)
    stubs.expect("logs", "get_log_events", {"events": [], "nextForwardToken": "f/1"}, dict(first, nextToken="f/1"))
    lines = list(stubs.backend.logs("ntm-job", follow=True))
    assert lines == ["2024-05-01 12:00:00 Starting - Preparing the instances for training",
                     "2024-05-01 12:00:00 Training - Training image download completed. Training in progress.",
                     "#epoch 1 loss 7.1"]
    assert stubs.sleeps == [stubs.backend.log_poll_seconds]


def test_metrics_are_read_from_cloudwatch_relative_to_training_start(stubs):
    job = described(TrainingStartTime=START, TrainingEndTime=START + timedelta(minutes=3),
                    AlgorithmSpecification={"TrainingInputMode": "File", "TrainingImage": IMAGE, "MetricDefinitions": [
                        {"Name": "validation:total_loss", "Regex": ".*"}]})
    stubs.expect("sagemaker", "describe_training_job", job, {"TrainingJobName": "ntm-job"})
    stubs.expect("cloudwatch", "get_metric_statistics", {"Datapoints": [
        {"Timestamp": START + timedelta(minutes=2), "Average": 6.5},
        {"Timestamp": START + timedelta(minutes=1), "Average": 7.5}]}, {
        "Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "validation:total_loss",
        "Dimensions": [{"Name": "TrainingJobName", "Value": "ntm-job"}], "StartTime": START,
        "EndTime": START + timedelta(minutes=4), "Period": 60, "Statistics": ["Average"]})
    assert stubs.backend.metrics("ntm-job") == [
        {"timestamp": 60.0, "metric_name": "validation:total_loss", "value": 7.5},
        {"timestamp": 120.0, "metric_name": "validation:total_loss", "value": 6.5}]


def test_stopping_a_running_job_calls_stop_and_a_finished_one_does_not(stubs):
    stubs.expect("sagemaker", "describe_training_job", described("InProgress"), {"TrainingJobName": "ntm-job"})
    stubs.expect("sagemaker", "stop_training_job", {}, {"TrainingJobName": "ntm-job"})
    stubs.expect("sagemaker", "describe_training_job", described("Completed"), {"TrainingJobName": "ntm-job"})
    stubs.backend.stop_training_job("ntm-job")
    stubs.backend.stop_training_job("ntm-job")


def expect_deploy(stubs):
    stubs.expect("sagemaker", "create_model", {"ModelArn": ARN + "model/ntm-model"}, {
        "ModelName": "ntm-model", "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b/out/ntm-job/output/model.tar.gz"}})
    variants = [{"VariantName": "AllTraffic", "ModelName": "ntm-model", "InitialInstanceCount": 1,
                 "InstanceType": "ml.m5.large"}]
    stubs.expect("sagemaker", "create_endpoint_config", {"EndpointConfigArn": ARN + "endpoint-config/ntm-ep"},
                 {"EndpointConfigName": "ntm-ep", "ProductionVariants": variants})
    stubs.expect("sagemaker", "create_endpoint", {"EndpointArn": ARN + "endpoint/ntm-ep"},
                 {"EndpointName": "ntm-ep", "EndpointConfigName": "ntm-ep"})
    return variants


def endpoint(status):
    return {"EndpointName": "ntm-ep", "EndpointArn": ARN + "endpoint/ntm-ep", "EndpointConfigName": "ntm-ep",
            "EndpointStatus": status, "CreationTime": START, "LastModifiedTime": START,
            "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": 1}]}


def test_deploy_creates_model_config_and_endpoint_then_waits_for_in_service(stubs):
    variants = expect_deploy(stubs)
    config = {"EndpointConfigName": "ntm-ep", "EndpointConfigArn": ARN + "endpoint-config/ntm-ep", "ProductionVariants": variants,
              "CreationTime": START}
    for status in ("Creating", "InService"):
        stubs.expect("sagemaker", "describe_endpoint", endpoint(status), {"EndpointName": "ntm-ep"})
        stubs.expect("sagemaker", "describe_endpoint_config", config, {"EndpointConfigName": "ntm-ep"})
    model = NTMModel("s3://b/out/ntm-job/output/model.tar.gz", role=ROLE, name="ntm-model")
    predictor = model.deploy(1, "ml.m5.large", endpoint_name="ntm-ep")
    assert predictor.backend_name == "sagemaker" and predictor.endpoint_name == "ntm-ep"


def test_a_failed_create_endpoint_removes_the_config_it_made(stubs):
    stubs.expect("sagemaker", "create_endpoint_config", {"EndpointConfigArn": ARN + "endpoint-config/ntm-ep"},
                 {"EndpointConfigName": "ntm-ep", "ProductionVariants": [{"ModelName": "m", "VariantName": "v"}]})
    stubs.fail("sagemaker", "create_endpoint", "ResourceLimitExceeded", "The account-level service limit "
               "'ml.m5.large for endpoint usage' is 0 Instances", {"EndpointName": "ntm-ep",
                                                                    "EndpointConfigName": "ntm-ep"})
    stubs.expect("sagemaker", "delete_endpoint_config", {}, {"EndpointConfigName": "ntm-ep"})
    with pytest.raises(Exception, match="quota increase"):
        stubs.backend.create_endpoint({"EndpointName": "ntm-ep", "ProductionVariants": [
            {"ModelName": "m", "VariantName": "v"}]})


def test_predict_goes_through_invoke_endpoint_with_the_serializers_types(stubs):
    rows = np.ones((2, 3), dtype=np.float32)
    answer = render_response(np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32),
                             "application/x-recordio-protobuf")
    stubs.expect("sagemaker-runtime", "invoke_endpoint",
                 {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "application/x-recordio-protobuf"},
                 {"EndpointName": "ntm-ep", "Body": encode_dense(rows),
                  "ContentType": "application/x-recordio-protobuf", "Accept": "application/x-recordio-protobuf"})
    records = NTMPredictor("ntm-ep", backend="sagemaker").predict(rows)
    assert [list(r.label["topic_weights"].float32_tensor.values) for r in records] == [[0.25, 0.75], [0.5, 0.5]]
    assert len(read_records(io.BytesIO(answer))) == 2


def test_a_content_type_the_container_refuses_is_unsupported_content_type(stubs):
    stubs.fail("sagemaker-runtime", "invoke_endpoint", "ModelError", "Received client error (415) from primary with "
               "message \"Content type image/png is not supported\"", None, status=424)
    with pytest.raises(UnsupportedContentTypeError, match="endpoint 'ntm-ep' does not accept"):
        stubs.backend.invoke_endpoint("ntm-ep", b"x", "image/png", "application/json")


def test_delete_endpoint_deletes_the_endpoint_and_its_config(stubs):
    stubs.expect("sagemaker", "describe_endpoint", endpoint("InService"), {"EndpointName": "ntm-ep"})
    stubs.expect("sagemaker", "delete_endpoint", {}, {"EndpointName": "ntm-ep"})
    stubs.expect("sagemaker", "delete_endpoint_config", {}, {"EndpointConfigName": "ntm-ep"})
    stubs.backend.delete_endpoint("ntm-ep")


def test_create_transform_job_sends_exactly_the_api_request(stubs):
    request = {"TransformJobName": "ntm-t", "ModelName": "ntm-model",
               "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}},
                                  "ContentType": "text/csv", "SplitType": "Line", "CompressionType": "None"},
               "TransformOutput": {"S3OutputPath": "s3://b/o/", "Accept": "application/jsonlines",
                                   "AssembleWith": "Line"},
               "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
               "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}
    stubs.expect("sagemaker", "create_transform_job", {"TransformJobArn": ARN + "transform-job/ntm-t"}, request)
    assert stubs.backend.create_transform_job(dict(request, Environment={})) == {"TransformJobArn": ARN + "transform-job/ntm-t"}


def test_local_locations_are_refused_with_what_to_use_instead(stubs):
    request = training_request()
    request["OutputDataConfig"] = {"S3OutputPath": "file:///tmp/out/"}
    with pytest.raises(ValueError, match="SageMaker reads and writes only s3:// locations"):
        stubs.backend.create_training_job(request)


def test_no_credentials_no_region_and_an_unknown_region_are_each_one_clear_error(monkeypatch):
    from ntm.plugins.sagemaker.backend import SageMakerBackend

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with pytest.raises(CloudCredentialsError, match="no AWS credentials"):
        SageMakerBackend().describe_training_job("ntm-job")
    fake_credentials(monkeypatch)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(CloudRegionError, match="no AWS region is configured"):
        SageMakerBackend().describe_training_job("ntm-job")
    with pytest.raises(CloudRegionError, match="not published in region 'us-west-7'. Did you mean 'us-west-"):
        SageMakerBackend(boto3.Session(region_name="us-west-7")).describe_training_job("ntm-job")


def test_uploading_without_credentials_says_how_to_configure_them(monkeypatch, tmp_path):
    from ntm import NTM

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with pytest.raises(CloudCredentialsError, match="cannot upload to s3://bkt/d/NTM-.*no AWS credentials"):
        NTM(ROLE, 1, "ml.m5.large", 3, data_location="s3://bkt/d/").record_set([[1.0, 2.0]])


def test_every_region_in_the_sdk_table_gets_the_sdks_image(request):
    from ntm.plugins.sagemaker.images import NTM_REGISTRIES, ntm_image_uri, resolve_image

    golden = json.loads((request.path.parent / "golden" / "sdk_ntm_images.json").read_text())["images"]
    assert sorted(NTM_REGISTRIES) == sorted(golden)
    assert {region: ntm_image_uri(region) for region in golden} == golden
    assert resolve_image("123.dkr.ecr.us-west-2.amazonaws.com/my-ntm:2", REGION).endswith("/my-ntm:2")
