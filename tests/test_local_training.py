"""Training with the local backend, through the estimator as a user calls it."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp

import ntm
from ntm import NTM, NTMModel
from ntm.plugins.local import jobstore
from ntm.plugins.local.artifact import ArtifactError, load_artifact
from ntm.synthetic import make_corpus, topic_recovery
from ntm import storage

FAST = dict(epochs=25)
BATCH = 32  # a small corpus needs small batches to get enough optimisation steps


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(800, num_topics=4, words_per_document=60, seed=3)


def local_estimator(**hyperparameters):
    return NTM(None, 1, "local", num_topics=hyperparameters.pop("num_topics", 4), **{**FAST, **hyperparameters})


def vocab_channel(tmp_path, words):
    folder = tmp_path / "vocab"
    folder.mkdir(exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    return storage.to_uri(folder) + "/"


def test_training_recovers_known_topics_and_reports_metrics(corpus, tmp_path):
    estimator = local_estimator()
    estimator.fit({"train": estimator.record_set(corpus.counts),
                   "test": estimator.record_set(corpus.counts[:200], channel="test"),
                   "auxiliary": vocab_channel(tmp_path, corpus.vocabulary)}, logs=False, mini_batch_size=BATCH)
    model = NTMModel(estimator.model_data)
    words = model.topics(top_n=10)
    ids = [[corpus.vocabulary.index(w) for w in topic] for topic in words]
    assert topic_recovery(ids, corpus.topic_words) >= 0.7
    assert len(model.topics(top_n=3)[0]) == 3

    names = {row["metric_name"] for row in estimator.training_job_analytics.rows()}
    assert {"train:total_loss", "train:rec_loss", "train:kld", "test:total_loss", "test:perplexity",
            "npmi", "npmi_strict", "topic_diversity", "topic_uniqueness"} <= names
    log = "\n".join(ntm.get_backend("local").logs(estimator.latest_training_job.name))
    assert "Topics from epoch:final (num_topics:4) [npmi" in log
    assert any(w in log for w in ("orbit", "hockey", "encryption", "doctor"))


def test_validation_channel_drives_early_stopping(corpus):
    estimator = local_estimator(epochs=40, num_patience_epochs=1, tolerance=0.1)
    estimator.fit([estimator.record_set(corpus.counts[:600]),
                   estimator.record_set(corpus.counts[600:], channel="validation")], logs=False, mini_batch_size=BATCH)
    log = "\n".join(ntm.get_backend("local").logs(estimator.latest_training_job.name))
    assert "early stopping on validation:total_loss" in log
    assert "Early stopping at epoch" in log
    names = {row["metric_name"] for row in estimator.training_job_analytics.rows()}
    assert {"validation:total_loss", "validation:rec_loss", "validation:kld"} <= names


def test_fit_without_waiting_then_attach_from_another_process(corpus):
    estimator = local_estimator(epochs=30)
    estimator.fit(estimator.record_set(corpus.counts), wait=False, mini_batch_size=BATCH)
    name = estimator.latest_training_job.name
    assert ntm.get_backend("local").describe_training_job(name)["TrainingJobStatus"] == "InProgress"
    script = ("from ntm import NTM; e = NTM.attach(%r); print('MODEL', e.model_data); "
              "print('TOPICS', e.num_topics)" % name)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "Epoch 1/30" in done.stdout  # attach followed the log
    assert f"MODEL {estimator.model_data}" in done.stdout and "TOPICS 4" in done.stdout


def test_stopping_a_job_leaves_it_stopped_without_an_artifact(corpus):
    estimator = local_estimator(epochs=100)
    estimator.fit(estimator.record_set(corpus.counts), wait=False, mini_batch_size=BATCH)
    name = estimator.latest_training_job.name
    backend = ntm.get_backend("local")
    deadline = time.monotonic() + 60
    while "Epoch 1/" not in "\n".join(backend.logs(name)) and time.monotonic() < deadline:
        time.sleep(0.2)
    backend.stop_training_job(name)
    description = backend.wait_for_training(name, timeout=60)
    assert description["TrainingJobStatus"] == "Stopped"
    assert "ModelArtifacts" not in description


def test_a_killed_worker_marks_the_job_failed(corpus):
    import os
    import signal

    estimator = local_estimator(epochs=100)
    estimator.fit(estimator.record_set(corpus.counts), wait=False, mini_batch_size=BATCH)
    name = estimator.latest_training_job.name
    os.kill(jobstore.row(name)["pid"], signal.SIGKILL)
    description = ntm.get_backend("local").wait_for_training(name, timeout=30)
    assert description["TrainingJobStatus"] == "Failed"
    assert "exited without reporting a result" in description["FailureReason"]


def test_bad_counts_fail_the_job_naming_channel_file_and_row(corpus, tmp_path):
    counts = corpus.counts.toarray()
    counts[7, 3] = -2
    estimator = local_estimator()
    with pytest.raises(Exception) as info:
        estimator.fit(estimator.record_set(counts), logs=False, mini_batch_size=BATCH)
    reason = ntm.get_backend("local").describe_training_job(estimator.latest_training_job.name)["FailureReason"]
    assert "ClientError: channel 'train'" in reason and "row 7" in reason and "matrix_0.pbr" in reason
    assert "count -2.0" in str(info.value) or "count -2.0" in reason


def test_empty_documents_are_skipped_with_a_warning(corpus):
    counts = corpus.counts.tolil()
    counts[5, :] = 0
    estimator = local_estimator(epochs=2)
    estimator.fit(estimator.record_set(counts.tocsr()), logs=False, mini_batch_size=BATCH)
    log = "\n".join(ntm.get_backend("local").logs(estimator.latest_training_job.name))
    assert "skipping 1 empty documents (first at row 5)" in log


def test_wrong_vocabulary_size_fails_before_training(corpus, tmp_path):
    estimator = local_estimator()
    with pytest.raises(Exception):
        estimator.fit({"train": estimator.record_set(corpus.counts),
                       "auxiliary": vocab_channel(tmp_path, corpus.vocabulary[:-1])}, logs=False, mini_batch_size=BATCH)
    reason = ntm.get_backend("local").describe_training_job(estimator.latest_training_job.name)["FailureReason"]
    assert f"has {len(corpus.vocabulary) - 1} words, but feature_dim is {len(corpus.vocabulary)}" in reason


def test_bad_hyperparameters_are_refused_when_the_job_is_created():
    backend = ntm.get_backend("local")
    with pytest.raises(ValueError, match="sub_sample"):
        backend.create_training_job({"TrainingJobName": "bad", "HyperParameters": {
            "num_topics": "3", "feature_dim": "10", "sub_sample": "2"}})


def test_csv_channels_train(corpus, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    np.savetxt(folder / "train.csv", corpus.counts.toarray(), delimiter=",", fmt="%d")
    estimator = local_estimator(epochs=2)
    estimator.feature_dim = corpus.counts.shape[1]  # a URI channel does not tell the estimator its width
    estimator.fit({"train": storage.to_uri(folder) + "/"}, logs=False, mini_batch_size=BATCH)
    assert estimator.latest_training_job.describe()["TrainingJobStatus"] == "Completed"


def test_artifact_holds_no_pickle_and_numpy_inference_matches_torch(corpus):
    import torch

    from ntm.plugins.local.inference import TopicInference
    from ntm.plugins.local.model import Batch, NeuralTopicModel

    estimator = local_estimator(epochs=3, batch_norm=True, encoder_layers_activation="tanh")
    estimator.fit(estimator.record_set(corpus.counts), logs=False, mini_batch_size=BATCH)
    artifact = load_artifact(storage.read_bytes(estimator.model_data))
    config = artifact.config
    model = NeuralTopicModel(config["vocab_size"], config["num_topics"], config["encoder_layers"],
                             config["activation"], config["batch_norm"])
    model.load_state_dict({k: torch.from_numpy(v) for k, v in artifact.weights.items()})
    model.eval()
    rows = sp.csr_matrix(corpus.counts[:50])
    expected = model.topic_weights(Batch(rows)).numpy()
    got = TopicInference(artifact).topic_weights(rows)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("data, message", [
    (b"not a tarball", "not a readable tar.gz archive"),
    (b"", "not a readable tar.gz archive"),
])
def test_corrupt_artifacts_are_refused_clearly(data, message):
    with pytest.raises(ArtifactError, match=message):
        load_artifact(data, "model.tar.gz")


def test_foreign_archive_is_refused(tmp_path):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("model_algo-1")
        payload = b"mxnet params"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(ArtifactError, match="not an ntm model archive"):
        load_artifact(buffer.getvalue(), "s3://bucket/model.tar.gz")


def test_same_seed_same_topics(corpus):
    from ntm.plugins.local.config import TrainingConfig
    from ntm.plugins.local.data import Channel, check_channel
    from ntm.plugins.local.trainer import train

    import ntm.core as core

    path = storage.ntm_home() / "train.pbr"
    path.parent.mkdir(parents=True, exist_ok=True)
    core.write_spmatrix_to_sparse_tensor(path, corpus.counts)
    config = TrainingConfig.from_hyperparameters({"num_topics": "4", "feature_dim": str(corpus.counts.shape[1]),
                                                  "epochs": "3", "optimizer": "adam", "seed": "7"})
    runs = [train(config, {"train": check_channel(Channel("train", [path]), config.feature_dim)}, None,
                  log=lambda line: None) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].artifact.weights["beta"], runs[1].artifact.weights["beta"])
    assert json.dumps(runs[0].artifact.topics) == json.dumps(runs[1].artifact.topics)


def test_two_workers_reach_the_loss_range_of_one(corpus):
    def final_loss(instance_count):
        estimator = NTM(None, instance_count, "local", num_topics=4, epochs=8, seed=1)
        estimator.fit(estimator.record_set(corpus.counts), logs=False, mini_batch_size=BATCH)
        rows = [r for r in estimator.training_job_analytics.rows() if r["metric_name"] == "train:total_loss"]
        return rows[-1]["value"], rows[0]["value"]

    single, single_first = final_loss(1)
    double, _ = final_loss(2)
    assert double < single_first  # the pair trained, from the same starting point
    assert abs(double - single) / single < 0.05


def test_long_epochs_report_progress(corpus, monkeypatch):
    from ntm.plugins.local import trainer
    from ntm.plugins.local.config import TrainingConfig
    from ntm.plugins.local.data import Channel, check_channel

    import ntm.core as core

    monkeypatch.setattr(trainer, "PROGRESS_SECONDS", 0.0)  # report after every batch
    path = storage.ntm_home() / "train.pbr"
    path.parent.mkdir(parents=True, exist_ok=True)
    core.write_spmatrix_to_sparse_tensor(path, corpus.counts)
    config = TrainingConfig.from_hyperparameters({"num_topics": "4", "feature_dim": str(corpus.counts.shape[1]),
                                                  "epochs": "1", "mini_batch_size": "200"})
    lines = []
    trainer.train(config, {"train": check_channel(Channel("train", [path]), config.feature_dim)}, None,
                  log=lines.append)
    progress = [line for line in lines if "documents on this worker" in line]
    assert progress[0] == "Epoch 1/1: 25% (200 of ~800 documents on this worker)"
    assert progress[-1].startswith("Epoch 1/1: 100% (800 of ~800")


def test_topics_relevance_trades_probability_for_specificity(corpus):
    estimator = local_estimator(epochs=5)
    estimator.fit(estimator.record_set(corpus.counts), logs=False, mini_batch_size=BATCH)
    model = NTMModel(estimator.model_data)
    by_probability = model.topics(top_n=15, relevance=1.0)
    by_default = model.topics(top_n=15)
    assert by_default != by_probability
    # The common words every theme shares lead fewer topics once specificity counts.
    common = set(range(len(corpus.vocabulary) - 15, len(corpus.vocabulary)))
    shared = lambda topics: sum(w in common for topic in topics for w in topic[:5])  # noqa: E731
    assert shared(by_default) <= shared(by_probability)
    with pytest.raises(ValueError, match="relevance must be in"):
        model.topics(relevance=1.5)


def test_the_readme_main_job_runs_end_to_end(tmp_path):
    """`python -m ntm.demo`, the README's first command: train, topics, deploy, predict, delete."""
    done = subprocess.run([sys.executable, "-m", "ntm.demo", "--documents", "1500"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "NTM_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    recovery = float(done.stdout.split("Recovery of the true themes (top-10 overlap, 1.0 = perfect): ")[1].split()[0])
    assert recovery >= 0.7
    assert done.stdout.count("document with words") == 4
    assert "delete_endpoint: done" in done.stdout


def test_predicted_topic_weights_track_the_true_proportions(corpus, tmp_path):
    """What deploy/predict returns, against the proportions each synthetic document was drawn from."""
    estimator = local_estimator()
    estimator.fit({"train": estimator.record_set(corpus.counts),
                   "auxiliary": vocab_channel(tmp_path, corpus.vocabulary)}, logs=False, mini_batch_size=BATCH)
    truth = [set(np.argsort(-row)[:10]) for row in corpus.topic_words]
    found = NTMModel(estimator.model_data).topics(top_n=10)
    theme_of = [int(np.argmax([len({corpus.vocabulary.index(w) for w in t} & s) for s in truth])) for t in found]
    assert sorted(theme_of) == list(range(4))  # one found topic per theme
    predictor = estimator.deploy(1, "local")
    try:
        rows = predictor.predict(corpus.counts[:300].toarray())
    finally:
        predictor.delete_endpoint()
    predicted = np.zeros((300, 4))
    for i, record in enumerate(rows):
        predicted[i, theme_of] = record.label["topic_weights"].float32_tensor.values
    l1 = np.abs(predicted - corpus.mixtures[:300]).sum(axis=1).mean()
    dominant = corpus.mixtures[:300].max(axis=1) > 0.8
    agree = (predicted.argmax(axis=1) == corpus.mixtures[:300].argmax(axis=1))[dominant].mean()
    assert l1 < 0.35, f"mean L1 error of the predicted proportions {l1:.3f}"
    assert agree > 0.95, f"dominant theme found for {agree:.1%} of {dominant.sum()} documents"
