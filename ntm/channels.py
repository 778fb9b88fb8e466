"""``fit()``'s ``records`` argument turned into ``InputDataConfig`` channels, with the SDK's checks."""

from __future__ import annotations

import difflib
from typing import Any, Dict, List, Optional, Tuple

from . import storage
from .record_set import RecordSet

#: The channels SageMaker's NTM reads; "auxiliary" holds vocab.txt.
NTM_CHANNELS = ("train", "validation", "test", "auxiliary")


def _channel(name: str, source) -> Dict[str, Any]:
    if isinstance(source, RecordSet):
        config = source.records_s3_input()
    elif isinstance(source, (str,)) or hasattr(source, "__fspath__"):
        # A bare URI: every object under the prefix, each worker reading all of it.
        config = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": storage.to_uri(source),
                                                  "S3DataDistributionType": "FullyReplicated"}}}
    elif isinstance(source, dict) and "DataSource" in source:
        config = dict(source)
    else:
        raise TypeError(f"channel {name!r}: expected a RecordSet, a URI string or a channel dict with "
                        f"DataSource, got {type(source).__name__}")
    if name not in NTM_CHANNELS:
        close = difflib.get_close_matches(name, NTM_CHANNELS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"channel {name!r} is not one NTM reads ({', '.join(NTM_CHANNELS)}){hint}")
    return {"ChannelName": name, **config}


def input_data_config(records) -> Tuple[List[Dict[str, Any]], Optional[int]]:
    """``(InputDataConfig, feature_dim of the train channel or None)`` for ``fit(records)``.

    ``records``: a RecordSet; a list of RecordSets (one channel each); a dict ``{channel: RecordSet |
    URI | channel dict}``; or a URI string (the train channel).
    """
    if isinstance(records, RecordSet):
        pairs = [(records.channel, records)]
    elif isinstance(records, (list, tuple)):
        pairs = []
        for index, record in enumerate(records):
            if not isinstance(record, RecordSet):
                raise ValueError(f"List compatible only with RecordSets: item {index} is a {type(record).__name__}")
            if record.channel in [name for name, _ in pairs]:
                raise ValueError(f"Duplicate channels not allowed: {record.channel!r} appears twice")
            pairs.append((record.channel, record))
    elif isinstance(records, dict):
        pairs = list(records.items())
    elif isinstance(records, str) or hasattr(records, "__fspath__"):
        pairs = [("train", records)]
    else:
        raise TypeError(f"records must be a RecordSet, a list of them, a dict of channels or a URI, "
                        f"got {type(records).__name__}")
    names = [name for name, _ in pairs]
    if "train" not in names:
        raise ValueError(f"Must provide train channel (got channels: {', '.join(map(repr, names)) or 'none'})")
    config = [_channel(name, source) for name, source in pairs]
    train = dict(pairs)["train"]
    return config, (train.feature_dim if isinstance(train, RecordSet) else None)
