"""Keras's own tests for each built-in optimizer, run with its GC twin in its place.

Each `keras/src/optimizers/<name>_test.py` of the installed Keras wheel is loaded as a fresh
module, its optimizer class is replaced there by the GC twin (`Adam` -> `GCAdam`), and its
`TestCase` runs as usual, on whichever backend `KERAS_BACKEND` selects. A twin must behave
exactly like its Keras optimizer wherever GC has nothing to do: on weights of rank < 2, and when
`update_step` or `_clip_gradients` is called directly.

Expected failures (`EXPECTED_FAILURES`): the tests whose golden values come from a weight of
rank > 1 trained through `apply_gradients`, where GC changes the step by design. In Keras 3.15
there is one:

- `AdafactorTest.test_single_step_2d`: one step on a 2x2 weight with gradient [[1, 6], [7, 2]].
  GC centralizes each column of it (each output unit), giving [[-3, 2], [3, -2]], so the step
  is not the one in Keras's golden values. They are marked `unittest.expectedFailure`, so a
  pass would be reported as an unexpected success, a failure.

Every other golden-value test (`test_single_step`, `test_correctness_with_golden`,
`test_weight_decay`, ...) uses weights of rank 0 or 1 and passes unchanged. So do the tests
on rank > 1 weights that do not go through `apply`: Muon's Newton-Schulz and single-step tests
call `update_step` directly (GC hooks into `apply`). The `model.fit()` tests check only that
training runs. Keras itself skips `AdamTest.test_clipnorm_indexed_slices` except on TensorFlow.
"""

import importlib.util
import inspect
import unittest
import warnings
from pathlib import Path

import keras
import pytest

from gc_tutorial.optimizers import GC_OPTIMIZERS

pytestmark = pytest.mark.slow  # CI runs it: python -m pytest -m slow

KERAS_OPTIMIZERS = Path(keras.__file__).parent / "src" / "optimizers"
EXPECTED_FAILURES = {("AdafactorTest", "test_single_step_2d")}


def keras_test_file(keras_class: type) -> Path:
    """keras/src/optimizers/adam.py holds Adam; its tests are in adam_test.py next to it."""
    return KERAS_OPTIMIZERS / f"{keras_class.__module__.rsplit('.', 1)[-1]}_test.py"


def load_with_twin(gc_class: type):
    """Load Keras's test module for `gc_class`'s optimizer with the twin in its place."""
    keras_name = gc_class.__name__[2:]
    path = keras_test_file(getattr(keras.optimizers, keras_name))
    spec = importlib.util.spec_from_file_location(f"keras_suite_with_{gc_class.__name__}", path)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():  # Keras's own pytest marks, registered in Keras's conftest
        warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
        spec.loader.exec_module(module)
    assert getattr(module, keras_name) is getattr(keras.optimizers, keras_name)
    setattr(module, keras_name, gc_class)
    return module


def with_expected_failures(test_case: type) -> type:
    """A subclass of Keras's TestCase whose rank > 1 golden-value tests must fail."""
    overrides = {
        method: unittest.expectedFailure(getattr(test_case, method))
        for case, method in EXPECTED_FAILURES
        if case == test_case.__name__
    }
    return type(test_case.__name__, (test_case,), overrides)


KERAS_TEST_CASES = {}  # Keras's TestCase name -> the same tests, run with the GC twin
for _gc_class in GC_OPTIMIZERS:
    _module = load_with_twin(_gc_class)
    for _name, _case in inspect.getmembers(_module, inspect.isclass):
        if issubclass(_case, unittest.TestCase) and _case.__module__ == _module.__name__:
            KERAS_TEST_CASES[_name] = with_expected_failures(_case)
            globals()[f"{_name}With{_gc_class.__name__}"] = KERAS_TEST_CASES[_name]


def test_every_twin_has_its_keras_test_file_and_every_expected_failure_exists():
    assert len(KERAS_TEST_CASES) == len(GC_OPTIMIZERS)
    cases = KERAS_TEST_CASES
    for case, method in EXPECTED_FAILURES:
        assert hasattr(cases[case], method), (case, method)
