"""The local model's likelihood: damped counts for training, raw counts for perplexity."""

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from ntm.plugins.local.model import Batch, NeuralTopicModel


def trained_free_model(vocab=12, topics=3):
    torch.manual_seed(0)
    model = NeuralTopicModel(vocab, topics, [8, 6])
    model.train()
    # A few steps so the batch norms hold running statistics that differ from their initial values.
    rng = np.random.default_rng(0)
    for _ in range(3):
        model(Batch(sp.csr_matrix(rng.poisson(1.0, size=(16, vocab)).astype(np.float32))))
    return model.eval()


def test_training_loss_reconstructs_square_rooted_counts_and_perplexity_uses_raw_counts():
    model = trained_free_model()
    counts = np.array([[9, 0, 1, 0, 0, 0, 0, 4, 0, 0, 0, 0],
                       [0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 25]], dtype=np.float32)
    with torch.no_grad():
        out = model(Batch(sp.csr_matrix(counts)), count_loss=True)
    with torch.no_grad():
        mu, _ = model.encode(Batch(sp.csr_matrix(counts)))
        log_p = F.log_softmax(model.decoder_bn(F.softmax(mu, dim=1) @ model.beta), dim=1).numpy()
    expected_rec = -(np.sqrt(counts) * log_p).sum(axis=1)
    expected_count_rec = -(counts * log_p).sum(axis=1)
    np.testing.assert_allclose(out["rec_loss"].numpy(), expected_rec, rtol=1e-5)
    np.testing.assert_allclose(out["count_rec_loss"].numpy(), expected_count_rec, rtol=1e-5)
    # A word repeated 25 times weighs 5x one use in training, not 25x.
    assert out["rec_loss"][1] < out["count_rec_loss"][1] / 3


def test_explicit_zeros_in_the_sparse_input_change_nothing():
    model = trained_free_model()
    dense = np.array([[2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3]], dtype=np.float32)
    with_zero = sp.csr_matrix((np.array([2, 0, 1, 3], np.float32), np.array([0, 1, 2, 11]), np.array([0, 4])),
                              shape=(1, 12))
    with torch.no_grad():
        a, b = model(Batch(sp.csr_matrix(dense)), count_loss=True), model(Batch(with_zero), count_loss=True)
    for key in ("rec_loss", "count_rec_loss", "kld"):
        np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), rtol=1e-6)
