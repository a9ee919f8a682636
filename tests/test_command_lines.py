"""The three command lines answer a bad flag before loading what takes seconds to load."""

import json
import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras", "scipy", "matplotlib", "dask")
ANSWER = """\
import json, runpy, sys
sys.argv = [{command!r}, "--epochs", "abc"]
try:
    runpy.run_module({module!r}, run_name="__main__")
except SystemExit as done:
    print(json.dumps([done.code, [name for name in {heavy!r} if name in sys.modules]]))
"""


@pytest.mark.parametrize("command", ["experiment", "batch", "study"])
def test_a_bad_flag_is_answered_before_keras_and_scipy_load(command):
    code = ANSWER.format(command=f"{command}.py", module=f"gc_tutorial.{command}", heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    status, loaded = json.loads(done.stdout.splitlines()[-1])
    assert status == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith(f"{command}.py: error: "), done.stderr
    allowed = {"matplotlib", "dask"} if command != "experiment" else set()
    assert set(loaded) <= allowed, loaded
