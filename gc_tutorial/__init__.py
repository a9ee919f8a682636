"""gc-tutorial: Gradient Centralization in Keras 3, taught and tested.

What a user of GC needs, importable from here (each name loads its module when first used, so
that `import gc_tutorial` does not wait for Keras):

- `GCAdam`, `GCSGD`, ...: every built-in Keras optimizer with GC; `make_optimizer`, by name;
- `GradientCentralization` and `centralize_gradient`: GC itself;
- `verify_gc`: does an optimizer really apply GC?
- `run_comparison` and `ComparisonConfig`: baseline vs GC, fair and timed.
"""

from importlib import import_module

from gc_tutorial.checks import KERAS_OPTIMIZERS, NEEDS_KERAS, keras_version

__version__ = "0.1.0"

_HOMES = {
    **{f"GC{name}": "gc_tutorial.optimizers" for name in KERAS_OPTIMIZERS.values()},
    "make_optimizer": "gc_tutorial.optimizers",
    "GradientCentralization": "gc_tutorial.centralization",
    "centralize_gradient": "gc_tutorial.centralization",
    "verify_gc": "gc_tutorial.verify",
    "run_comparison": "gc_tutorial.comparison",
    "ComparisonConfig": "gc_tutorial.config",
}
# The twins that the installed Keras cannot have (GCScheduleFreeAdamW before Keras 3.14).
_ABSENT = {f"GC{KERAS_OPTIMIZERS[k]}" for k, v in NEEDS_KERAS.items() if keras_version() < v}
__all__ = sorted(set(_HOMES) - _ABSENT)


def __getattr__(name: str):
    # PEP 562: `gc_tutorial.GCAdam` imports gc_tutorial.optimizers the first time it is asked for.
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'gc_tutorial' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
