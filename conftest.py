"""Root pytest configuration, shared by the unit tests and `pytest --nbmake notebooks/`.

nbmake kernels inherit this process's environment, so setting the quick-mode
switch here makes every notebook run with the offline dataset, small images
and 1-2 epochs. Export GC_TUTORIAL_QUICK=0 to run the notebooks in full.
"""

import os

os.environ.setdefault("GC_TUTORIAL_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
