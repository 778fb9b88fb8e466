"""Hyperparameter descriptors: coerce, then validate, on every assignment (constructor included).

Same names, ranges and ``hyperparameters()`` strings as the SageMaker SDK, with two differences on
purpose: strings are parsed for what they mean (the SDK turns ``encoder_layers="50,20"`` into a list of
characters and ``batch_norm="false"`` into ``True``), and errors read like scikit-learn's::

    The 'num_topics' parameter of NTM must be an int in the range [2, 1000]. Got 1 instead.

The SDK's own text stays on the exception as ``sdk_message``.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any, Dict, Iterable, List, Sequence

import numpy as np

from .errors import InvalidParameterError


class Hyperparameter:
    """A descriptor storing its value in ``obj._hyperparameters[name]`` (the SDK's layout).

    Subclasses implement ``coerce`` (turn an accepted spelling into the canonical type, or raise) and
    ``describe`` (the "must be ..." phrase). ``None`` is always allowed and means "not set".
    """

    def __init__(self, name: str, sdk_text: str = "") -> None:
        self.name = name
        self.sdk_text = sdk_text
        self.owner_name = "estimator"

    def __set_name__(self, owner, attribute: str) -> None:
        self.owner_name = owner.__name__

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return getattr(obj, "_hyperparameters", {}).get(self.name)

    def __set__(self, obj, value) -> None:
        if value is not None:
            value = self.coerce(value, type(obj).__name__)
        if "_hyperparameters" not in obj.__dict__:
            obj._hyperparameters = {}
        obj._hyperparameters[self.name] = value

    def __delete__(self, obj) -> None:
        obj._hyperparameters.pop(self.name, None)

    def coerce(self, value: Any, owner: str) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def error(self, value: Any, owner: str, why: str = "") -> InvalidParameterError:
        message = f"The {self.name!r} parameter of {owner} must be {self.describe()}. Got {value!r} instead."
        if why:
            message += f" ({why})"
        sdk = f"Invalid hyperparameter value {value} for {self.name}"
        if self.sdk_text:
            sdk += f". Expecting: {self.sdk_text}"
        return InvalidParameterError(message, parameter=self.name, sdk_message=sdk)


def _format_bound(bound: float) -> str:
    return "inf" if bound == math.inf else repr(bound)


class _Number(Hyperparameter):
    kind = "a number"

    def __init__(self, name: str, low: float = -math.inf, high: float = math.inf, sdk_text: str = "",
                 low_open: bool = False) -> None:
        super().__init__(name, sdk_text)
        self.low, self.high, self.low_open = low, high, low_open

    def describe(self) -> str:
        if self.low == -math.inf and self.high == math.inf:
            return self.kind
        left = "(" if self.low_open or self.low == -math.inf else "["
        right = ")" if self.high == math.inf else "]"
        return f"{self.kind} in the range {left}{_format_bound(self.low)}, {_format_bound(self.high)}{right}"

    def in_range(self, value) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def coerce(self, value, owner):
        number = self.parse(value, owner)
        if not self.in_range(number):
            raise self.error(value, owner)
        return number

    def parse(self, value, owner):
        raise NotImplementedError


class Integer(_Number):
    """An int; integral floats (``3.0``) and numeric strings (``"3"``) are accepted, ``3.5`` is not."""

    kind = "an int"

    def parse(self, value, owner) -> int:
        if isinstance(value, bool):
            raise self.error(value, owner, "a bool is not a number here")
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    raise self.error(value, owner) from None
                if number.is_integer():
                    return int(number)
        raise self.error(value, owner)


class Float(_Number):
    """A finite float (ints and numeric strings accepted)."""

    kind = "a float"

    def parse(self, value, owner) -> float:
        if isinstance(value, bool):
            raise self.error(value, owner, "a bool is not a number here")
        if isinstance(value, (numbers.Real, str)):
            try:
                number = float(value)
            except ValueError:
                raise self.error(value, owner) from None
            if not math.isnan(number):
                return number
        raise self.error(value, owner)


class Choice(Hyperparameter):
    """One string out of a fixed set (exact spelling, as the algorithm expects)."""

    def __init__(self, name: str, choices: Sequence[str], sdk_text: str = "") -> None:
        super().__init__(name, sdk_text)
        self.choices = tuple(choices)

    def describe(self) -> str:
        return "a str among {" + ", ".join(repr(c) for c in self.choices) + "}"

    def coerce(self, value, owner) -> str:
        if isinstance(value, str) and value in self.choices:
            return value
        raise self.error(value, owner)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class Boolean(Hyperparameter):
    """A bool; ``"true"``/``"false"`` (any case), ``"1"``/``"0"`` and 0/1 mean what they say."""

    def describe(self) -> str:
        return "a bool (True/False, or the strings 'true'/'false')"

    def coerce(self, value, owner) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, numbers.Integral) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        raise self.error(value, owner)


class PositiveIntList(Hyperparameter):
    """A non-empty list of positive ints; ``"50,20"`` and ``"[50, 20]"`` both mean ``[50, 20]``."""

    def describe(self) -> str:
        return "a non-empty list of positive ints (or a string such as '50,20')"

    def coerce(self, value, owner) -> List[int]:
        items = self._items(value, owner)
        result = []
        for index, item in enumerate(items):
            if isinstance(item, str):
                item = item.strip()
                if item.lstrip("+").isdigit():
                    item = int(item)
            if isinstance(item, bool) or not isinstance(item, numbers.Integral) or item < 1:
                raise self.error(value, owner, f"item {index} is {item!r}")
            result.append(int(item))
        if not result:
            raise self.error(value, owner, "the list is empty")
        return result

    def _items(self, value, owner) -> Iterable:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    parsed = json.loads(text)
                except json.JSONDecodeError:
                    raise self.error(value, owner, "not a JSON list") from None
                if isinstance(parsed, list):
                    return parsed
                raise self.error(value, owner)
            return [] if not text else text.split(",")
        if isinstance(value, (list, tuple, np.ndarray)):
            return list(value)
        raise self.error(value, owner)


def serialize_all(obj) -> Dict[str, str]:
    """Every set (non-None) hyperparameter as a string, as the SDK sends them: lists as JSON, the
    rest through ``str()`` (``"False"``, ``"0.05"``)."""
    out = {}
    for name, value in getattr(obj, "_hyperparameters", {}).items():
        if value is None:
            continue
        out[name] = json.dumps(value) if isinstance(value, list) else str(value)
    return out


def descriptors(cls) -> Dict[str, Hyperparameter]:
    """``{attribute name: descriptor}`` for every hyperparameter a class (and its bases) defines."""
    found: Dict[str, Hyperparameter] = {}
    for klass in reversed(cls.__mro__):
        for attribute, value in vars(klass).items():
            if isinstance(value, Hyperparameter):
                found[attribute] = value
    return found

