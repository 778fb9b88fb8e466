"""The main job: `python -m ntm.demo`.

Generates a corpus with known topics, writes it as SageMaker RecordIO-protobuf shards with the codec,
streams it back in mini-batches and checks every value survived.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import ntm.core as core
from ntm.synthetic import make_corpus


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    corpus = make_corpus(args.documents, args.topics, seed=args.seed)
    counts = corpus.counts
    print(f"corpus: {counts.shape[0]} documents, {counts.shape[1]} words, {counts.nnz} non-zeros, "
          f"{args.topics} known themes: {', '.join(corpus.theme_names)}")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        bounds = np.linspace(0, counts.shape[0], args.shards + 1).astype(int)
        for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            core.write_spmatrix_to_sparse_tensor(Path(folder) / f"matrix_{i}.pbr", counts[lo:hi])
        written = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        start = time.perf_counter()
        batches = list(core.iter_batches(folder, 256))
        read = time.perf_counter() - start
    restored = sp.vstack([b[0] for b in batches]).tocsr()
    if (restored != counts).nnz:
        raise SystemExit("round trip changed the data")
    print(f"wrote {args.shards} RecordIO shards ({size / 1e6:.1f} MB) in {written * 1e3:.0f} ms; streamed "
          f"{len(batches)} mini-batches of 256 back in {read * 1e3:.0f} ms; every value round-tripped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
