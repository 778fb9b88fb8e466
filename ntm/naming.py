"""Resource names as the SageMaker SDK makes them: ``<base>-YYYY-MM-DD-HH-MM-SS-mmm`` (UTC, <= 63 chars)."""

from __future__ import annotations

import re
import threading
import time

MAX_NAME_LENGTH = 63
_TIMESTAMPED = re.compile(r"^(.+)-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{3}|\d{6}-\d{4})")


def timestamp() -> str:
    """UTC time with milliseconds: ``2024-05-01-12-00-00-123``."""
    moment = time.time()
    millis = int((moment % 1) * 1000)
    return time.strftime("%Y-%m-%d-%H-%M-%S-", time.gmtime(moment)) + f"{millis:03d}"


_issued_lock = threading.Lock()
_last_issued: dict = {}


def name_from_base(base: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """``base`` plus a timestamp, ``base`` trimmed so the whole name fits ``max_length``.

    Two calls in the same millisecond would collide (instant backends make that common), so a name
    equal to the last one issued for the same base waits for the next millisecond.
    """
    with _issued_lock:
        while True:
            stamp = timestamp()
            name = f"{base[: max_length - len(stamp) - 1]}-{stamp}"
            if _last_issued.get(base) != name:
                _last_issued[base] = name
                return name
            time.sleep(0.0005)


def base_from_name(name: str) -> str:
    """The base of a name made by :func:`name_from_base` (the name itself if it has no timestamp)."""
    match = _TIMESTAMPED.match(name)
    return match.group(1) if match else name
