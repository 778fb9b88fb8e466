"""iter_batches streams mini-batches from files, folders, lists and SageMaker manifests."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

import ntm.core as core
from ntm.core import ManifestError, RecordIOError


@pytest.fixture
def corpus(tmp_path):
    """Three shard files of a 23-row sparse count matrix with labels, as record_set lays them out."""
    rng = np.random.default_rng(0)
    counts = sp.random(23, 40, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    counts.data = np.ceil(counts.data * 5)
    labels = np.arange(23, dtype=np.float32)
    bounds = [0, 10, 10, 23]  # the middle shard is empty
    paths = []
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        path = tmp_path / f"matrix_{i}.pbr"
        core.write_spmatrix_to_sparse_tensor(path, counts[lo:hi], labels[lo:hi])
        paths.append(path)
    return counts, labels, paths


def collect(batches):
    batches = list(batches)
    features = sp.vstack([b[0] for b in batches]) if sp.issparse(batches[0][0]) else np.vstack([b[0] for b in batches])
    return batches, features, np.concatenate([b[1] for b in batches])


def test_batches_span_files_and_keep_every_row_in_order(corpus):
    counts, labels, paths = corpus
    batches, features, got_labels = collect(core.iter_batches(paths, 4))
    assert [b[0].shape[0] for b in batches] == [4, 4, 4, 4, 4, 3]
    assert all(sp.isspmatrix_csr(b[0]) for b in batches)
    np.testing.assert_array_equal(features.toarray(), counts.toarray())
    np.testing.assert_array_equal(got_labels, labels)


def test_dense_batches_on_request(corpus):
    counts, _, paths = corpus
    batches, features, _ = collect(core.iter_batches(paths, 7, sparse=False))
    assert all(isinstance(b[0], np.ndarray) for b in batches)
    np.testing.assert_array_equal(features, counts.toarray())


def test_folder_and_manifest_sources(corpus, tmp_path):
    counts, _, paths = corpus
    _, from_folder, _ = collect(core.iter_batches(tmp_path, 5))
    np.testing.assert_array_equal(from_folder.toarray(), counts.toarray())

    manifest = tmp_path / ".amazon.manifest"
    manifest.write_text(json.dumps([{"prefix": f"file://{tmp_path}/"}] + [p.name for p in paths]))
    assert core.read_manifest(manifest) == [str(p) for p in paths]
    _, from_manifest, _ = collect(core.iter_batches(manifest, 5))
    np.testing.assert_array_equal(from_manifest.toarray(), counts.toarray())


def test_manifest_with_relative_and_s3_prefixes(tmp_path):
    manifest = tmp_path / "x.manifest"
    manifest.write_text(json.dumps([{"prefix": "shards/"}, "a.pbr"]))
    assert core.read_manifest(manifest) == [str(tmp_path / "shards" / "a.pbr")]
    manifest.write_text(json.dumps([{"prefix": "s3://bucket/key/"}, "a.pbr"]))
    assert core.read_manifest(manifest) == ["s3://bucket/key/a.pbr"]
    with pytest.raises(ValueError, match="reads local files only"):
        list(core.iter_batches(manifest, 2))


@pytest.mark.parametrize("text, message", [
    ("not json", "not a JSON manifest"),
    ('{"prefix": "x"}', "a JSON list starting with"),
    ('[{"prefix": "x/"}, 3]', "entry 1 must be a non-empty string"),
])
def test_bad_manifests_are_refused(tmp_path, text, message):
    manifest = tmp_path / "bad.manifest"
    manifest.write_text(text)
    with pytest.raises(ManifestError, match=message):
        core.read_manifest(manifest)


def test_corrupt_file_error_names_the_file_record_and_offset(corpus):
    _, _, paths = corpus
    data = bytearray(paths[2].read_bytes())
    offsets = core.record_offsets(bytes(data))
    data[offsets[5]] ^= 0xFF  # break the magic of the 6th record of the last file
    paths[2].write_bytes(bytes(data))
    with pytest.raises(RecordIOError) as info:
        list(core.iter_batches(paths, 4))
    assert str(paths[2]) in str(info.value)
    assert info.value.record == 5 and info.value.offset == offsets[5]


def test_files_of_different_widths_are_refused(tmp_path):
    core.write_numpy_to_dense_tensor(tmp_path / "a.pbr", np.ones((2, 3), np.float32))
    core.write_numpy_to_dense_tensor(tmp_path / "b.pbr", np.ones((2, 4), np.float32))
    with pytest.raises(RecordIOError, match="b.pbr: width 4 differs from 3"):
        list(core.iter_batches(tmp_path, 3))


def test_missing_source_and_bad_batch_size(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such RecordIO file"):
        list(core.iter_batches(tmp_path / "nope.pbr", 2))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        list(core.iter_batches(tmp_path, 0))


def test_batches_come_from_a_memory_map_not_a_whole_file_read(tmp_path, monkeypatch):
    path = tmp_path / "big.pbr"
    core.write_numpy_to_dense_tensor(path, np.ones((1000, 8), np.float32))
    decoded_sizes = []
    real_decode = core.streaming.decode
    monkeypatch.setattr(core.streaming, "decode", lambda data, **kw: decoded_sizes.append(len(data)) or real_decode(data, **kw))
    assert sum(b[0].shape[0] for b in core.iter_batches(path, 100)) == 1000
    assert max(decoded_sizes) * 10 == path.stat().st_size  # each decode sees one batch's bytes only
