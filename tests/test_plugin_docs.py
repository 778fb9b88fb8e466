"""The plugin surface stays honest as it grows: every hook is documented in the README and tested."""

import inspect
import re
from pathlib import Path

import pytest

from ntm import hookspecs

ROOT = Path(__file__).resolve().parent.parent


def hook_signatures():
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if hasattr(function, "ntm_spec"):
            parameters = ", ".join(inspect.signature(function).parameters)
            yield name, f"{name}({parameters})"


def test_there_are_hooks_to_check():
    assert [name for name, _ in hook_signatures()] == ["register_backends"]


@pytest.mark.parametrize("name, signature", list(hook_signatures()))
def test_plugin_hooks_are_documented(name, signature):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"^#+ `?{re.escape(signature)}`?\s*$", readme, re.MULTILINE), (
        f"README.md needs a heading for the hook {signature}")


@pytest.mark.parametrize("name, signature", list(hook_signatures()))
def test_plugin_hooks_have_tests(name, signature):
    tests = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "tests").glob("test_*.py"))
    assert re.search(rf"^def test_hook_{name}\w*\(", tests, re.MULTILINE), (
        f"add a test named test_hook_{name}_... that exercises the {name} hook")
