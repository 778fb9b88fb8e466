"""A missing or stale codec extension fails loudly with how to build it; there is no slow fallback."""

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import ntm.core

CORE = Path(ntm.core.__file__).parent


def import_in_copy(tmp_path, mutate):
    """Import ntm.core from a copy of the package that `mutate` has altered."""
    package = tmp_path / "ntm"
    shutil.copytree(Path(ntm.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(CORE, package / "core", ignore=shutil.ignore_patterns("__pycache__"))
    mutate(package / "core")
    # -S skips .pth files, so an editable install's import hook cannot redirect to the real package;
    # site-packages itself stays reachable for numpy, scipy and protobuf.
    path = os.pathsep.join([str(tmp_path), *site.getsitepackages()])
    return subprocess.run([sys.executable, "-S", "-c", "import ntm.core"], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin"})


def test_missing_extension_says_how_to_build_it(tmp_path):
    def remove_extension(core):
        for built in core.glob("_recordio*.so"):
            built.unlink()

    result = import_in_copy(tmp_path, remove_extension)
    assert result.returncode != 0
    assert "extension (ntm.core._recordio) is not built" in result.stderr
    assert "pip install -e ." in result.stderr


def test_stale_extension_says_to_rebuild(tmp_path):
    def edit_source(core):
        source = core / "_recordio.pyx"
        source.write_text(source.read_text() + "\n# an edit made after the build\n")

    result = import_in_copy(tmp_path, edit_source)
    assert result.returncode != 0
    assert "extension is stale" in result.stderr and "Rebuild" in result.stderr


def test_current_build_imports(tmp_path):
    assert import_in_copy(tmp_path, lambda core: None).returncode == 0
