"""What every test file shares: TensorFlow's threads, and the order in which pytest runs them."""

import os

# One TensorFlow thread in every test process, as in every grid cell (`grid.use_threads`): a
# process that has trained with other threads refuses to run a grid's cells itself.
os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = "1"

# The files with the longest tests run first. Test processes (pytest-xdist) take tests from
# the front of the queue and steal from each other at the end, so the run ends on short tests
# and both processes finish at about the same time instead of one waiting on a notebook.
LONGEST_FIRST = (
    "test_notebooks_alone.py",
    "test_grids_cluster.py",
    "test_notebooks.py",
    "test_grids_batch.py",
    "test_comparison.py",
    "test_grids_study.py",
    "test_keras_io_example.py",
    "test_benchmarks.py",
    "test_grids_grid.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: keeps the rest
