"""The mock backend passes the conformance suite, and the suite catches backends that break the contract."""

import numpy as np
import pytest

import ntm
from ntm.errors import ResourceNotFoundError
from ntm.plugins.mock.backend import MockBackend
from ntm.testing import BackendConformanceError, check_backend


def test_the_mock_backend_passes_check_backend(tmp_path):
    check_backend(ntm.get_backend("mock"), data_location=tmp_path)


def test_check_backend_refuses_what_is_not_a_backend():
    with pytest.raises(BackendConformanceError, match="object does not subclass ntm.Backend"):
        check_backend(object())


class ForgetsArtifacts(MockBackend):
    def describe_training_job(self, name):
        job = super().describe_training_job(name)
        job.pop("ModelArtifacts", None)
        return job


class SilentOnMissing(MockBackend):
    def describe_endpoint(self, name):
        try:
            return super().describe_endpoint(name)
        except ResourceNotFoundError:
            return {}


class RandomWeights(MockBackend):
    @staticmethod
    def topic_weights(features, num_topics):
        weights = np.random.default_rng().random((features.shape[0], num_topics))
        return weights / weights.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("backend, message", [
    (ForgetsArtifacts(), "ModelArtifacts.S3ModelArtifacts is None"),
    (SilentOnMissing(), r"describe_endpoint\('ntm-conformance-no-such-name'\) did not raise ResourceNotFoundError"),
    (RandomWeights(), "different topic_weights in different formats"),
])
def test_check_backend_names_the_broken_part_of_the_contract(backend, message, tmp_path):
    with pytest.raises(BackendConformanceError, match=message):
        check_backend(backend, data_location=tmp_path)


def test_mock_topic_weights_sum_to_one_and_follow_the_row():
    rows = np.random.default_rng(3).poisson(1.0, (20, 30)).astype(np.float32)
    weights = MockBackend.topic_weights(rows, 7)
    assert weights.shape == (20, 7) and weights.dtype == np.float32
    assert np.allclose(weights.sum(axis=1), 1, atol=1e-6)
    assert len({tuple(np.round(w, 5)) for w in weights}) == 20
    assert np.array_equal(weights, MockBackend.topic_weights(rows, 7))


def test_mock_reset_forgets_jobs_and_calls(tmp_path):
    backend = ntm.get_backend("mock")
    check_backend(backend, data_location=tmp_path)
    backend.reset()
    assert backend.calls == []
    with pytest.raises(ResourceNotFoundError):
        backend.describe_training_job("anything")
