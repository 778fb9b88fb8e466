"""Topic-quality metrics: NPMI coherence, topic diversity (TD), topic uniqueness (TU), perplexity.

Topics are sequences of word ids, best word first. The protocols are the ones the project's benchmarks
use (NPMI from document co-occurrence on a binarized reference corpus, natural log), so a model's
training log, ``NTMModel.topics()`` and the benchmark tables all agree.

>>> import numpy as np, scipy.sparse as sp
>>> reference = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]]))
>>> round(npmi([[0, 1]], reference), 3)
1.0
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

Topics = Sequence[Sequence[int]]


def _binary_csc(reference) -> sp.csc_matrix:
    matrix = sp.csr_matrix(reference)
    matrix = (matrix > 0).astype(np.float64)
    return matrix.tocsc()


def npmi_per_topic(topics: Topics, reference, top_n: int = 10, unseen: float = 0.0) -> np.ndarray:
    """NPMI of each topic's top-``top_n`` words over the documents of ``reference``.

    NPMI(i, j) = log(p(i, j) / (p(i) p(j))) / -log p(i, j), with document frequencies; a pair that never
    co-occurs scores ``unseen`` (0, or -1 for the stricter rule) and p(i, j) = 1 scores 1. A topic's
    score is the mean over its word pairs.
    """
    binary = _binary_csc(reference)
    n_docs = binary.shape[0]
    words = sorted({int(w) for topic in topics for w in list(topic)[:top_n]})
    if not words:
        return np.zeros(len(topics))
    column = {w: i for i, w in enumerate(words)}
    sub = binary[:, words]
    joint = (sub.T @ sub).toarray() / n_docs  # p(i, j); the diagonal holds p(i)
    marginal = np.diag(joint).copy()
    scores = []
    for topic in topics:
        ids = [column[int(w)] for w in list(topic)[:top_n]]
        values = []
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                p_ij = joint[ids[a], ids[b]]
                if p_ij <= 0:
                    values.append(unseen)
                elif p_ij >= 1:
                    values.append(1.0)
                else:
                    values.append(np.log(p_ij / (marginal[ids[a]] * marginal[ids[b]])) / -np.log(p_ij))
        scores.append(np.mean(values) if values else 0.0)
    return np.array(scores)


def npmi(topics: Topics, reference, top_n: int = 10, unseen: float = 0.0) -> float:
    """Mean NPMI over topics (see :func:`npmi_per_topic`)."""
    return float(np.mean(npmi_per_topic(topics, reference, top_n, unseen)))


def topic_diversity(topics: Topics, top_n: int = 25) -> float:
    """Distinct words among all topics' top-``top_n`` lists / (K x top_n) (Dieng et al. 2020)."""
    lists = [list(t)[:top_n] for t in topics]
    total = sum(len(t) for t in lists)
    return len({w for t in lists for w in t}) / total if total else 0.0


def topic_uniqueness_per_topic(topics: Topics, top_n: int = 10) -> np.ndarray:
    """TU(k) = mean over topic k's top words of 1 / (number of topics listing that word) (Nan et al. 2019)."""
    lists = [list(t)[:top_n] for t in topics]
    counts: dict = {}
    for t in lists:
        for w in set(t):
            counts[w] = counts.get(w, 0) + 1
    return np.array([np.mean([1.0 / counts[w] for w in t]) if t else 0.0 for t in lists])


def topic_uniqueness(topics: Topics, top_n: int = 10) -> float:
    return float(np.mean(topic_uniqueness_per_topic(topics, top_n)))


def perplexity(total_neg_log_likelihood: float, total_words: float) -> float:
    """Corpus perplexity exp(sum -log p(x_d) / sum N_d); from the ELBO it is an upper bound."""
    return float(np.exp(total_neg_log_likelihood / max(total_words, 1.0)))
