"""Model metrics and the JSON reports jobs write."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

logger = logging.getLogger(__name__)


def classification_metrics(
    y_true: npt.ArrayLike, probabilities: npt.NDArray[np.float64], threshold: float = 0.5
) -> dict[str, float]:
    """Return accuracy, precision, recall, F1 and ROC AUC of positive-class probabilities."""
    predicted = (probabilities >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, probabilities)),
    }


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    """Write a JSON report, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    logger.info("wrote %s", path)
