"""Notebook 3's own GC class: at most 15 lines, and it trains exactly like `GCRMSprop`.

The class is read from the notebook's source, so the test checks the code the learner reads.
Runs on whichever backend KERAS_BACKEND selects.
"""

from pathlib import Path

import jupytext
import keras
import numpy as np
import pytest

import gc_tutorial
from gc_tutorial import verify_gc
from gc_tutorial.verify import train_probe_model

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "03_gradient_centralization.py"
CLASS_LINE = "class GCRMSprop(keras.optimizers.RMSprop):"
# Equal, except on PyTorch: there `gc_tutorial.GCRMSprop` builds on Keras's fused RMSprop, which
# rounds differently from the per-weight RMSprop a subclass of keras.optimizers.RMSprop gets.
ROUNDING = 1e-6 if keras.backend.backend() == "torch" else 0.0


def learners_class_source() -> str:
    """The code cell of notebook 3 that defines the learner's GCRMSprop, from its class line."""
    cells = jupytext.read(NOTEBOOK).cells
    [source] = [c.source for c in cells if c.cell_type == "code" and CLASS_LINE in c.source]
    return source[source.index(CLASS_LINE) :].strip()


def learners_class() -> type:
    namespace = {"keras": keras}
    exec(learners_class_source(), namespace)
    return namespace["GCRMSprop"]


def test_the_learners_class_is_at_most_15_lines_of_keras_ops():
    source = learners_class_source()
    assert len(source.splitlines()) <= 15, source
    assert "def apply(self, grads, trainable_variables=None):" in source
    assert "keras.ops.mean" in source and "super().apply(" in source
    assert "gc_tutorial" not in source and "import" not in source


def test_the_learners_class_trains_exactly_like_the_packages_gc_rmsprop():
    yours = train_probe_model(learners_class()(learning_rate=1e-3), steps=5)
    package = train_probe_model(gc_tutorial.GCRMSprop(learning_rate=1e-3), steps=5)
    plain = train_probe_model(keras.optimizers.RMSprop(learning_rate=1e-3), steps=5)
    for a, b in zip(yours, package, strict=True):
        np.testing.assert_allclose(a, b, rtol=ROUNDING, atol=ROUNDING / 10)
    assert max(np.abs(a - b).max() for a, b in zip(yours, plain)) > 1e-4


def test_verify_gc_says_the_learners_class_centralizes_the_gradient():
    assert verify_gc(learners_class()(learning_rate=1e-3)).verdict == "gradient"


def readme_snippet_class() -> type:
    """The GCRMSprop of the README's "Why the keras-io example's GC is a no-op" section."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    [code] = [block for block in readme.split("```python\n")[1:] if CLASS_LINE in block]
    namespace = {}
    exec(code.split("```")[0], namespace)
    return namespace["GCRMSprop"]


@pytest.mark.parametrize("make_class", [learners_class, readme_snippet_class])
def test_a_weight_without_a_gradient_keeps_none_and_the_rest_trains_like_the_package(make_class):
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 4)).astype("float32")
    grad = rng.normal(loc=1.0, size=(3, 4)).astype("float32")
    trained = {}
    for name, optimizer in (
        ("snippet", make_class()(learning_rate=1e-2)),
        ("package", gc_tutorial.GCRMSprop(learning_rate=1e-2)),
    ):
        used, unused = keras.Variable(start), keras.Variable(start)
        optimizer.apply([keras.ops.convert_to_tensor(grad), None], [used, unused])
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(unused), start)
        trained[name] = keras.ops.convert_to_numpy(used)
    np.testing.assert_allclose(trained["snippet"], trained["package"], rtol=ROUNDING, atol=1e-7)
    assert np.abs(trained["snippet"] - start).max() > 1e-3


def test_the_readme_snippet_is_at_most_15_lines():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    [code] = [block for block in readme.split("```python\n")[1:] if CLASS_LINE in block]
    assert len(code.split("```")[0].strip().splitlines()) <= 15
