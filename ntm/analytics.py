"""Training metrics as rows (``timestamp``, ``metric_name``, ``value``), like the SDK's ``TrainingJobAnalytics``."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import plugins

COLUMNS = ("timestamp", "metric_name", "value")


class TrainingJobAnalytics:
    """Metrics of one training job. ``dataframe()`` is a pandas DataFrame when pandas is installed and a
    list of row dicts otherwise; ``rows()`` is always the list.

    >>> estimator.training_job_analytics.dataframe()  # doctest: +SKIP
       timestamp         metric_name     value
    0        0.0    train:total_loss  7.310000
    """

    def __init__(self, training_job_name: str, metric_names: Optional[List[str]] = None, *,
                 backend: Optional[str] = None) -> None:
        self.name = training_job_name
        self.metric_names = list(metric_names) if metric_names else None
        self.backend_name = backend
        self._rows: Optional[List[Dict[str, Any]]] = None

    def rows(self, force_refresh: bool = False) -> List[Dict[str, Any]]:
        """Metric rows, oldest first, filtered to ``metric_names`` when given."""
        if self._rows is None or force_refresh:
            from .jobs import find_owner

            backend = self.backend_name or find_owner("describe_training_job", self.name)
            rows = plugins.get_backend(backend).metrics(self.name)
            if self.metric_names is not None:
                rows = [row for row in rows if row["metric_name"] in self.metric_names]
            self._rows = [{key: row[key] for key in COLUMNS} for row in rows]
        return list(self._rows)

    def dataframe(self, force_refresh: bool = False):
        """A pandas DataFrame of :meth:`rows` (columns timestamp, metric_name, value), or the rows
        themselves when pandas is not installed."""
        rows = self.rows(force_refresh)
        try:
            import pandas
        except ModuleNotFoundError:
            return rows
        return pandas.DataFrame(rows, columns=list(COLUMNS))

    def __repr__(self) -> str:
        return f"<TrainingJobAnalytics for {self.name}>"
