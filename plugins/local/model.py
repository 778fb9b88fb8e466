"""The neural topic model: SageMaker NTM's NVDM-family encoder with a product-of-experts decoder.

Encoder (SageMaker's hyperparameters): an MLP over the bag of words with ``encoder_layers`` hidden sizes,
``encoder_layers_activation`` and optional ``batch_norm``, giving the mean and log-variance of a
logistic-normal posterior over topic proportions. The first layer takes the sparse counts directly.

Decoder (what makes topics good, see QUALITY.md): word logits = batch-normalised ``theta @ beta`` (ProdLDA),
with a Laplace approximation of a Dirichlet(0.25) prior on theta. Topics are read from ``beta``.

Likelihood: the decoder reconstructs each word's count square-rooted (the encoder still sees the raw
counts). Word repetitions are bursty: a code listing, a signature or a name repeated forty times in one post
says little more about its topics than a few uses do, but a multinomial over raw counts lets those few
documents pull topics towards words that seldom appear together in other documents. On 20news (K=50,
default hyperparameters, 3 seeds, alpha 0.5) raw counts gave NPMI@10 0.28-0.29 and the -1-rule NPMI
0.25-0.27; square roots 0.33-0.34 and 0.32-0.33. Presence only (counts clipped at 1) scored about the
same on 20news but recovered the synthetic corpus's topics less well (0.81-0.89 against 0.89-0.98);
powers 0.4 and 0.6 and log1p were worse on 20news. Perplexity on held-out data still uses the raw
counts (``count_rec_loss``), so it stays comparable with other models.
"""

from __future__ import annotations

import math
from typing import Dict, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .architecture import hidden_plan

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


class Batch:
    """A mini-batch of bag-of-words rows in CSR form, as the model consumes it.

    The counts never become a dense matrix: the first layer is an ``embedding_bag`` over the word ids
    and the reconstruction term gathers log-probabilities at the non-zeros only.
    """

    def __init__(self, csr):
        self.size = csr.shape[0]
        self.offsets = torch.as_tensor(csr.indptr[:-1], dtype=torch.int64)
        self.words = torch.as_tensor(csr.indices, dtype=torch.int64)
        self.counts = torch.as_tensor(csr.data, dtype=torch.float32)
        # What the decoder reconstructs: square-rooted counts (see the module doc). Counts are checked
        # non-negative before training (data.check_channel).
        self.targets = self.counts.sqrt()
        self.rows = torch.repeat_interleave(torch.arange(self.size), torch.as_tensor(csr.indptr).diff())


def _shift_only_bn(size: int, scale=1.0) -> nn.BatchNorm1d:
    """Batch norm with a fixed scale (1 unless given) and a learned shift.

    On the posterior's mean and log-variance, the shift is a learned per-topic prevalence: without it
    every topic is forced to the same average weight, and a theme that fills 15% of a corpus can only
    be represented by several near-duplicate topics (on the synthetic corpus, recovery of the known
    themes rose from about 0.85 to 0.93 with it). On the word logits it is each word's background
    weight (20news, K=50, 3 seeds: NPMI@10 0.258 -> 0.285, TD@25 0.685 -> 0.72; synthetic recovery
    0.95 -> 0.975).
    """
    bn = nn.BatchNorm1d(size)
    with torch.no_grad():
        bn.weight.copy_(torch.as_tensor(scale, dtype=bn.weight.dtype).expand(size))
    bn.weight.requires_grad_(False)
    return bn


class NeuralTopicModel(nn.Module):
    """``dropout`` (on the encoder output and on theta, as ProdLDA has it) defaults to 0: on 20news
    (K=50, 3 seeds) ProdLDA's 0.2 gave TD@25 0.57-0.60 and 0 gave 0.685 at the same NPMI."""

    def __init__(self, vocab_size: int, num_topics: int, encoder_layers: Sequence[int],
                 activation: str = "sigmoid", batch_norm: bool = False, dropout: float = 0.0,
                 prior_alpha: float = 0.25):
        super().__init__()
        self.vocab_size, self.num_topics = vocab_size, num_topics
        self.activation_name, self.batch_norm = activation, batch_norm
        sizes = [vocab_size, *encoder_layers]
        # The first layer's weights as (vocab, hidden) rows, summed per document by embedding_bag with
        # the counts as weights: a sparse matmul that never builds the dense counts.
        self.input_weight = nn.Parameter(torch.empty(vocab_size, sizes[1]))
        self.input_bias = nn.Parameter(torch.zeros(sizes[1]))
        bound = 1.0 / math.sqrt(vocab_size)
        nn.init.uniform_(self.input_weight, -bound, bound)
        builders = {"linear": nn.Linear, "batch_norm": nn.BatchNorm1d,
                    "activation": lambda *_: ACTIVATIONS[activation]()}
        self.hidden = nn.Sequential(*[builders[kind](*args) for kind, args in hidden_plan(encoder_layers, batch_norm)])
        self.encoder_dropout = nn.Dropout(dropout)
        self.mu = nn.Linear(sizes[-1], num_topics)
        self.logvar = nn.Linear(sizes[-1], num_topics)
        # Laplace approximation of Dirichlet(alpha) in the softmax basis (Srivastava & Sutton 2017).
        # alpha 0.25 rather than ProdLDA's 1 lets a document concentrate on fewer topics, which makes
        # each topic more coherent but lets more of them share their most probable words; relevance
        # ranking (topics.py) then separates them. On 20news (K=50, defaults, seeds 0-5, relevance 0.3):
        # alpha 0.2 gave NPMI@10 0.342-0.351 at TD@25 0.764-0.783, 0.25 gave 0.332-0.342 at
        # 0.777-0.793, 0.3 gave 0.321-0.335 at 0.780-0.806.
        alpha = torch.full((num_topics,), float(prior_alpha))
        prior_mean = alpha.log() - alpha.log().mean()
        prior_var = (1.0 / alpha) * (1 - 2.0 / num_topics) + (1.0 / alpha).sum() / num_topics ** 2
        self.register_buffer("prior_mean", prior_mean)
        self.register_buffer("prior_var", prior_var)
        # Batch norm on the posterior parameters and on the word logits (without a learned scale) keeps
        # the posterior from collapsing and stops a few frequent words from dominating every topic.
        # The posterior means are scaled to the prior's spread: ProdLDA's unit scale matches
        # Dirichlet(1) (prior variance ~1) but is too narrow for a sparse prior, and then every
        # document's topic proportions come out flat. On the synthetic corpus (8 themes, 3 seeds) this
        # halved the L1 error of predicted proportions (0.52-0.72 -> 0.24-0.31 at alpha 0.3).
        self.mu_bn = _shift_only_bn(num_topics, self.prior_var.sqrt())
        self.logvar_bn = _shift_only_bn(num_topics)
        self.theta_dropout = nn.Dropout(dropout)
        self.beta = nn.Parameter(torch.empty(num_topics, vocab_size))
        nn.init.xavier_uniform_(self.beta)
        # The word logits' learned shift is a per-word background frequency: without it the common words
        # of a corpus need topics of their own, which come out as mixtures of generic words.
        self.decoder_bn = _shift_only_bn(vocab_size)

    def encode(self, batch: Batch):
        first = F.embedding_bag(batch.words, self.input_weight, batch.offsets, mode="sum",
                                per_sample_weights=batch.counts)
        hidden = self.encoder_dropout(self.hidden(first + self.input_bias))
        return self.mu_bn(self.mu(hidden)), self.logvar_bn(self.logvar(hidden))

    def forward(self, batch: Batch, kl_weight: float = 1.0,
                count_loss: bool = False) -> Dict[str, torch.Tensor]:
        """Per-document losses: reconstruction (-sum sqrt(x) log p), KL to the prior, their weighted sum,
        and with ``count_loss`` the reconstruction over every word occurrence (``count_rec_loss``, -sum x
        log p: what held-out perplexity is computed from)."""
        mu, logvar = self.encode(batch)
        if self.training:
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        else:
            z = mu
        theta = self.theta_dropout(F.softmax(z, dim=1))
        log_probs = F.log_softmax(self.decoder_bn(theta @ self.beta), dim=1)
        picked = log_probs[batch.rows, batch.words]
        rec = -torch.zeros(batch.size, dtype=picked.dtype).index_add_(0, batch.rows, picked * batch.targets)
        var = logvar.exp()
        kld = 0.5 * ((var / self.prior_var).sum(1)
                     + ((mu - self.prior_mean) ** 2 / self.prior_var).sum(1)
                     - self.num_topics + self.prior_var.log().sum() - logvar.sum(1))
        out = {"rec_loss": rec, "kld": kld, "total_loss": rec + kl_weight * kld}
        if count_loss:
            out["count_rec_loss"] = -torch.zeros(batch.size, dtype=picked.dtype).index_add_(
                0, batch.rows, picked.detach() * batch.counts)
        return out

    @torch.no_grad()
    def topic_weights(self, batch: Batch) -> torch.Tensor:
        """Posterior-mean topic proportions (deterministic; call in eval mode)."""
        mu, _ = self.encode(batch)
        return F.softmax(mu, dim=1)
