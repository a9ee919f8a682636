"""gc-tutorial: Gradient Centralization in Keras 3, taught and tested."""

import gc_tutorial._quiet_tensorflow  # noqa: F401  (first: TensorFlow loads without start-up logs)
from gc_tutorial.centralization import (
    GCSGD,
    OPTIMIZERS,
    GCAdam,
    GCAdamW,
    GCRMSprop,
    GradientCentralization,
    centralize_gradient,
    make_optimizer,
)

__version__ = "0.1.0"

__all__ = [
    "GCSGD",
    "OPTIMIZERS",
    "GCAdam",
    "GCAdamW",
    "GCRMSprop",
    "GradientCentralization",
    "centralize_gradient",
    "make_optimizer",
]
