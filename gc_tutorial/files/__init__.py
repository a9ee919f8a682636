"""Files a comparison reads and writes: a user's image folders, results written whole.

A comparison kept in memory, as notebooks 1-4 run it, loads none of these: `data` reads a
folder with `folders` only when the dataset is one, and `run_comparison` saves with
`saving` (on `storage`, with the machine from `environment`) only when given `output_dir`.
"""
