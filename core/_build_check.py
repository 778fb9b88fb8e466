"""Import the compiled codec, or fail with instructions; never fall back to a slow path."""

from __future__ import annotations

import hashlib
from pathlib import Path

BUILD_HINT = (
    "build it with `pip install -e .` (or `python setup.py build_ext --inplace`) from the project root"
)


def load_extension():
    try:
        from ntm.core import _recordio
    except ImportError as exc:
        raise ImportError(
            f"The ntm RecordIO codec extension (ntm.core._recordio) is not built: {exc}. "
            f"It is compiled C++, not optional: {BUILD_HINT}."
        ) from exc
    source = Path(__file__).with_name("_recordio.pyx")
    # Installed wheels carry no .pyx; a checkout (editable install) does, and may have moved on.
    if source.exists():
        current = hashlib.sha256(source.read_bytes()).hexdigest()
        if current != getattr(_recordio, "BUILD_SOURCE_SHA256", None):
            raise ImportError(
                f"The ntm RecordIO codec extension is stale: {source} changed after "
                f"{_recordio.__file__} was built. Rebuild: {BUILD_HINT}."
            )
    return _recordio
