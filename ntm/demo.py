"""The main job: ``python -m ntm.demo``.

The SageMaker NTM workflow, unchanged, on this machine: generate a corpus whose topics are known,
``record_set`` it (RecordIO-protobuf shards written by the codec), ``fit`` on the local backend with a
vocabulary channel, print the topics, ``deploy`` an endpoint, ``predict`` a few documents and
``delete_endpoint``. Everything lands in a temporary ``NTM_HOME`` unless you set one.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=3000)
    parser.add_argument("--topics", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        os.environ.setdefault("NTM_HOME", scratch)
        return run(args)


def run(args) -> int:
    from ntm import NTM, NTMModel, storage
    from ntm.synthetic import make_corpus, topic_recovery

    corpus = make_corpus(args.documents, args.topics, seed=args.seed)
    print(f"Corpus: {corpus.counts.shape[0]} documents over {corpus.counts.shape[1]} words, drawn from "
          f"{args.topics} known themes ({', '.join(corpus.theme_names)})")
    vocab_folder = Path(os.environ["NTM_HOME"]) / "vocab"
    vocab_folder.mkdir(parents=True, exist_ok=True)
    (vocab_folder / "vocab.txt").write_text("\n".join(corpus.vocabulary) + "\n", encoding="utf-8")

    ntm = NTM(role=None, train_instance_count=1, train_instance_type="local", num_topics=args.topics,
              epochs=args.epochs, seed=args.seed)
    records = ntm.record_set(corpus.counts)
    print(f"record_set: {records.num_records} records in RecordIO-protobuf at {records.s3_data}")
    started = time.perf_counter()
    ntm.fit({"train": records, "auxiliary": storage.to_uri(vocab_folder) + "/"}, mini_batch_size=64, logs=False)
    print(f"fit: training job {ntm.latest_training_job.name} completed in {time.perf_counter() - started:.1f} s; "
          f"model at {ntm.model_data}")

    topics = NTMModel(ntm.model_data).topics(top_n=8)
    print("Topics (top 8 words each, from the trained decoder):")
    for k, words in enumerate(topics):
        print(f"  topic {k}: {' '.join(words)}")
    index = {w: i for i, w in enumerate(corpus.vocabulary)}
    recovered = topic_recovery([[index[w] for w in t] for t in NTMModel(ntm.model_data).topics(10)],
                               corpus.topic_words)
    print(f"Recovery of the true themes (top-10 overlap, 1.0 = perfect): {recovered:.2f}")

    predictor = ntm.deploy(initial_instance_count=1, instance_type="local")
    try:
        sample = corpus.counts[:4].toarray()
        results = predictor.predict(sample)
        print(f"deploy + predict on endpoint {predictor.endpoint_name}:")
        for row, record in zip(sample, results):
            weights = np.array(record.label["topic_weights"].float32_tensor.values)
            words = [corpus.vocabulary[w] for w in np.argsort(-row)[:4]]
            # Documents are mixtures (Dirichlet(0.1) over themes), so show the two largest shares.
            shares = "; ".join(f"topic {k} {weights[k]:.0%} ({' '.join(topics[k][:3])})"
                               for k in np.argsort(-weights)[:2])
            print(f"  document with words {', '.join(words)}...: {shares}")
    finally:
        predictor.delete_endpoint()
    print("delete_endpoint: done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
