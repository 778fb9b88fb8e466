"""Topic quality and training time: ntm's local backend against peer topic models, one table.

    pip install -e '.[bench]'                      # scikit-learn and tomotopy, for the peers
    python benchmarks/bench_topics.py               # ../shared/datasets/20news, K=50, seeds 0 1 2
    python benchmarks/bench_topics.py --peers none --seeds 0

ntm trains through the estimator exactly as a user would (record_set, fit on the local backend,
default hyperparameters, topics from NTMModel.topics()), so the time includes writing the RecordIO
shards, the job process and data loading. Every model is scored by the same code (ntm.metrics, the
QUALITY.md protocol): NPMI@10 over train+test documents (unseen pairs 0, and -1), TD@25, TU@10.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ntm import metrics

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "20news"
TARGETS = {"npmi": 0.32, "npmi_strict": 0.29, "td": 0.75}


def load(folder: Path):
    train = sp.load_npz(folder / "train.npz").astype(np.float32).tocsr()
    test = sp.load_npz(folder / "test.npz").astype(np.float32).tocsr()
    vocab = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    return train, test, vocab


def score(topics, reference):
    return {"npmi": metrics.npmi(topics, reference, 10), "npmi_strict": metrics.npmi(topics, reference, 10, -1.0),
            "td": metrics.topic_diversity(topics, 25), "tu": metrics.topic_uniqueness(topics, 10)}


def run_ntm(train, vocab, k, seed, hyperparameters):
    from ntm import NTM, NTMModel, storage

    with tempfile.TemporaryDirectory() as home:
        os.environ["NTM_HOME"] = home
        (Path(home) / "vocab").mkdir()
        (Path(home) / "vocab" / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        started = time.perf_counter()
        estimator = NTM(None, 1, "local", num_topics=k, seed=seed, **hyperparameters)
        estimator.fit({"train": estimator.record_set(train),
                       "auxiliary": storage.to_uri(Path(home) / "vocab") + "/"}, logs=False)
        seconds = time.perf_counter() - started
        words = NTMModel(estimator.model_data).topics(top_n=25)
        rows = estimator.training_job_analytics.rows()
    index = {w: i for i, w in enumerate(vocab)}
    speeds = [r["value"] for r in rows if r["metric_name"] == "train:docs_per_second"]
    epochs = sum(1 for r in rows if r["metric_name"] == "train:total_loss")
    return [[index[w] for w in t] for t in words], seconds, {"docs/s per epoch": statistics.median(speeds),
                                                            "epochs": epochs}


def run_sklearn(train, k, seed):
    from sklearn.decomposition import LatentDirichletAllocation

    started = time.perf_counter()
    lda = LatentDirichletAllocation(n_components=k, random_state=seed, n_jobs=2).fit(train)
    seconds = time.perf_counter() - started
    return [list(np.argsort(-row)[:25]) for row in lda.components_], seconds, {}


def run_tomotopy(train, k, seed):
    import tomotopy

    model = tomotopy.LDAModel(k=k, seed=seed)
    for row in range(train.shape[0]):
        start, end = train.indptr[row], train.indptr[row + 1]
        words = [str(w) for w, c in zip(train.indices[start:end], train.data[start:end]) for _ in range(int(c))]
        if words:
            model.add_doc(words)
    started = time.perf_counter()
    model.train(1000, workers=2)
    seconds = time.perf_counter() - started
    topics = [[int(w) for w, _ in model.get_topic_words(t, top_n=25)] for t in range(k)]
    return topics, seconds, {}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a folder with train.npz, test.npz, vocab.txt")
    parser.add_argument("--topics", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--peers", default="sklearn,tomotopy", help="comma-separated, or 'none'")
    parser.add_argument("--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
                        help="override one of ntm's hyperparameters (default: none, the algorithm's defaults)")
    args = parser.parse_args(argv)
    train, test, vocab = load(args.data)
    reference = sp.vstack([train, test]).tocsr()
    overrides = dict(item.split("=", 1) for item in args.hyperparameter)
    runners = {"ntm (local backend)": lambda seed: run_ntm(train, vocab, args.topics, seed, overrides)}
    peers = {"sklearn": ("scikit-learn LDA", lambda seed: run_sklearn(train, args.topics, seed)),
             "tomotopy": ("tomotopy LDA (1000 it)", lambda seed: run_tomotopy(train, args.topics, seed))}
    wanted = [] if args.peers == "none" else args.peers.split(",")
    for key in wanted:
        if key not in peers:
            parser.error(f"unknown peer {key!r}; choose from {', '.join(peers)} or none")
        name, runner = peers[key]
        runners[name] = runner

    print(f"{args.data.name}, K={args.topics}, {train.shape[0]} training documents, seeds {args.seeds}; "
          f"NPMI@10 over train+test (0 / -1 for unseen pairs), TD@25, TU@10")
    print(f"{'model':<24}{'seed':>5}{'train s':>9}{'NPMI':>8}{'NPMI-1':>8}{'TD@25':>8}{'TU':>7}  notes")
    failures = []
    for name, runner in runners.items():
        for seed in args.seeds:
            try:
                topics, seconds, notes = runner(seed)
            except ImportError as exc:
                print(f"{name:<24} skipped: {exc} (pip install -e '.[bench]')")
                break
            s = score(topics, reference)
            print(f"{name:<24}{seed:>5}{seconds:>9.1f}{s['npmi']:>8.3f}{s['npmi_strict']:>8.3f}{s['td']:>8.3f}"
                  f"{s['tu']:>7.3f}  " + ", ".join(f"{k} {v:,.0f}" for k, v in notes.items()), flush=True)
            if name.startswith("ntm"):
                missed = [m for m, target in TARGETS.items() if s[m] < target]
                if seconds > 60:
                    missed.append("time")
                if missed:
                    failures.append(f"seed {seed}: {', '.join(missed)}")
    targets = ", ".join(f"{m} >= {t}" for m, t in TARGETS.items())
    print(f"ntm targets ({targets}, <= 60 s): " + ("met" if not failures else "missed: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
