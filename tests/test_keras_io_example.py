"""Tests of the keras-io version of the example (examples/keras_io/gradient_centralization.py).

The example is a keras-io "tutobook": a script whose triple-quoted strings are markdown
cells. It must stay exactly what would be proposed to keras-io, so the tests never edit
it. To run it end to end offline and in seconds, they execute a copy made in memory in
which only two things differ:

- the lines of its size constants (IMAGE_SIZE, BATCH_SIZE, EPOCHS, SEEDS) are replaced
  by small values; each replacement must match exactly one line, so a renamed constant
  fails the test instead of silently running at full size;
- `tensorflow_datasets.load` is replaced by `load_offline_horses_or_humans` below, which
  returns a few random 300x300 images with the same structure (no network here or in CI).

That copy is converted to a notebook by keras-io's tutobook rules and executed by
nbmake, on the Keras backend of the test process (CI runs this file on TensorFlow and
with KERAS_BACKEND=jax). Its GC is checked separately, on a probe model: with SGD the
mean of each output unit's weights does not move.
"""

import ast
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FOLDER = Path(__file__).resolve().parents[1] / "examples" / "keras_io"
EXAMPLE = FOLDER / "gradient_centralization.py"
ORIGINAL = FOLDER / "third_party" / "gradient_centralization.py"
PATCH = FOLDER / "gradient_centralization.patch"
README = FOLDER / "README.md"

# The smallest size the model accepts is 94 px (five 3x3 convolutions and 2x2 poolings).
REDUCED_SIZE = {"IMAGE_SIZE": "96", "BATCH_SIZE": "4", "EPOCHS": "2", "SEEDS": "[0, 1]"}
HEADER_FIELDS = ["Title", "Author", "Date created", "Last modified", "Description"]


def load_offline_horses_or_humans(name, split, with_info, as_supervised):
    """Stand-in for `tfds.load`: 12 training and 8 test images of random pixels."""
    import types

    import numpy as np
    from tensorflow import data as tf_data

    assert name == "horses_or_humans" and with_info and as_supervised, name
    rng = np.random.default_rng(0)

    def dataset(count):
        images = rng.integers(0, 256, size=(count, 300, 300, 3), dtype=np.uint8)
        return tf_data.Dataset.from_tensor_slices((images, np.arange(count) % 2))

    info = types.SimpleNamespace(
        features={"image": types.SimpleNamespace(shape=(300, 300, 3))},
        splits={
            "train": types.SimpleNamespace(num_examples=12),
            "test": types.SimpleNamespace(num_examples=8),
        },
    )
    return (dataset(12), dataset(8)), info


def tutobook_cells(source: str) -> list[tuple[str, str]]:
    """Split a tutobook into ("markdown" | "code", text) cells, as keras-io's
    scripts/tutobooks.py does: a line starting with three quotes opens a markdown cell
    that the next such line closes; everything between markdown cells is code."""
    cells, lines, index = [], source.split("\n"), 0
    while index < len(lines):
        if lines[index].startswith('"""'):
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith('"""'))
            cells.append(("markdown", "\n".join(lines[index + 1 : end]).strip("\n")))
            index = end + 1
        else:
            end = next(
                (i for i in range(index, len(lines)) if lines[i].startswith('"""')), len(lines)
            )
            code = "\n".join(lines[index:end]).strip("\n")
            if code:
                cells.append(("code", code))
            index = end
    return cells


def reduced_source() -> str:
    source = EXAMPLE.read_text()
    for name, value in REDUCED_SIZE.items():
        source, count = re.subn(rf"^{name} = .*$", f"{name} = {value}", source, flags=re.M)
        assert count == 1, f"{name} is set on {count} lines of the example, expected 1"
    return source


def notebook_of(source: str) -> dict:
    """The notebook keras-io's `py2nb` makes of a tutobook (title cell, then markdown and
    code cells), with a first code cell that points `tfds.load` at offline data."""
    cells = tutobook_cells(source)
    fields = dict(line.split(": ", 1) for line in cells[0][1].splitlines())
    title = f"# {fields['Title']}\n\n**Author:** {fields['Author']}"
    offline = (
        "import tensorflow_datasets as tfds\n\n"
        + inspect.getsource(load_offline_horses_or_humans)
        + "\ntfds.load = load_offline_horses_or_humans"
    )
    body = [("markdown", title), ("code", offline)] + cells[1:]
    return {
        "cells": [
            {"id": f"cell-{index}", "cell_type": kind, "metadata": {}, "source": text}
            | ({"outputs": [], "execution_count": None} if kind == "code" else {})
            for index, (kind, text) in enumerate(body)
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_header_has_the_keras_io_fields():
    header = tutobook_cells(EXAMPLE.read_text())[0][1].splitlines()
    fields = dict(line.split(": ", 1) for line in header)
    assert list(fields)[:2] == ["Title", "Author"]
    assert set(HEADER_FIELDS + ["Accelerator"]) <= set(fields)
    for key in ["Date created", "Last modified"]:
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", fields[key]), (key, fields[key])
    description = fields["Description"]
    assert description[0].isupper() and description.endswith(".") and len(description) < 100
    assert fields["Accelerator"] in {"GPU", "TPU", "None"}


def test_cells_alternate_prose_and_code_and_end_in_prose():
    kinds = [kind for kind, _ in tutobook_cells(EXAMPLE.read_text())]
    body = kinds[1:]  # after the header
    assert body[0] == body[-1] == "markdown"
    assert all(a != b for a, b in zip(body, body[1:])), body


def test_format_is_what_keras_io_accepts():
    text = EXAMPLE.read_text()
    lines = text.splitlines()
    assert len(lines) < 300
    assert not [n for n, line in enumerate(lines, 1) if line != line.rstrip()]
    assert not [n for n, line in enumerate(lines, 1) if len(line) > 88]
    single_line_fences = [line for line in lines if line.startswith('"""') and len(line) > 3]
    assert not single_line_fences  # keras-io reads the rest of such a line as a cell tag


def test_is_black_formatted_at_88_columns():
    pytest.importorskip("black")
    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--diff", "--line-length", "88", EXAMPLE],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_keras_tfds_numpy_and_matplotlib_only():
    tree = ast.parse(EXAMPLE.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module)
            if node.module == "tensorflow":
                assert [alias.name for alias in node.names] == ["data"]  # tf.data only
    allowed = {"time", "keras", "matplotlib.pyplot", "numpy", "tensorflow_datasets"}
    assert modules <= allowed | {"tensorflow"}, modules
    assert "gc_tutorial" not in EXAMPLE.read_text()


def test_model_and_optimizer_use_keras_only():
    source = EXAMPLE.read_text()
    tree = ast.parse(source)
    definitions = {
        node.name: ast.get_source_segment(source, node)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    }
    for name in ["make_model", "GCRMSprop"]:
        assert not re.search(r"\btf[._]|tensorflow", definitions[name]), name
    assert len(definitions["GCRMSprop"].splitlines()) <= 15


def gc_optimizer_class(base: str):
    """The example's GC optimizer, defined by its own cell with `base` as base class."""
    import keras

    cell = next(text for kind, text in tutobook_cells(EXAMPLE.read_text()) if "class GC" in text)
    assert cell.count("keras.optimizers.RMSprop") == 1
    namespace = {"keras": keras, "ops": keras.ops}
    exec(cell.replace("keras.optimizers.RMSprop", f"keras.optimizers.{base}"), namespace)
    return namespace["GCRMSprop"]


def unit_means_after_training(optimizer):
    """Each kernel's per-output-unit means before and after 12 steps on a probe model."""
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 8, 8, 3)), rng.normal(size=(48, 1))
    model.compile(loss="mse", optimizer=optimizer)

    def means():
        kernels = [w.numpy() for w in model.trainable_weights if len(w.shape) > 1]
        return [k.mean(axis=tuple(range(k.ndim - 1))) for k in kernels]

    before = means()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return before, means()


def test_gc_keeps_each_output_units_weight_mean_with_sgd():
    import keras

    before, after = unit_means_after_training(gc_optimizer_class("SGD")(learning_rate=0.1))
    for old, new in zip(before, after):
        np.testing.assert_allclose(new, old, atol=1e-6)
    before, after = unit_means_after_training(keras.optimizers.SGD(learning_rate=0.1))
    assert min(np.max(np.abs(new - old)) for old, new in zip(before, after)) > 1e-4


@pytest.mark.slow
def test_runs_end_to_end_as_a_notebook_at_reduced_size(tmp_path):
    """Converts the reduced copy to a notebook, runs it with nbmake and reads its output:
    the check cell, one line per seed and arm, the paired intervals and epoch times."""
    pytest.importorskip("nbmake")
    notebook = tmp_path / "gradient_centralization.ipynb"
    notebook.write_text(json.dumps(notebook_of(reduced_source()), indent=1))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake",
         "--overwrite", "--nbmake-timeout=300", str(notebook)],
        capture_output=True, text=True, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "MPLBACKEND"},  # Jupyter's inline plots
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    cells = json.loads(notebook.read_text())["cells"]
    text = "".join(
        "".join(output.get("text", ""))
        for cell in cells
        for output in cell.get("outputs", [])
        if output.get("name") == "stdout"
    )
    differences = dict(re.findall(r"(\w+): max \|w - w_RMSprop\| = (\S+)", text))
    assert float(differences["GetGradientsRMSprop"]) < 1e-6, text
    assert float(differences["GCRMSprop"]) > 1e-5, text
    assert len(re.findall(r"seed \d, (?:GC)?RMSprop: test accuracy", text)) == 4, text
    assert len(re.findall(r"GC - RMSprop = [+-]\d\.\d{4}, 95% t interval", text)) == 2, text
    assert len(re.findall(r"median epoch time \d+\.\d\d s", text)) == 2, text
    assert any(
        "image/png" in output.get("data", {})
        for cell in cells
        for output in cell.get("outputs", [])
    )


def test_patch_turns_the_original_into_the_new_example(tmp_path):
    """The README's diff is the patch file, and it applies to keras-io's source."""
    patch = PATCH.read_text()
    readme_diff = re.search(r"^```diff\n(.*?)^```$", README.read_text(), flags=re.S | re.M).group(1)
    assert readme_diff == patch, "run: python examples/keras_io/update_patch.py"
    target = tmp_path / "examples" / "vision" / "gradient_centralization.py"
    target.parent.mkdir(parents=True)
    shutil.copyfile(ORIGINAL, target)
    (tmp_path / "change.patch").write_text(patch)
    for args in (["--check"], []):
        result = subprocess.run(
            ["git", "apply", *args, "change.patch"], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
    assert target.read_bytes() == EXAMPLE.read_bytes(), (
        "run: python examples/keras_io/update_patch.py"
    )
