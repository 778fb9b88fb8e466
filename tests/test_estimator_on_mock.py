"""The estimator end to end on the mock backend: the seed's examples, unchanged, and the SDK's behaviours."""

import io
import re

import numpy as np
import pytest
import scipy.sparse as sp

import ntm
from ntm import NTM, NTMModel, NTMPredictor, RecordSet, UnexpectedStatusError
from ntm.serializers import CSVSerializer, JSONDeserializer, JSONLinesDeserializer, JSONSerializer

ROWS = np.random.default_rng(1).poisson(0.8, (40, 12)).astype(np.float32)
JOB_NAME = re.compile(r"^ntm-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{3}$")


def weights_of(records):
    return np.array([list(r.label["topic_weights"].float32_tensor.values) for r in records])


def test_seed_example_fit_without_waiting_then_attach_deploy_predict_delete(capsys):
    my_estimator = NTM("role", 1, "mock", 4)  # the seed's positional signature
    records = my_estimator.record_set(ROWS)
    my_estimator.fit(records, wait=False)
    training_job_name = my_estimator.latest_training_job.name
    # Later on:
    attached_estimator = NTM.attach(training_job_name)
    predictor = attached_estimator.deploy()
    result = predictor.predict(ROWS[:3])
    attached_estimator.delete_endpoint()

    assert JOB_NAME.match(training_job_name)
    assert attached_estimator.num_topics == 4 and attached_estimator.feature_dim == 12
    assert isinstance(predictor, NTMPredictor) and predictor.endpoint_name == training_job_name
    assert len(result) == 3
    weights = weights_of(result)
    assert weights.shape == (3, 4) and np.allclose(weights.sum(axis=1), 1, atol=1e-5)
    projection = np.array([list(r.label["projection"].float32_tensor.values) for r in result])
    assert np.array_equal(projection, weights)
    with pytest.raises(ValueError, match="does not exist"):
        attached_estimator.delete_endpoint()


def test_fit_waits_and_prints_the_logs(capsys):
    estimator = NTM(None, 1, "mock", 3, epochs=2)
    estimator.fit(estimator.record_set(ROWS))
    out = capsys.readouterr().out
    assert "#epoch 2: train:total_loss" in out
    assert estimator.model_data == (estimator.output_path.rstrip("/") + f"/{estimator.latest_training_job.name}"
                                    "/output/model.tar.gz")


def test_the_training_request_has_sagemakers_shape():
    estimator = NTM("arn:aws:iam::1:role/R", 2, "mock", 6, encoder_layers="8,4", base_job_name="topics",
                    tags=[{"Key": "team", "Value": "nlp"}], output_path="/tmp/somewhere")
    records = estimator.record_set(ROWS)
    estimator.fit(records, mini_batch_size=16, logs=False)
    request = ntm.get_backend("mock").calls_to("create_training_job")[0]["request"]
    assert request["TrainingJobName"].startswith("topics-")
    assert request["AlgorithmSpecification"] == {"TrainingImage": "ntm:1", "TrainingInputMode": "File"}
    assert request["HyperParameters"] == {"num_topics": "6", "encoder_layers": "[8, 4]", "feature_dim": "12",
                                          "mini_batch_size": "16"}
    assert request["InputDataConfig"] == [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": records.s3_data, "S3DataDistributionType": "ShardedByS3Key"}}}]
    assert request["OutputDataConfig"] == {"S3OutputPath": "file:///tmp/somewhere"}
    assert request["ResourceConfig"] == {"InstanceCount": 2, "InstanceType": "mock", "VolumeSizeInGB": 30}
    assert request["RoleArn"] == "arn:aws:iam::1:role/R" and request["Tags"] == [{"Key": "team", "Value": "nlp"}]


def test_fit_accepts_a_list_of_record_sets_and_a_dict_with_uris(tmp_path):
    estimator = NTM(None, 1, "mock", 3)
    train = estimator.record_set(ROWS)
    validation = estimator.record_set(ROWS[:10], channel="validation")
    estimator.fit([train, validation], logs=False)
    channels = ntm.get_backend("mock").calls_to("create_training_job")[-1]["request"]["InputDataConfig"]
    assert [c["ChannelName"] for c in channels] == ["train", "validation"]
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    estimator.fit({"train": train, "auxiliary": str(tmp_path / "vocab.txt")}, logs=False)
    auxiliary = ntm.get_backend("mock").calls_to("create_training_job")[-1]["request"]["InputDataConfig"][1]
    assert auxiliary["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix", "S3Uri": f"file://{tmp_path}/vocab.txt", "S3DataDistributionType": "FullyReplicated"}


@pytest.mark.parametrize("records, message", [
    ([RecordSet("s3://b/k", 1, 3), RecordSet("s3://b/k2", 1, 3)], "Duplicate channels not allowed: 'train'"),
    ([RecordSet("s3://b/k", 1, 3, channel="validation")], "Must provide train channel"),
    ({"train": RecordSet("s3://b/k", 1, 3), "valdation": "s3://b/v"}, "did you mean 'validation'"),
    ("s3://bucket/train/", "feature_dim is unknown"),
])
def test_fit_refuses_bad_channels(records, message):
    with pytest.raises(ValueError, match=message):
        NTM(None, 1, "mock", 3).fit(records)


def test_fit_needs_num_topics():
    with pytest.raises(ValueError, match="'num_topics' parameter of NTM is required"):
        NTM(None, 1, "mock").fit(RecordSet("s3://b/k", 1, 3))


def test_job_names_use_the_sdk_format_and_explicit_names_win():
    estimator = NTM(None, 1, "mock", 3)
    estimator.fit(RecordSet("s3://b/k", 5, 3), logs=False, job_name="my-job")
    assert estimator.latest_training_job.name == "my-job"
    estimator.fit(RecordSet("s3://b/k", 5, 3), logs=False)
    assert JOB_NAME.match(estimator.latest_training_job.name)


def test_a_failed_job_raises_with_the_failure_reason():
    ntm.get_backend("mock").next_training_failure = "AlgorithmError: out of memory"
    estimator = NTM(None, 1, "mock", 3)
    with pytest.raises(UnexpectedStatusError, match=r"Error for Training job ntm-.*: Failed. Reason: "
                                                     r"AlgorithmError: out of memory"):
        estimator.fit(RecordSet("s3://b/k", 5, 3), logs=False)


def test_deploy_before_fit_is_an_error():
    with pytest.raises(ValueError, match="not associated with a training job"):
        NTM(None, 1, "mock", 3).deploy(1, "mock")


def test_training_job_analytics_rows_or_dataframe():
    estimator = NTM(None, 1, "mock", 3, epochs=4)
    with pytest.raises(ValueError, match="not associated with a TrainingJob"):
        _ = estimator.training_job_analytics
    estimator.fit({"train": RecordSet("s3://b/k", 5, 3), "validation": RecordSet("s3://b/v", 5, 3)}, logs=False)
    rows = estimator.training_job_analytics.rows()
    assert {r["metric_name"] for r in rows} == {"train:total_loss", "validation:total_loss"}
    assert len(rows) == 8 and set(rows[0]) == {"timestamp", "metric_name", "value"}
    frame = estimator.training_job_analytics.dataframe()
    assert len(frame) == 8  # a DataFrame with pandas installed, the rows without


def test_predictions_depend_on_the_row_and_are_deterministic():
    estimator = NTM(None, 1, "mock", 5)
    estimator.fit(estimator.record_set(ROWS), logs=False)
    predictor = estimator.deploy(1, "mock", endpoint_name="ep")
    first, again = weights_of(predictor.predict(ROWS[:4])), weights_of(predictor.predict(ROWS[:4]))
    assert np.array_equal(first, again)
    assert not np.allclose(first[0], first[1])
    expected = ntm.get_backend("mock").topic_weights(ROWS[:4], 5)
    assert np.allclose(first, expected)
    one_row = weights_of(predictor.predict(ROWS[0]))  # a 1-D array is one row
    assert np.allclose(one_row, first[:1])


def test_predict_with_sparse_rows_csv_and_json_serializers():
    estimator = NTM(None, 1, "mock", 3)
    estimator.fit(estimator.record_set(sp.csr_matrix(ROWS)), logs=False)
    recordio = weights_of(estimator.deploy(1, "mock", endpoint_name="a").predict(sp.csr_matrix(ROWS[:2])))
    csv_json = estimator.deploy(1, "mock", serializer=CSVSerializer(), deserializer=JSONDeserializer(),
                                endpoint_name="b").predict(ROWS[:2])
    as_json = NTMPredictor("b", serializer=JSONSerializer(), deserializer=JSONLinesDeserializer())
    lines = as_json.predict({"instances": [{"features": row} for row in ROWS[:2].tolist()]})
    assert np.allclose([p["topic_weights"] for p in csv_json["predictions"]], recordio, atol=1e-6)
    assert np.allclose([p["topic_weights"] for p in lines], recordio, atol=1e-6)


def test_a_predictor_made_by_name_finds_its_backend_and_v2_deletes():
    estimator = NTM(None, 1, "mock", 3)
    estimator.fit(estimator.record_set(ROWS), logs=False)
    estimator.deploy(1, "mock", endpoint_name="by-name")
    predictor = NTMPredictor("by-name")
    assert len(predictor.predict(ROWS[:2])) == 2
    predictor.delete_model()
    predictor.delete_endpoint()
    with pytest.raises(ValueError, match="'by-name' does not exist"):
        predictor.delete_endpoint()


def test_wrong_width_rows_are_refused_naming_the_expected_width():
    estimator = NTM(None, 1, "mock", 3)
    estimator.fit(estimator.record_set(ROWS), logs=False)
    with pytest.raises(ValueError, match="expects 12 features per row .* got rows of 5"):
        estimator.deploy(1, "mock").predict(np.ones((1, 5), np.float32))


def test_ntm_model_deploys_a_model_artifact_by_uri():
    model = NTMModel("s3://bucket/some/model.tar.gz", role="r", backend="mock")
    predictor = model.deploy(1, "mock")
    assert isinstance(predictor, NTMPredictor)
    assert weights_of(predictor.predict(ROWS[:2])).shape == (2, 10)  # the mock's default K for foreign models
    created = ntm.get_backend("mock").calls_to("create_model")[0]["request"]
    assert created["PrimaryContainer"]["ModelDataUrl"] == "s3://bucket/some/model.tar.gz"


def test_model_deploy_picks_the_backend_from_the_instance_type():
    predictor = NTMModel("s3://bucket/model.tar.gz").deploy(1, "mock", endpoint_name="picked")
    assert predictor.backend_name == "mock"


def test_transformer_scores_files_into_dot_out_files(tmp_path):
    estimator = NTM(None, 1, "mock", 3)
    estimator.fit(estimator.record_set(ROWS), logs=False)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("\n".join(",".join(str(int(v)) for v in row) for row in ROWS[:5]))
    transformer = estimator.transformer(1, "mock", output_path=str(tmp_path / "out"), accept="application/jsonlines")
    transformer.transform(str(tmp_path / "in"), content_type="text/csv")
    lines = (tmp_path / "out" / "a.csv.out").read_text().splitlines()
    assert len(lines) == 5 and '"topic_weights"' in lines[0]
    request = ntm.get_backend("mock").calls_to("create_transform_job")[0]["request"]
    assert request["TransformInput"]["SplitType"] == "Line"


def test_a_failed_transform_raises_with_the_reason(tmp_path):
    estimator = NTM(None, 1, "mock", 3)
    estimator.fit(estimator.record_set(ROWS), logs=False)
    (tmp_path / "bad.csv").write_text("1,2,x\n")
    with pytest.raises(UnexpectedStatusError, match="Transform job .*: Failed. Reason: RequestError: CSV line 1"):
        estimator.transformer(1, "mock").transform(str(tmp_path / "bad.csv"), content_type="text/csv")


def test_attach_to_an_unknown_job_says_who_was_asked():
    with pytest.raises(ValueError, match=r"no backend knows 'nope' \(asked: mock"):
        NTM.attach("nope")


def test_the_mock_records_every_call_for_inspection():
    estimator = NTM(None, 1, "mock", 3)
    estimator.fit(RecordSet("s3://b/k", 5, 3), logs=False)
    verbs = [call.verb for call in ntm.get_backend("mock").calls]
    assert verbs[0] == "create_training_job" and "describe_training_job" in verbs


def test_predict_sends_recordio_by_default():
    estimator = NTM(None, 1, "mock", 3)
    estimator.fit(estimator.record_set(ROWS), logs=False)
    estimator.deploy(1, "mock", endpoint_name="rio").predict(ROWS[:1])
    call = ntm.get_backend("mock").calls_to("invoke_endpoint")[0]
    assert call["content_type"] == call["accept"] == "application/x-recordio-protobuf"
    from ntm.core import read_records
    assert len(read_records(io.BytesIO(call["body"]))) == 1
