"""The tracked text speaks of the project only: what a thing does, what a result measures.

Never how or when it came to be written: which sitting or attempt, which borrowed machine, what
"the earlier run" gave. A reader cannot know what such words refer to. The test reads every
tracked text file (`git ls-files`: README, docs, notebooks, code, scripts, configuration) and
fails on such wording, naming the file, the line and the words. Result data (JSON, CSV, logs)
and binary files are not read.
"""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
TEXT_SUFFIXES = {".py", ".md", ".sh", ".ipynb", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".rst"}
TEXT_SUFFIXES |= {".css", ".html", ".txt"}
SCRIPTS_WITHOUT_SUFFIX = {".ci/run"}
NOT_READ = {"tests/test_wording.py"}  # it quotes the wording it looks for
DATA_FOLDERS = ("benchmarks/results/", "docs/study/")  # result data, written by the scripts

WORDING = [
    re.compile(
        r"\b(first|second|third|earlier|later|previous|this|last|next|same|another|a new)"
        r" (session|round|lease|sitting|attempt)s?\b",
        re.I,
    ),
    re.compile(r"\b(earlier|later|previous) run\b(?!s)", re.I),
    re.compile(r"\b(earlier|later) (that|the same|this) (day|week|morning|evening)\b", re.I),
    re.compile(r"\bthe earlier (run|round|method|figure|result)s?\b", re.I),
    re.compile(r"\bleases?\b|\blent\b", re.I),
    re.compile(r"\bborrowed (machine|gpu|device)s?\b", re.I),
    re.compile(r"\bdevice tool\b", re.I),
    re.compile(r"\bthis machine\b", re.I),
    re.compile(r"\b(issue|round|session) \d+\b", re.I),
    re.compile(r"\w_(earlier|rerun|first_run|before)\.(json|csv|png|log|txt)\b"),
    re.compile(r"\w_earlier\b"),
]


def tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    names = [name for name in listed.decode().split("\0") if name]
    return [
        ROOT / name
        for name in names
        if (Path(name).suffix in TEXT_SUFFIXES or name in SCRIPTS_WITHOUT_SUFFIX)
        and name not in NOT_READ
        and not name.startswith(DATA_FOLDERS)
        and (ROOT / name).is_file()
    ]


def offending_lines(text: str) -> list[tuple[int, str]]:
    """(line number, the words) of each line with wording about the project's making."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern in WORDING:
            match = pattern.search(line)
            if match:
                found.append((number, match.group(0)))
                break
    return found


def test_tracked_text_speaks_of_the_project_only():
    offenders = []
    for path in tracked_text_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary
        offenders += [
            f"{path.relative_to(ROOT)}:{number}: {words!r}"
            for number, words in offending_lines(text)
        ]
    assert not offenders, (
        "Wording about how or when the project was made (say what the thing does or what the "
        "result measures instead):\n" + "\n".join(offenders)
    )


@pytest.mark.parametrize(
    "line",
    [
        "Measured in the first session, 15:30-16:10 UTC.",
        "A second run with the same flags, earlier the same day, gave 0.99.",
        "(The earlier round's 0.99-1.02, `gc_overhead_earlier.json`.)",
        "from one call of the device tool on a lent GPU machine",
        "on an earlier lease of the same kind",
        "that dataset cannot be downloaded on this machine",
        "see benchmarks/results/throughput_rerun.json and epochs_before.json",
        "The GPU checks of issue 15",
        "In the next attempt the figure changed.",
    ],
)
def test_such_wording_is_found(line):
    assert offending_lines(f"A plain line.\n{line}\n") != []


@pytest.mark.parametrize(
    "line",
    [
        "A rerun skips complete runs with the same identity.",
        "Each run's folder holds its executed notebook.",
        "The first run of the grid writes its lock.",
        "a lock beside it refuses a second run at once",
        "means_before = gradient.mean(axis=(0, 1, 2))",
        "_clear_for_rerun(folder, plan, runs_dir)",
        "self.session = self.context.__enter__()",
        "the machine recorded in the JSON file",
    ],
)
def test_words_about_the_project_itself_pass(line):
    assert offending_lines(line) == []
