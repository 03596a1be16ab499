"""The model: a scikit-learn pipeline of preprocessing and estimator, deterministic by seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

THRESHOLD = 0.5
"""Probability of class 1 from which a row is predicted as class 1."""


def build_pipeline(*, C: float, max_iter: int, seed: int) -> Pipeline:  # noqa: N803
    """Return an unfitted pipeline: standardised features into a logistic regression."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=C, max_iter=max_iter, random_state=seed)),
        ]
    )


def score(pipeline: Pipeline, features: pd.DataFrame) -> pd.DataFrame:
    """Return each row's `prediction` (0 or 1) and `probability` of class 1, same index."""
    probabilities = pipeline.predict_proba(features)[:, 1] if len(features) else np.empty(0)
    return pd.DataFrame(
        {"prediction": (probabilities >= THRESHOLD).astype(int), "probability": probabilities},
        index=features.index,
    )
