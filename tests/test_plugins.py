"""The plugin registry: registration, selection, and the errors a user or plugin author can cause."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import ntm
from ntm import plugins
from ntm.errors import DuplicateBackendError, MissingDependencyError, UnknownBackendError
from ntm.plugins.mock.backend import MockBackend


@pytest.fixture
def register_plugin():
    """Register inline plugin objects for one test, unregistering them afterwards."""
    registered = []

    def register(plugin, name):
        plugins.pm.register(plugin, name=name)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        plugins.pm.unregister(plugin)


class FakeBackend(MockBackend):
    pass


class FakePlugin:
    @ntm.hookimpl
    def register_backends(self, register):
        register("fake", FakeBackend, instance_types=("fake-*",), aliases=("phony",), description="for tests")


def test_hook_register_backends_adds_a_backend_found_by_name_alias_and_instance_type(register_plugin):
    register_plugin(FakePlugin(), "fake-plugin")
    info = {b.name: b for b in ntm.list_backends()}["fake"]
    assert (info.plugin, info.instance_types, info.aliases) == ("fake-plugin", ("fake-*",), ("phony",))
    backend = ntm.get_backend("fake")
    assert isinstance(backend, FakeBackend) and ntm.get_backend("phony") is backend
    assert plugins.select_backend(instance_type="fake-large") == "fake"


def test_built_in_backends_register_through_the_same_hook():
    assert plugins.DEFAULT_PLUGINS == ("ntm.plugins.mock", "ntm.plugins.local", "ntm.plugins.sagemaker")
    backends = {b.name: b for b in ntm.list_backends()}
    assert backends["mock"].plugin == "ntm.plugins.mock" and backends["mock"].instance_types == ("mock",)
    sagemaker = backends["sagemaker"]
    assert (sagemaker.plugin, sagemaker.instance_types, sagemaker.extra) == ("ntm.plugins.sagemaker", ("ml.*",),
                                                                             "sagemaker")
    assert all(plugins.pm.has_plugin(name) for name in plugins.DEFAULT_PLUGINS)


def test_backend_argument_then_environment_then_instance_type(register_plugin, monkeypatch):
    register_plugin(FakePlugin(), "fake-plugin")
    assert plugins.select_backend(None, "mock") == "mock"
    monkeypatch.setenv("NTM_BACKEND", "fake")
    assert plugins.select_backend(None, "mock") == "fake"
    assert plugins.select_backend("mock", "fake-x") == "mock"
    assert ntm.NTM(None, 1, "mock", 3).backend_name == "fake"


def test_unknown_backend_lists_the_available_ones_and_suggests_the_closest():
    with pytest.raises(UnknownBackendError) as caught:
        ntm.get_backend("mokc")
    assert str(caught.value) == ("unknown backend 'mokc'; available backends: local, mock, sagemaker. "
                                 "Did you mean 'mock'?")


def test_unknown_backend_from_the_environment_says_so(monkeypatch):
    monkeypatch.setenv("NTM_BACKEND", "nope")
    with pytest.raises(UnknownBackendError, match=r"^\$NTM_BACKEND: unknown backend 'nope'"):
        plugins.select_backend(None, "mock")


def test_an_instance_type_no_backend_claims_lists_the_patterns():
    with pytest.raises(UnknownBackendError, match=r"no backend handles instance_type 'gpu9'; registered instance "
                                                  r"types: mock -> mock"):
        ntm.NTM(None, 1, "gpu9", 3).record_set([[1.0]])


def test_two_plugins_claiming_one_name_fail_naming_both(register_plugin):
    class Clash:
        @ntm.hookimpl
        def register_backends(self, register):
            register("mock", FakeBackend)

    register_plugin(Clash(), "clashing-plugin")
    with pytest.raises(DuplicateBackendError, match="'mock' is registered by more than one plugin: "
                                                    "'ntm.plugins.mock' and 'clashing-plugin'"):
        ntm.get_backend("mock")


def test_a_missing_optional_dependency_names_the_extra(register_plugin):
    def needs_torch():
        import torch_that_is_not_installed  # noqa: F401

    class Heavy:
        @ntm.hookimpl
        def register_backends(self, register):
            register("heavy", needs_torch, extra="torch")

    register_plugin(Heavy(), "heavy-plugin")
    assert "heavy" in [b.name for b in ntm.list_backends()]  # listing needs no dependency
    with pytest.raises(MissingDependencyError) as caught:
        ntm.get_backend("heavy")
    assert str(caught.value) == ("backend 'heavy' (plugin 'heavy-plugin') needs the package "
                                 "'torch_that_is_not_installed', which is not installed; install it with: "
                                 "pip install 'ntm-anywhere[torch]'")


def test_a_plugin_raising_while_registering_is_named_and_the_others_still_load(register_plugin):
    class Broken:
        @ntm.hookimpl
        def register_backends(self, register):
            raise RuntimeError("boom")

    register_plugin(Broken(), "broken-plugin")
    with pytest.warns(RuntimeWarning, match="ntm plugin 'broken-plugin' .* failed to load .*RuntimeError: boom"):
        names = [b.name for b in ntm.list_backends()]
    assert names == ["mock", "local", "sagemaker"]
    with pytest.raises(UnknownBackendError, match=r"Plugins that failed to load: 'broken-plugin' \(RuntimeError: boom\)"):
        ntm.get_backend("broken")


def test_backend_instances_are_shared_within_a_process():
    assert ntm.get_backend("mock") is ntm.get_backend("mock")


def run_python(code, env_extra=None, drop=("NTM_DISABLE_PLUGIN_AUTOLOAD",), path=None):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    if path:
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"subprocess failed:\n{done.stdout}\n{done.stderr}")
    return done


def test_import_ntm_loads_no_torch_and_no_boto3():
    done = run_python("""
        import sys, ntm
        names = [b.name for b in ntm.list_backends()]
        ntm.NTM(None, 1, "mock", 3)
        print(names, "torch" in sys.modules, "boto3" in sys.modules, "botocore" in sys.modules)
    """)
    assert done.stdout.split() == ["['mock',", "'local',", "'sagemaker']", "False", "False", "False"]


THIRD_PARTY = '''
import ntm
from ntm.plugins.mock.backend import MockBackend


class ThirdPartyBackend(MockBackend):
    """Someone else's backend: the mock's behaviour under another name."""


@ntm.hookimpl
def register_backends(register):
    register("thirdparty", ThirdPartyBackend, instance_types=("tp.*",), description="installed from PyPI")
'''


@pytest.fixture
def installed_distribution(tmp_path):
    """A fake installed distribution whose entry points declare three plugins: one good, one that fails
    to import, one whose hook name has a typo."""
    (tmp_path / "ntm_thirdparty.py").write_text(THIRD_PARTY)
    (tmp_path / "ntm_broken_plugin.py").write_text("raise ImportError('needs a library that is missing')\n")
    (tmp_path / "ntm_typo_plugin.py").write_text(
        "import ntm\n\n@ntm.hookimpl\ndef register_backend(register):\n    pass\n")
    dist_info = tmp_path / "ntm_thirdparty-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ntm-thirdparty\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[ntm.plugins]\nthirdparty = ntm_thirdparty\nbroken = ntm_broken_plugin\ntypo = ntm_typo_plugin\n")
    return tmp_path


def test_a_third_party_backend_installed_by_entry_point_runs_the_estimator_end_to_end(installed_distribution):
    done = run_python("""
        import json, warnings
        import numpy as np
        from ntm import NTM, list_backends
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = [b.name for b in list_backends()]
        estimator = NTM(None, 1, "tp.small", 3)
        estimator.fit(estimator.record_set(np.eye(6, dtype="float32")), logs=False)
        attached = NTM.attach(estimator.latest_training_job.name)
        predictor = attached.deploy()
        weights = predictor.predict(np.eye(6, dtype="float32"))[0].label["topic_weights"].float32_tensor.values
        predictor.delete_endpoint()
        print(json.dumps({"names": names, "backend": attached.backend_name, "k": len(weights),
                          "warnings": [str(w.message) for w in caught]}))
    """, env_extra={"NTM_HOME": str(installed_distribution / "home")}, path=installed_distribution)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["names"] == ["mock", "local", "sagemaker", "thirdparty"]
    assert report["backend"] == "thirdparty" and report["k"] == 3
    assert any("'broken'" in w and "needs a library that is missing" in w for w in report["warnings"])
    assert any("'typo'" in w and "register_backend" in w for w in report["warnings"])


def test_entry_point_autoloading_can_be_switched_off(installed_distribution):
    done = run_python("import ntm; print([b.name for b in ntm.list_backends()])",
                      env_extra={"NTM_DISABLE_PLUGIN_AUTOLOAD": "1"}, drop=(), path=installed_distribution)
    assert done.stdout.strip() == "['mock', 'local', 'sagemaker']"
