"""A training job's hyperparameters: the request's strings, validated, with SageMaker's defaults.

The strings are checked with the estimator's own descriptors, so a request built by hand (or by another
tool) gets the same errors as ``NTM(...)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Dict, List, Union

from ntm.errors import InvalidParameterError
from ntm.hyperparameters import descriptors

# SageMaker NTM's documented defaults for unset hyperparameters.
DEFAULTS: Dict[str, object] = {
    "encoder_layers": "auto",
    "encoder_layers_activation": "sigmoid",
    "optimizer": "adadelta",
    "learning_rate": 0.001,
    "epochs": 50,
    "num_patience_epochs": 3,
    "tolerance": 0.001,
    "batch_norm": False,
    "clip_gradient": math.inf,
    "rescale_gradient": 1.0,
    "weight_decay": 0.0,
    "mini_batch_size": 256,
    "sub_sample": 1.0,
    "seed": 0,
}


@dataclass
class TrainingConfig:
    num_topics: int
    feature_dim: int
    encoder_layers: List[int]
    encoder_layers_activation: str
    optimizer: str
    learning_rate: float
    epochs: int
    num_patience_epochs: int
    tolerance: float
    batch_norm: bool
    clip_gradient: float
    rescale_gradient: float
    weight_decay: float
    mini_batch_size: int
    sub_sample: float
    seed: int

    @classmethod
    def from_hyperparameters(cls, strings: Dict[str, str]) -> "TrainingConfig":
        """Parse a request's ``HyperParameters``; raise InvalidParameterError naming the bad one."""
        from ntm.estimator import NTM  # the estimator's descriptors are the single source of truth

        checks = descriptors(NTM)
        values: Dict[str, object] = dict(DEFAULTS)
        for name, text in strings.items():
            if name in checks and not (name == "encoder_layers" and str(text).strip().lower() == "auto"):
                values[name] = checks[name].coerce(text, "NTM")
            elif name == "sub_sample":
                values[name] = _fraction(name, text)
            elif name == "seed":
                values[name] = _integer(name, text)
            elif name in DEFAULTS or name in ("num_topics", "feature_dim"):
                values[name] = text
            # Unknown names are ignored, as SageMaker's algorithms ignore them.
        for required in ("num_topics", "feature_dim"):
            if required not in values:
                raise InvalidParameterError(f"The training job needs the '{required}' hyperparameter.")
        num_topics = int(values["num_topics"])
        if values["encoder_layers"] == "auto":
            values["encoder_layers"] = [3 * num_topics, 2 * num_topics]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @property
    def adadelta_ignores_learning_rate(self) -> bool:
        # MXNet's AdaDelta (what SageMaker runs) has no learning rate; torch's scales its step by one,
        # so the SageMaker default of 0.001 would freeze training. We follow MXNet.
        return self.optimizer == "adadelta"


def _fraction(name: str, text: Union[str, float]) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value <= 1.0:
        raise InvalidParameterError(f"The '{name}' parameter of NTM must be a float in the range (0, 1]. "
                                    f"Got {text!r} instead.")
    return value


def _integer(name: str, text: Union[str, int]) -> int:
    try:
        return int(str(text))
    except ValueError:
        raise InvalidParameterError(f"The '{name}' parameter of NTM must be an int. Got {text!r} instead.") from None
