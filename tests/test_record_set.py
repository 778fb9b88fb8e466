"""record_set(): the SDK's shard and manifest layout, sparse input, streamed chunks, failure cleanup, S3."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from ntm import NTM, storage
from ntm.core import decode, read_manifest
from ntm.record_set import shard_name, write_record_set

ROWS = np.arange(230 * 6, dtype=np.float32).reshape(230, 6)


def folder_of(record_set) -> Path:
    return storage.local_path(record_set.s3_data).parent


def read_all(record_set):
    parts = [decode(Path(p).read_bytes()) for p in read_manifest(storage.local_path(record_set.s3_data))]
    features = [f.toarray() if sp.issparse(f) else f for f, _ in parts]
    labels = [label for _, label in parts]
    return features, labels


@pytest.mark.parametrize("count, names", [(1, ["matrix_0.pbr"]), (3, ["matrix_0.pbr", "matrix_1.pbr", "matrix_2.pbr"]),
                                          (10, ["matrix_00.pbr", "matrix_01.pbr"])])
def test_shards_are_named_as_the_sdk_names_them(count, names):
    assert [shard_name(i, count) for i in range(len(names))] == names


def test_layout_manifest_and_record_set_fields(tmp_path):
    estimator = NTM(None, 3, "mock", 4, data_location=str(tmp_path / "data"))
    labels = np.arange(230, dtype=np.float32)
    record_set = estimator.record_set(ROWS, labels=labels, channel="validation")
    folder = folder_of(record_set)
    assert re.fullmatch(r"NTM-\d{4}(-\d{2}){5}-\d{3}", folder.name) and folder.parent == tmp_path / "data"
    manifest = json.loads((folder / ".amazon.manifest").read_text())
    assert manifest == [{"prefix": f"file://{folder}/"}, "matrix_0.pbr", "matrix_1.pbr", "matrix_2.pbr"]
    assert (record_set.num_records, record_set.feature_dim, record_set.channel) == (230, 6, "validation")
    assert (record_set.s3_data_type, record_set.distribution) == ("ManifestFile", "ShardedByS3Key")
    features, shard_labels = read_all(record_set)
    assert [len(f) for f in features] == [76, 76, 78]  # equal shards, the last takes the remainder
    assert np.array_equal(np.concatenate(features), ROWS)
    assert np.array_equal(np.concatenate(shard_labels), labels)


def test_default_location_is_under_ntm_home(tmp_path):
    record_set = NTM(None, 1, "mock", 4).record_set(ROWS)
    assert folder_of(record_set).parent == tmp_path / "ntm-home" / "record-sets"


def test_sparse_matrices_become_sparse_records(tmp_path):
    matrix = sp.random(50, 40, density=0.1, format="csr", dtype=np.float32, random_state=0)
    record_set = write_record_set(matrix, location=str(tmp_path), num_shards=2)
    raw = Path(read_manifest(storage.local_path(record_set.s3_data))[0]).read_bytes()
    assert sp.issparse(decode(raw)[0])
    assert np.array_equal(np.concatenate(read_all(record_set)[0]), matrix.toarray())


def test_fewer_rows_than_shards_is_an_error_naming_both():
    with pytest.raises(ValueError, match="train has 2 rows, fewer than the 3 shards"):
        NTM(None, 3, "mock", 4).record_set(ROWS[:2])


def test_an_iterator_of_chunks_is_dealt_evenly_across_shards(tmp_path):
    chunks = (ROWS[i:i + 17] for i in range(0, 230, 17))
    record_set = write_record_set(chunks, location=str(tmp_path), num_shards=4)
    features, _ = read_all(record_set)
    assert record_set.num_records == 230 and record_set.feature_dim == 6
    assert sorted(len(f) for f in features) == [57, 57, 58, 58]
    assert sorted(map(tuple, np.concatenate(features).tolist())) == sorted(map(tuple, ROWS.tolist()))


def test_chunks_may_carry_labels_and_be_sparse(tmp_path):
    chunks = ((sp.csr_matrix(ROWS[i:i + 50]), np.arange(i, min(i + 50, 230), dtype=np.float32))
              for i in range(0, 230, 50))
    record_set = write_record_set(chunks, location=str(tmp_path), num_shards=2)
    features, labels = read_all(record_set)
    order = np.argsort(np.concatenate(labels))
    assert np.array_equal(np.concatenate(features)[order], ROWS)


def test_a_failing_chunk_leaves_no_files_behind(tmp_path):
    def chunks():
        yield ROWS[:10]
        yield ROWS[:10, :5]  # a different width

    with pytest.raises(ValueError, match="chunk 1 has 5 columns, the chunks before it 6"):
        write_record_set(chunks(), location=str(tmp_path), num_shards=2)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_failing_shard_write_removes_the_shards_already_written(tmp_path, monkeypatch):
    real_write = storage.write_bytes

    def flaky(uri, data, **options):
        if uri.endswith("matrix_2.pbr"):
            raise OSError("disk full")
        real_write(uri, data, **options)

    monkeypatch.setattr(storage, "write_bytes", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_record_set(ROWS, location=str(tmp_path), num_shards=3, max_workers=1)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_labels_must_match_the_rows(tmp_path):
    with pytest.raises(ValueError, match=r"one entry per row of train \(230\), got shape \(3,\)"):
        write_record_set(ROWS, np.zeros(3), location=str(tmp_path), num_shards=1)


def test_progress_is_reported_on_stderr_when_asked(tmp_path, capsys):
    write_record_set(iter([ROWS]), location=str(tmp_path), num_shards=1, progress=True)
    assert "record_set: 230 rows" in capsys.readouterr().err


def test_s3_locations_upload_shards_and_manifest_with_boto3(monkeypatch):
    import boto3
    from moto import mock_aws  # in the test extra

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="bucket")
        record_set = NTM(None, 2, "mock", 4, data_location="s3://bucket/prefix").record_set(ROWS)
        assert re.fullmatch(r"s3://bucket/prefix/NTM-[-\d]+/\.amazon\.manifest", record_set.s3_data)
        manifest = json.loads(storage.read_bytes(record_set.s3_data))
        prefix = manifest[0]["prefix"]
        assert prefix == record_set.s3_data[: -len(".amazon.manifest")]
        shards = [decode(storage.read_bytes(prefix + name))[0] for name in manifest[1:]]
        assert np.array_equal(np.concatenate(shards), ROWS)
