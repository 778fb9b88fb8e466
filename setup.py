"""Build script: compiles the RecordIO codec. Metadata lives in pyproject.toml."""

import hashlib
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

CODEC_SOURCE = Path(__file__).parent / "core" / "_recordio.pyx"
# ntm.core compares this with the .pyx beside it to detect a stale build (see core/_build_check.py).
SOURCE_SHA256 = hashlib.sha256(CODEC_SOURCE.read_bytes()).hexdigest()

extensions = [
    Extension(
        "ntm.core._recordio",
        ["core/_recordio.pyx"],
        language="c++",
        extra_compile_args=["-O3"],
    )
]

setup(
    package_dir={"ntm": "ntm", "ntm.core": "core", "ntm.plugins": "plugins"},
    ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"},
        compile_time_env={"SOURCE_SHA256": SOURCE_SHA256},
    ),
)
