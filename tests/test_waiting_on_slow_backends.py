"""Backends whose jobs take time: fit(wait=True), attach and deploy poll until a final status."""

import numpy as np
import pytest

import ntm
from ntm import NTM, UnexpectedStatusError, plugins
from ntm.plugins.mock.backend import MockBackend


class SlowBackend(MockBackend):
    """Reports jobs InProgress and endpoints Creating for the first few describes."""

    poll_interval = 0.001

    def __init__(self):
        super().__init__()
        self.pending = {}
        self.endpoint_outcome = "InService"

    def create_training_job(self, request):
        self.pending[request["TrainingJobName"]] = 2
        return super().create_training_job(request)

    def describe_training_job(self, name):
        job = super().describe_training_job(name)
        if self.pending.get(name, 0) > 0:
            self.pending[name] -= 1
            job.update(TrainingJobStatus="InProgress", SecondaryStatus="Training")
            job.pop("ModelArtifacts", None)
        return job

    def create_endpoint(self, request):
        self.pending[request["EndpointName"]] = 2
        return super().create_endpoint(request)

    def describe_endpoint(self, name):
        endpoint = super().describe_endpoint(name)
        if self.pending.get(name, 0) > 0:
            self.pending[name] -= 1
            endpoint["EndpointStatus"] = "Creating"
        elif self.endpoint_outcome != "InService":
            endpoint.update(EndpointStatus=self.endpoint_outcome, FailureReason="no capacity")
        return endpoint


class SlowPlugin:
    @ntm.hookimpl
    def register_backends(self, register):
        register("slow", SlowBackend, instance_types=("slow",))


@pytest.fixture
def slow():
    plugin = SlowPlugin()
    plugins.pm.register(plugin, name="slow-plugin")
    try:
        yield ntm.get_backend("slow")
    finally:
        plugins.pm.unregister(plugin)


ROWS = np.eye(6, dtype=np.float32)


def test_attach_to_a_running_job_follows_its_logs_until_it_ends(slow, capsys):
    estimator = NTM(None, 1, "slow", 3, epochs=2)
    estimator.fit(estimator.record_set(ROWS), wait=False)
    name = estimator.latest_training_job.name
    attached = NTM.attach(name)
    assert "#epoch 2" in capsys.readouterr().out
    assert slow.pending[name] == 0
    assert attached.model_data.endswith(f"/{name}/output/model.tar.gz")
    assert {"name": name, "follow": True} in slow.calls_to("logs")


def test_model_data_of_an_unfinished_job_says_to_wait(slow):
    estimator = NTM(None, 1, "slow", 3)
    estimator.fit(estimator.record_set(ROWS), wait=False)
    with pytest.raises(ValueError, match=r"has no model artifact \(status InProgress\); wait for it"):
        _ = estimator.model_data


def test_deploy_waits_for_in_service_and_raises_if_the_endpoint_fails(slow):
    estimator = NTM(None, 1, "slow", 3)
    estimator.fit(estimator.record_set(ROWS), logs=False)
    predictor = estimator.deploy(endpoint_name="patient")
    assert slow.describe_endpoint("patient")["EndpointStatus"] == "InService"
    assert len(predictor.predict(ROWS)) == 6
    slow.endpoint_outcome = "Failed"
    with pytest.raises(UnexpectedStatusError, match="Error for endpoint doomed: Failed. Reason: no capacity"):
        estimator.deploy(endpoint_name="doomed")
