"""RecordIO codec speed: ntm.core against the SageMaker SDK 2.x, side by side in one run.

    pip install -e '.[bench]'          # adds sagemaker==2.257.7, used only here
    python benchmarks/bench_codec.py   # --rows/--cols/--repeat to change the workload

Prints one table of medians and the ratios the codec issue asks for: dense float32 encode >= 100x the
SDK and >= 25% of a plain memory copy of the same bytes; sparse encode and decode >= 100x the SDK.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

import ntm.core as core

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


def median_seconds(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sdk_functions():
    try:
        from sagemaker.amazon import common
    except ImportError:
        sys.exit("The SageMaker SDK 2.x is needed for the comparison: pip install -e '.[bench]'")
    return common


def sdk_encode(writer, array):
    buffer = io.BytesIO()
    writer(buffer, array)
    return buffer.getvalue()


def sdk_decode_dense(common, data):
    records = common.read_records(io.BytesIO(data))
    return np.array([r.features["values"].float32_tensor.values for r in records], dtype=np.float32)


def sdk_decode_sparse(common, data, width):
    records = common.read_records(io.BytesIO(data))
    indptr, indices, values = [0], [], []
    for r in records:
        tensor = r.features["values"].float32_tensor
        indices.extend(tensor.keys)
        values.extend(tensor.values)
        indptr.append(len(indices))
    return sp.csr_matrix((np.array(values, np.float32), np.array(indices), np.array(indptr)), shape=(len(records), width))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dense-cols", type=int, default=500)
    parser.add_argument("--sparse-cols", type=int, default=2_000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=7, help="runs of ntm per measurement (median)")
    parser.add_argument("--sdk-repeat", type=int, default=3, help="runs of the SDK per measurement (median)")
    args = parser.parse_args(argv)
    common = sdk_functions()
    import sagemaker

    rng = np.random.default_rng(0)
    dense = rng.standard_normal((args.rows, args.dense_cols)).astype(np.float32)
    sparse = sp.random(args.rows, args.sparse_cols, density=args.density, format="csr", random_state=rng,
                       dtype=np.float32)
    dense_bytes = core.encode_dense(dense)
    sparse_bytes = core.encode_sparse(sparse)
    # Same bytes, or the comparison means nothing.
    if dense_bytes != sdk_encode(common.write_numpy_to_dense_tensor, dense):
        sys.exit("dense output differs from the SDK's")
    if sparse_bytes != sdk_encode(common.write_spmatrix_to_sparse_tensor, sparse):
        sys.exit("sparse output differs from the SDK's")

    source = np.frombuffer(dense_bytes, np.uint8)
    target = np.empty_like(source)
    rows = []

    def row(task, sdk_s, ours_s, unit_count, unit):
        rows.append((task, sdk_s, ours_s, unit_count, unit))

    row("dense float32 encode", median_seconds(lambda: sdk_encode(common.write_numpy_to_dense_tensor, dense), args.sdk_repeat),
        median_seconds(lambda: core.encode_dense(dense), args.repeat), len(dense_bytes) / 1e6, "MB")
    memcpy_s = median_seconds(lambda: np.copyto(target, source), args.repeat)
    row("sparse float32 encode", median_seconds(lambda: sdk_encode(common.write_spmatrix_to_sparse_tensor, sparse), args.sdk_repeat),
        median_seconds(lambda: core.encode_sparse(sparse), args.repeat), args.rows / 1e3, "k rows")
    row("dense decode to numpy", median_seconds(lambda: sdk_decode_dense(common, dense_bytes), args.sdk_repeat),
        median_seconds(lambda: core.decode(dense_bytes), args.repeat), len(dense_bytes) / 1e6, "MB")
    row("sparse decode to CSR", median_seconds(lambda: sdk_decode_sparse(common, sparse_bytes, args.sparse_cols), args.sdk_repeat),
        median_seconds(lambda: core.decode(sparse_bytes), args.repeat), args.rows / 1e3, "k rows")

    # Two shards decoded on two threads: the kernels run without the GIL. Five times the sparse data,
    # so thread start-up and the allocator's page faults do not dominate what is measured.
    shards = [core.encode_sparse(sp.vstack([sparse] * 5, format="csr")) for _ in range(2)]
    one_thread = median_seconds(lambda: [core.decode(s) for s in shards], args.repeat)
    with ThreadPoolExecutor(2) as pool:
        two_threads = median_seconds(lambda: list(pool.map(core.decode, shards)), args.repeat)

    print(f"ntm.core vs sagemaker {sagemaker.__version__} ({args.rows} rows; dense {args.dense_cols} cols; "
          f"sparse {args.sparse_cols} cols at {args.density:.0%}; medians of {args.repeat} / {args.sdk_repeat} runs)")
    print(f"{'task':<24}{'SDK':>14}{'ntm':>16}{'speed-up':>10}")
    for task, sdk_s, ours_s, count, unit in rows:
        print(f"{task:<24}{count / sdk_s:>10.1f} {unit}/s{count / ours_s:>10.0f} {unit}/s{sdk_s / ours_s:>9.0f}x")
    dense_encode_s = rows[0][2]
    print(f"memory copy of the dense output: {len(dense_bytes) / 1e6 / memcpy_s:.0f} MB/s; "
          f"dense encode runs at {memcpy_s / dense_encode_s:.0%} of it")
    print(f"sparse decode of two shards on 2 threads: {one_thread / two_threads:.2f}x the speed of 1 thread")
    failures = [task for task, sdk_s, ours_s, *_ in rows if sdk_s / ours_s < 100]
    if memcpy_s / dense_encode_s < 0.25:
        failures.append("dense encode vs memory copy")
    print("targets met" if not failures else f"targets missed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
