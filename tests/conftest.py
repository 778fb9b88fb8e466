"""Shared test isolation: no entry-point plugins from the environment, a private NTM_HOME per test,
and fresh backend instances (so the mock backend's recorded state never leaks between tests)."""

import os

import pytest

# moto and fake-AWS fixtures for the sagemaker backend's tests (imports botocore only when used).
pytest_plugins = ["sagemaker_fixtures"]

# Set before ntm loads its plugins: third-party plugins installed in this environment must not change
# what the tests see. Tests that exercise entry points run in a subprocess without it.
os.environ["NTM_DISABLE_PLUGIN_AUTOLOAD"] = "1"


@pytest.fixture(autouse=True)
def _isolated_ntm(tmp_path, monkeypatch):
    monkeypatch.setenv("NTM_HOME", str(tmp_path / "ntm-home"))
    monkeypatch.delenv("NTM_BACKEND", raising=False)
    yield
    import sys

    if "ntm.plugins" in sys.modules:
        sys.modules["ntm.plugins"]._reset_for_tests()
