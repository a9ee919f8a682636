"""Rewrite gradient_centralization.patch and the diff at the end of README.md.

Run after editing gradient_centralization.py:
`python examples/keras_io/update_patch.py`.
The patch is the unified diff from third_party/gradient_centralization.py (the current
keras-io source) to gradient_centralization.py, with keras-io's path, for `git apply`.
"""

import difflib
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
KERAS_IO_PATH = "examples/vision/gradient_centralization.py"


def unified_diff() -> str:
    original = (FOLDER / "third_party" / "gradient_centralization.py").read_text()
    new = (FOLDER / "gradient_centralization.py").read_text()
    lines = difflib.unified_diff(
        original.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{KERAS_IO_PATH}",
        tofile=f"b/{KERAS_IO_PATH}",
    )
    return "".join(lines)


def main() -> None:
    patch = unified_diff()
    (FOLDER / "gradient_centralization.patch").write_text(patch)
    readme_path = FOLDER / "README.md"
    readme = readme_path.read_text()
    start = readme.index("```diff\n") + len("```diff\n")
    end = readme.index("\n```\n", start - 1) + 1  # no line of a diff is just ```
    readme_path.write_text(readme[:start] + patch + readme[end:])
    print(f"wrote {len(patch.splitlines())} lines of diff")


if __name__ == "__main__":
    main()
