"""A synthetic bag-of-words corpus with known topics, for demos and tests that need no download.

Documents are drawn from an LDA generative process over themed word lists, so a topic model that
works should recover the themes: ``topic_recovery`` scores that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np
import scipy.sparse as sp

THEMES = {
    "space": "orbit rocket launch nasa shuttle moon mars satellite astronaut planet solar telescope "
             "mission lunar payload booster spacecraft cosmos galaxy comet",
    "hockey": "hockey puck goalie nhl skate rink penalty playoff stanley cup score season team coach "
              "ice goal defenseman winger faceoff overtime",
    "crypto": "encryption key cipher clipper chip escrow algorithm secure privacy nsa decrypt public "
              "private rsa pgp crypto wiretap protocol signature hash",
    "medicine": "doctor patient disease treatment drug symptom clinical medical cancer infection "
                "therapy diagnosis hospital vaccine dose virus chronic surgery immune study",
    "hardware": "drive disk controller scsi ide motherboard memory ram card bus jumper cable floppy "
                "bios port monitor vga chipset slot cache",
    "cars": "car engine dealer tire brake mileage ford honda transmission sedan clutch wheel fuel "
            "bmw speed model highway oil driver toyota",
    "religion": "god church faith bible jesus christian belief scripture prayer sin heaven pastor "
                "gospel doctrine spirit holy worship moral atheist truth",
    "politics": "government law president congress senate vote tax policy election rights federal "
                "court state gun amendment bill citizen liberty party debate",
    "graphics": "image graphics format jpeg gif pixel color render polygon bitmap software display "
                "resolution file convert viewer animation texture shading vector",
    "sale": "sale offer price shipping condition sell email interested buy new brand box manual "
            "warranty asking includes original excellent cheap deal",
}
COMMON = "people time year good make work thing know need think question problem system way point".split()


@dataclass
class SyntheticCorpus:
    """Counts (documents x words, CSR float32), the vocabulary, the true topic-word matrix and each
    document's true topic proportions."""

    counts: sp.csr_matrix
    vocabulary: List[str]
    topic_words: np.ndarray  # (num_topics, vocab_size), rows sum to 1
    theme_names: List[str]
    mixtures: np.ndarray  # (num_documents, num_topics), rows sum to 1


def make_corpus(num_documents: int = 2000, num_topics: int = 10, words_per_document: int = 80,
                alpha: float = 0.1, noise: float = 0.1, seed: int = 0) -> SyntheticCorpus:
    """Draw a corpus from ``num_topics`` (<= 10) themes plus a few common words shared by all.

    >>> corpus = make_corpus(100, num_topics=3, seed=1)
    >>> corpus.counts.shape[0], len(corpus.vocabulary) == corpus.counts.shape[1]
    (100, True)
    """
    if not 2 <= num_topics <= len(THEMES):
        raise ValueError(f"num_topics must be in [2, {len(THEMES)}], got {num_topics}")
    rng = np.random.default_rng(seed)
    names = list(THEMES)[:num_topics]
    vocabulary = [w for name in names for w in THEMES[name].split()] + COMMON
    vocab_index = {w: i for i, w in enumerate(vocabulary)}
    topic_words = np.full((num_topics, len(vocabulary)), 1e-4)
    for k, name in enumerate(names):
        words = THEMES[name].split()
        # Zipf-like weights inside a theme, and a little mass on the common words.
        weights = 1.0 / np.arange(1, len(words) + 1) ** 0.7
        topic_words[k, [vocab_index[w] for w in words]] += (1 - noise) * weights / weights.sum()
        topic_words[k, [vocab_index[w] for w in COMMON]] += noise / len(COMMON)
    topic_words /= topic_words.sum(axis=1, keepdims=True)

    mixtures = rng.dirichlet(np.full(num_topics, alpha), size=num_documents)
    lengths = rng.poisson(words_per_document, size=num_documents).clip(min=5)
    word_probs = mixtures @ topic_words
    rows = [rng.multinomial(n, p / p.sum()) for n, p in zip(lengths, word_probs)]
    counts = sp.csr_matrix(np.array(rows, dtype=np.float32))
    return SyntheticCorpus(counts, vocabulary, topic_words, names, mixtures)


def topic_recovery(found: Sequence[Sequence[int]], topic_words: np.ndarray, top_n: int = 10) -> float:
    """Mean over true topics of the best overlap between its top words and any found topic's.

    ``found`` holds word ids, best first. 1.0 means every true theme has a found topic with the
    same top-``top_n`` words.
    """
    truth = [set(np.argsort(-row)[:top_n].tolist()) for row in topic_words]
    found_sets = [set(list(words)[:top_n]) for words in found]
    return float(np.mean([max(len(t & f) for f in found_sets) / top_n for t in truth]))
