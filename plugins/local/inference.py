"""Topic weights from a saved model with numpy alone.

Serving needs only the encoder's forward pass in eval mode, a few matrix products, so endpoints and
batch transform load no torch: they start in a fraction of a second and fit in small workers. The layer
order comes from ``model.hidden_plan``, the same plan the torch model is built from.
"""

from __future__ import annotations

from typing import Callable, Dict, List

import numpy as np
import scipy.sparse as sp

from .architecture import hidden_plan
from .artifact import ArtifactError, ModelArtifact

BATCH_NORM_EPS = 1e-5  # torch.nn.BatchNorm1d's default


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


ACTIVATIONS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0),
}


class TopicInference:
    """Deterministic (posterior-mean) topic proportions for bag-of-words rows.

    >>> model = TopicInference(load_artifact(open("model.tar.gz", "rb").read()))  # doctest: +SKIP
    >>> model.topic_weights(counts).sum(axis=1)                                    # doctest: +SKIP
    array([1., 1.], dtype=float32)
    """

    def __init__(self, artifact: ModelArtifact):
        self.artifact = artifact
        config = artifact.config
        self.vocab_size = artifact.vocab_size
        self.num_topics = artifact.num_topics
        w = artifact.weights
        try:
            self.input_weight = w["input_weight"].astype(np.float32)
            self.input_bias = w["input_bias"].astype(np.float32)
            self.layers: List[Callable[[np.ndarray], np.ndarray]] = []
            activation = ACTIVATIONS[config["activation"]]
            for i, (kind, _) in enumerate(hidden_plan(config["encoder_layers"], config["batch_norm"])):
                prefix = f"hidden.{i}."
                if kind == "linear":
                    self.layers.append(self._linear(w[prefix + "weight"], w[prefix + "bias"]))
                elif kind == "batch_norm":
                    self.layers.append(self._batch_norm(w, prefix))
                else:
                    self.layers.append(activation)
            self.mu = self._linear(w["mu.weight"], w["mu.bias"])
            self.mu_bn = self._batch_norm(w, "mu_bn.")
        except KeyError as exc:
            raise ArtifactError(f"model weights are missing {exc}") from None
        if self.input_weight.shape != (self.vocab_size, config["encoder_layers"][0]):
            raise ArtifactError(f"input weights have shape {self.input_weight.shape}, not "
                                f"({self.vocab_size}, {config['encoder_layers'][0]})")

    @staticmethod
    def _linear(weight, bias):
        weight_t = np.ascontiguousarray(weight.T, dtype=np.float32)
        bias = bias.astype(np.float32)
        return lambda x: x @ weight_t + bias

    @staticmethod
    def _batch_norm(w, prefix):
        scale = 1.0 / np.sqrt(w[prefix + "running_var"].astype(np.float32) + BATCH_NORM_EPS)
        shift = -w[prefix + "running_mean"].astype(np.float32) * scale
        if prefix + "weight" in w:  # affine batch norm (learned scale and shift)
            scale, shift = scale * w[prefix + "weight"], shift * w[prefix + "weight"] + w[prefix + "bias"]
        scale, shift = scale.astype(np.float32), shift.astype(np.float32)
        return lambda x: x * scale + shift

    def topic_weights(self, counts) -> np.ndarray:
        """Rows of topic proportions (float32, each summing to 1) for a (n, vocab_size) count matrix."""
        counts = sp.csr_matrix(counts, dtype=np.float32) if not isinstance(counts, np.ndarray) else counts
        if counts.ndim != 2 or counts.shape[1] != self.vocab_size:
            raise ValueError(f"expected rows of {self.vocab_size} word counts, got shape {counts.shape}")
        hidden = np.asarray(counts @ self.input_weight, dtype=np.float32) + self.input_bias
        for layer in self.layers:
            hidden = layer(hidden)
        logits = self.mu_bn(self.mu(hidden))
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=1, keepdims=True)
        return weights.astype(np.float32)
