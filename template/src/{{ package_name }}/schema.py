"""The table the model reads, declared once: its feature columns, their valid ranges, the label.

Both checks of incoming rows are derived from these declarations: `data` builds the pandera
schema that validates tables for the jobs, and `Features` below is the record the service
validates, so a column or a bound changes in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field, create_model


@dataclass(frozen=True)
class Feature:
    """A numeric model input: always a finite number, within its bounds when they are given."""

    name: str
    minimum: float | None = None
    maximum: float | None = None


_MEASUREMENTS = (
    "mean_radius",
    "mean_texture",
    "mean_perimeter",
    "mean_area",
    "mean_smoothness",
    "mean_compactness",
    "mean_concavity",
    "mean_concave_points",
    "mean_symmetry",
    "mean_fractal_dimension",
    "radius_error",
    "texture_error",
    "perimeter_error",
    "area_error",
    "smoothness_error",
    "compactness_error",
    "concavity_error",
    "concave_points_error",
    "symmetry_error",
    "fractal_dimension_error",
    "worst_radius",
    "worst_texture",
    "worst_perimeter",
    "worst_area",
    "worst_smoothness",
    "worst_compactness",
    "worst_concavity",
    "worst_concave_points",
    "worst_symmetry",
    "worst_fractal_dimension",
)

FEATURE_COLUMNS: tuple[Feature, ...] = tuple(Feature(name, minimum=0.0) for name in _MEASUREMENTS)
"""The 30 measurements of the breast-cancer dataset, in model order; none is negative."""

FEATURES: tuple[str, ...] = tuple(feature.name for feature in FEATURE_COLUMNS)
"""Feature column names, in the order the model expects them."""

TARGET = "target"
"""Label column: 1 when the tumour is benign, 0 when it is malignant."""

LABELS = (0, 1)
"""The values the label may take."""


def _record_field(feature: Feature) -> Any:
    return (float, Field(ge=feature.minimum, le=feature.maximum))


Features = create_model(
    "Features",
    __config__=ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True),
    __doc__="One row of model input: every feature, finite and in range, and nothing else.",
    **{feature.name: _record_field(feature) for feature in FEATURE_COLUMNS},
)
"""The service's record model, derived from `FEATURE_COLUMNS`."""
