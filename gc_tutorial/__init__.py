"""gc-tutorial: Gradient Centralization in Keras 3, taught and tested."""

import gc_tutorial._quiet_tensorflow  # noqa: F401  (first: TensorFlow loads without start-up logs)
from gc_tutorial.centralization import (
    GC_OPTIMIZERS,
    OPTIMIZERS,
    GradientCentralization,
    centralize_gradient,
    gc_optimizer_class,
    make_optimizer,
)
from gc_tutorial.verify import GCVerdict, verify_gc

__version__ = "0.1.0"

# The fourteen GC twins, public as gc_tutorial.GC<KerasName> (GCAdam, GCLion, GCSGD, ...),
# are the classes of GC_OPTIMIZERS, defined one per line in gc_tutorial/centralization.py.
globals().update({twin.__name__: twin for twin in GC_OPTIMIZERS})

__all__ = [
    "GC_OPTIMIZERS",
    "GCVerdict",
    "OPTIMIZERS",
    "GradientCentralization",
    "centralize_gradient",
    "gc_optimizer_class",
    "make_optimizer",
    "verify_gc",
    *(twin.__name__ for twin in GC_OPTIMIZERS),
]
