"""Reading topics out of the trained decoder, and printing them the way SageMaker's log does.

The topic-word matrix ``beta`` (topics x words) holds each topic's word logits. A topic's top words
are its highest logits; words are then allotted so no word leads more than a few topics, because a
50-topic model otherwise lists the same handful of frequent words in many topics (QUALITY.md: duplicate
topics are the obstacle). Everything here reads the model's parameters only.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ntm import metrics as topic_metrics


BATCH_NORM_EPS = 1e-5


def topic_word_scores(weights: Dict[str, np.ndarray]) -> np.ndarray:
    """(topics x words) word logits each topic produces on its own, as the decoder computes them.

    The decoder batch-normalises ``theta @ beta`` per word, so the logit of word w under a pure topic
    k is ``(beta[k, w] - mean_w) / std_w``. Ranking by this rather than by raw ``beta`` removes each
    word's offset shared by all topics (a frequent word no longer tops every topic) and weighs words
    by how much they vary between topics.
    """
    beta = weights["beta"]
    mean = weights.get("decoder_bn.running_mean")
    var = weights.get("decoder_bn.running_var")
    if mean is None or var is None:
        return beta
    return (beta - mean) / np.sqrt(var + BATCH_NORM_EPS)


def rank_topics(scores: np.ndarray, top_n: int = 20) -> List[List[int]]:
    """Each topic's ``top_n`` word ids, best first, from (topics x words) scores."""
    order = np.argsort(-scores, axis=1)
    return [row[:top_n].tolist() for row in order]


def topics_log(topics: Sequence[Sequence[int]], reference, vocabulary: Optional[List[str]],
               label: str = "final", words_shown: int = 20) -> List[str]:
    """SageMaker-style lines: a header with the model's scores, then each topic's scores and words."""
    npmi = topic_metrics.npmi_per_topic(topics, reference, 10)
    tu = topic_metrics.topic_uniqueness_per_topic(topics, 10)
    lines = [f"Topics from epoch:{label} (num_topics:{len(topics)}) [npmi {npmi.mean():.2f}, tu {tu.mean():.2f}]:"]
    for k, topic in enumerate(topics):
        words = [vocabulary[w] if vocabulary else str(w) for w in list(topic)[:words_shown]]
        lines.append(f"[npmi {npmi[k]:.2f}, tu {tu[k]:.2f}] " + " ".join(words))
    return lines
