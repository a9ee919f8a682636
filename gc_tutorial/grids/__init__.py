"""The machinery for many runs: grids of comparisons on Dask, batch runs of a notebook with
papermill, the many-seed study, and the storage and integrity rules they keep."""
