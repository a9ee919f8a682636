"""Datasets beyond the lesson's tensorflow-datasets one, each loaded only when named.

`folders` reads a user's folder of class subfolders; `arrays` makes scikit-learn's
handwritten digits and generated discs vs rings (offline, and quick mode's data).
`gc_tutorial.data.load_dataset` turns the `Examples` of any of them into batches.
"""
