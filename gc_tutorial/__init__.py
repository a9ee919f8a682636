"""gc-tutorial: Gradient Centralization in Keras 3, taught and tested.

Importing it loads Keras and the GC code only; the data and experiment modules load
TensorFlow's data stack when they are imported themselves.
"""

from gc_tutorial._quiet_tensorflow import load_keras_quietly

load_keras_quietly()  # first: Keras's TensorFlow backend logs as it loads (none is loaded on JAX)

from gc_tutorial.centralization import GradientCentralization, centralize_gradient  # noqa: E402
from gc_tutorial.optimizers import (  # noqa: E402
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
    make_optimizer,
)
from gc_tutorial.update_mode import UpdateCentralization  # noqa: E402
from gc_tutorial.verify import GCVerdict, verify_gc  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "GC_OPTIMIZERS",
    "GCSGD",
    "OPTIMIZERS",
    "GCAdadelta",
    "GCAdafactor",
    "GCAdagrad",
    "GCAdam",
    "GCAdamW",
    "GCAdamax",
    "GCFtrl",
    "GCLamb",
    "GCLion",
    "GCMuon",
    "GCNadam",
    "GCRMSprop",
    "GCScheduleFreeAdamW",
    "GCVerdict",
    "GradientCentralization",
    "UpdateCentralization",
    "centralize_gradient",
    "make_optimizer",
    "verify_gc",
]
