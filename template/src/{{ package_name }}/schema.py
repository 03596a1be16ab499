"""The columns the model reads: one typed record, the single source of the feature schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Features(BaseModel):
    """One row of model input: the 30 measurements of the breast-cancer dataset."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    mean_radius: float
    mean_texture: float
    mean_perimeter: float
    mean_area: float
    mean_smoothness: float
    mean_compactness: float
    mean_concavity: float
    mean_concave_points: float
    mean_symmetry: float
    mean_fractal_dimension: float
    radius_error: float
    texture_error: float
    perimeter_error: float
    area_error: float
    smoothness_error: float
    compactness_error: float
    concavity_error: float
    concave_points_error: float
    symmetry_error: float
    fractal_dimension_error: float
    worst_radius: float
    worst_texture: float
    worst_perimeter: float
    worst_area: float
    worst_smoothness: float
    worst_compactness: float
    worst_concavity: float
    worst_concave_points: float
    worst_symmetry: float
    worst_fractal_dimension: float


FEATURES: tuple[str, ...] = tuple(Features.model_fields)
"""Feature columns, in the order the model expects them."""

TARGET = "target"
"""Label column: 1 when the tumour is benign, 0 when it is malignant."""
