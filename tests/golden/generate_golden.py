"""Regenerate sdk_vectors.json: the bytes SageMaker SDK 2.x writes for small inputs.

Run with the SDK installed (not a dependency of ntm): ``pip install 'sagemaker==2.257.7' scipy`` in a
scratch virtualenv, then ``python tests/golden/generate_golden.py``. The tests read the JSON only.
Inputs are stored beside the bytes, with values exactly representable in JSON.
"""

import io
import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sagemaker.amazon.common import write_numpy_to_dense_tensor, write_spmatrix_to_sparse_tensor

import sagemaker

OUT = Path(__file__).with_name("sdk_vectors.json")


def dense_values(rows, cols, dtype, scale=8.0):
    grid = np.arange(rows * cols).reshape(rows, cols) - (rows * cols) // 3
    if np.dtype(dtype).kind == "f":
        return (grid / scale).astype(dtype)
    return (grid * 1000).astype(dtype)


def cases():
    for dtype in ("float32", "float64", "int64"):
        yield f"dense_{dtype}", "dense", dense_values(3, 4, dtype), None
        for label_dtype in ("float32", "float64", "int64"):
            labels = np.array([1, 0, -2], dtype=label_dtype)
            yield f"dense_{dtype}_labels_{label_dtype}", "dense", dense_values(3, 4, dtype), labels
        dense = dense_values(4, 300, dtype)
        dense[:, ::3] = 0
        dense[2] = 0
        yield f"sparse_{dtype}", "sparse", sp.csr_matrix(dense), None
        yield f"sparse_{dtype}_labels_float64", "sparse", sp.csr_matrix(dense), np.array([3.5, 0, 1, 2])
    yield "dense_float32_wide_row", "dense", dense_values(2, 5000, "float32"), None
    yield "dense_float32_nonfinite", "dense", np.array([[np.nan, np.inf, -np.inf, -0.0]], "float32"), None
    yield "dense_float32_zero_width", "dense", np.zeros((2, 0), "float32"), None
    yield "dense_int64_extremes", "dense", np.array([[2**31 - 1, -(2**31), -1, 0, 127, 128]]), None
    unsorted = sp.csr_matrix((np.array([1.0, 2.0, 0.0, 3.0], "float32"), np.array([3, 1, 2, 1]),
                              np.array([0, 4, 4])), shape=(2, 70000))
    yield "sparse_float32_unsorted_duplicates_explicit_zero", "sparse", unsorted, None
    coo = sp.coo_matrix((np.array([1.0, 2.0, 5.0]), (np.array([0, 0, 1]), np.array([9, 9, 2]))), shape=(2, 20000))
    yield "sparse_float64_from_coo_duplicates", "sparse", coo, None


def encode_input(kind, array):
    if kind == "dense":
        return {"dtype": str(array.dtype), "shape": list(array.shape), "values": array.tolist()}
    if sp.isspmatrix_coo(array):
        return {"format": "coo", "dtype": str(array.dtype), "shape": list(array.shape),
                "data": array.data.tolist(), "row": array.row.tolist(), "col": array.col.tolist()}
    return {"format": "csr", "dtype": str(array.dtype), "shape": list(array.shape), "data": array.data.tolist(),
            "indices": array.indices.tolist(), "indptr": array.indptr.tolist()}


def main():
    vectors = []
    for name, kind, array, labels in cases():
        buffer = io.BytesIO()
        writer = write_numpy_to_dense_tensor if kind == "dense" else write_spmatrix_to_sparse_tensor
        writer(buffer, array, labels)
        vectors.append({
            "name": name,
            "kind": kind,
            "input": encode_input(kind, array),
            "labels": None if labels is None else {"dtype": str(labels.dtype), "values": labels.tolist()},
            "hex": buffer.getvalue().hex(),
        })
    document = {"generator": f"sagemaker {sagemaker.__version__}, python {sys.version.split()[0]}",
                "vectors": vectors}
    # One vector per line keeps diffs readable without a line per number.
    lines = ",\n".join(json.dumps(v) for v in document["vectors"])
    OUT.write_text(f'{{"generator": {json.dumps(document["generator"])}, "vectors": [\n{lines}\n]}}\n')
    print(f"wrote {len(vectors)} vectors to {OUT}")


if __name__ == "__main__":
    main()
