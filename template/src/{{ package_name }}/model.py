"""The model: a scikit-learn pipeline of preprocessing and estimator, deterministic by seed."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def build_pipeline(*, C: float, max_iter: int, seed: int) -> Pipeline:  # noqa: N803
    """Return an unfitted pipeline: standardised features into a logistic regression."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=C, max_iter=max_iter, random_state=seed)),
        ]
    )
