"""gc-tutorial: Gradient Centralization in Keras 3, taught and tested."""

import gc_tutorial._quiet_tensorflow  # noqa: F401  (first: TensorFlow loads without start-up logs)
from gc_tutorial.centralization import (
    GC_OPTIMIZERS,
    GCSGD,
    OPTIMIZERS,
    GCAdadelta,
    GCAdafactor,
    GCAdagrad,
    GCAdam,
    GCAdamax,
    GCAdamW,
    GCFtrl,
    GCLamb,
    GCLion,
    GCMuon,
    GCNadam,
    GCRMSprop,
    GCScheduleFreeAdamW,
    GradientCentralization,
    centralize_gradient,
    gc_optimizer_class,
    make_optimizer,
)
from gc_tutorial.verify import GCVerdict, verify_gc

__version__ = "0.1.0"

__all__ = [
    "GC_OPTIMIZERS",
    "GCSGD",
    "GCVerdict",
    "OPTIMIZERS",
    "GCAdadelta",
    "GCAdafactor",
    "GCAdagrad",
    "GCAdam",
    "GCAdamax",
    "GCAdamW",
    "GCFtrl",
    "GCLamb",
    "GCLion",
    "GCMuon",
    "GCNadam",
    "GCRMSprop",
    "GCScheduleFreeAdamW",
    "GradientCentralization",
    "centralize_gradient",
    "gc_optimizer_class",
    "make_optimizer",
    "verify_gc",
]
