"""Build the tutorial's website: execute the notebooks, stamp them, then let Sphinx render.

Run as `bash docs/build.sh [--quick]`. Steps, all under docs/_build/:

1. executed/: each notebook of notebooks/ run with papermill, in reading order, from a work
   folder holding the committed notebooks (their results/ and runs/ land there); a note on
   how it ran (mode, data set, machine, time, source links) goes after its title. The full
   build runs the notebooks' own defaults on horses_or_humans; where that dataset can neither
   be read from a prepared copy nor downloaded, it runs them on scikit-learn's digits with
   settings that learn (`OFFLINE_PARAMETERS`), and every page says so.
2. source/: docs/site/ (Sphinx configuration, the landing page and the other pages), the
   executed notebooks, and what is generated from files on disk: the results (every
   docs/<folder>/ with figures or a summary.csv, docs/study/ first), the benchmark tables
   (docs/benchmark_tables.py, from benchmarks/results/), the landing page's answer and the
   API reference (every public module of gc_tutorial).
3. html/: `sphinx-build` of source/; open html/index.html, online or not.
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD = DOCS / "_build"
REPOSITORY = "https://github.com/gc-tutorial/gc-tutorial"
COLAB = "https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/"
NOT_RESULTS = {"_build", "site", "_static", "__pycache__"}  # folders of docs/ without results
STAMP_TAG = "build-stamp"
TUTORIAL_DATASET = "horses_or_humans"
TFDS_HOST = ("storage.googleapis.com", 443)  # where tensorflow-datasets downloads from
# The full build without horses_or_humans: real handwritten digits at settings that learn
# (those of the study: 24x24, batch 64, no augmentation, 15 epochs; RMSprop at the learning
# rate the study chose for it), ten seeds for notebook 4. Each notebook gets the names it has.
OFFLINE_DIGITS = {
    "dataset": "digits",
    "image_size": 24,
    "batch_size": 64,
    "augment": False,
    "epochs": 15,
    "optimizer": "rmsprop",
    "learning_rate": 1e-3,
}
OFFLINE_PARAMETERS = {
    "04_comparison.ipynb": OFFLINE_DIGITS | {"seeds": list(range(10))},
    # Two adaptive optimizers at the learning rate where both learn digits in 15 epochs; six
    # seeds, the fewest whose sign-flip p can fall under 0.05.
    "05_batch_report.ipynb": OFFLINE_DIGITS
    | {
        "seeds": list(range(6)),
        "launch_grid": True,
        "runs_dir": "runs/digits-grid",
        "grid_optimizers": ["rmsprop", "adam"],
        "grid_learning_rates": [1e-3],
    },
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="quick mode (GC_TUTORIAL_QUICK=1): scikit-learn's digits, small images, 3 epochs",
    )
    quick = parser.parse_args(argv).quick
    started = time.perf_counter()
    os.environ["GC_TUTORIAL_QUICK"] = "1" if quick else "0"
    os.environ.pop("MPLBACKEND", None)  # the kernels' inline backend must draw the figures
    from gc_tutorial.files.environment import describe_environment

    machine = describe_machine(describe_environment())
    offline = not quick and not tutorial_dataset_available()
    if offline:
        log(f"{TUTORIAL_DATASET} is not prepared and cannot be downloaded: full build on digits")
    for folder in ("executed", "source", "html"):
        shutil.rmtree(BUILD / folder, ignore_errors=True)
    notebooks = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    executed = [
        execute(notebook, BUILD / "executed", quick, machine, offline) for notebook in notebooks
    ]
    source = stage_sources(BUILD / "source", notebooks, executed)
    write_build_info(source, quick, machine, executed, offline)
    log(f"sphinx-build -> {BUILD / 'html'}")
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q"] + [str(source), str(BUILD / "html")],
        check=True,
    )
    log(f"done in {time.perf_counter() - started:.0f} s: open {BUILD / 'html' / 'index.html'}")


def tutorial_dataset_available() -> bool:
    """Whether horses_or_humans can be read: prepared by tensorflow-datasets, or downloadable."""
    import tensorflow_datasets as tfds

    if tfds.builder(TUTORIAL_DATASET).is_prepared():
        return True
    try:
        socket.create_connection(TFDS_HOST, timeout=3).close()
    except OSError:
        return False
    return True


def log(message: str) -> None:
    print(f"[build_site] {message}", flush=True)


def describe_machine(environment: dict) -> str:
    """One line: processor, cores, memory, GPUs, OS, versions."""
    gpus = ", ".join(environment["gpus"]) or "no GPU"
    memory = f", {environment['memory_gib']} GiB memory" if environment["memory_gib"] else ""
    return (
        f"{environment['processor']}, {environment['cpu_count']} CPU cores{memory}, {gpus}; "
        f"{environment['platform']}; Python {environment['python']}, "
        f"TensorFlow {environment['tensorflow']}, Keras {environment['keras']} "
        f"({environment['backend']} backend)"
    )


def execute(notebook: Path, folder: Path, quick: bool, machine: str, offline: bool) -> Path:
    """Run `notebook` with papermill into `folder`, then put the stamp after its title.

    `offline`: the full build without the tutorial's dataset; the notebook's parameters of
    `OFFLINE_PARAMETERS` are passed, so it runs on digits.
    """
    import papermill

    work = folder / "work"  # results/ and runs/ of the notebooks land here
    if not work.is_dir():
        ignore = shutil.ignore_patterns("*.py", "results", "runs")
        shutil.copytree(notebook.parent, work, ignore=ignore)
    output = folder / notebook.name
    log(f"executing {notebook.name} ({'quick' if quick else 'full'} mode)")
    executed_at = datetime.now(UTC)
    started = time.perf_counter()
    # The notebooks run in a copy of notebooks/: point the study reader at the real study.
    wanted = {"study_dir": str(ROOT / "docs" / "study")}
    if offline:
        wanted |= OFFLINE_PARAMETERS.get(notebook.name, OFFLINE_DIGITS)
    known = papermill.inspect_notebook(str(work / notebook.name))
    papermill.execute_notebook(
        str(work / notebook.name),
        str(output),
        parameters={name: value for name, value in wanted.items() if name in known},
        cwd=str(work),
        progress_bar=False,
    )
    seconds = time.perf_counter() - started
    log(f"executed {notebook.name} in {seconds:.0f} s")
    executed = nbformat.read(output, as_version=4)
    note = stamp(notebook.name, quick, offline, dataset_of(executed), machine, executed_at, seconds)
    executed.cells.insert(1, nbformat.v4.new_markdown_cell(note, metadata={"tags": [STAMP_TAG]}))
    executed.metadata["gc_tutorial_build"] = {
        "quick": quick,
        "offline": offline,
        "executed_at": executed_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
    }
    nbformat.write(executed, output)
    return output


def dataset_of(notebook: nbformat.NotebookNode) -> str | None:
    """The dataset the notebook ran with, read from its printed parameters (None: it loads none)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            found = re.search(r"^Parameters: .*\bdataset='([^']*)'", output.get("text", ""), re.M)
            if found:
                return found.group(1)
    return None


def stamp(
    name: str,
    quick: bool,
    offline: bool,
    dataset: str | None,
    machine: str,
    executed_at: datetime,
    seconds: float,
) -> str:
    """The note shown under a notebook's title: how this page was executed, and its sources."""
    if quick:
        mode = (
            "**quick** (`GC_TUTORIAL_QUICK=1`): the parameters not passed are replaced by "
            "`gc_tutorial.parameters.QUICK_OVERRIDES` (scikit-learn's digits, 16x16, 3 epochs). "
            "A smoke test of the code: its numbers are not results."
        )
    elif offline:
        mode = (
            f"**full tutorial**, on real handwritten digits: {TUTORIAL_DATASET} could not be "
            "read or downloaded where this site was built, so the data parameters were set to "
            "scikit-learn's digits at settings that learn ("
            + ", ".join(f"{key}={value!r}" for key, value in OFFLINE_DIGITS.items())
            + f"; notebook 4 over {len(OFFLINE_PARAMETERS['04_comparison.ipynb']['seeds'])} "
            "seeds)."
        )
    else:
        mode = "**full tutorial** (the notebook's own defaults)."
    if dataset is None and "study" in name:
        data = "the committed study in `docs/study/` (digits and synthetic data), read, not rerun."
    elif dataset is None:
        data = "none: this notebook loads no data set."
    elif dataset == "synthetic":
        data = "`synthetic`: discs vs rings generated offline, not real photographs."
    elif dataset == "digits":
        data = "`digits`: scikit-learn's real handwritten digits (offline), not horses_or_humans."
    else:
        data = f"`{dataset}`."
    when = executed_at.strftime("%Y-%m-%d %H:%M UTC")
    kind = "warning" if quick else "note"
    return "\n".join(
        [
            f":::{{admonition}} How this page was executed\n:class: {kind}",
            f"- Mode: {mode}",
            f"- Data set: {data}",
            f"- Machine: {machine}.",
            f"- Executed: {when} with papermill, in {seconds:.0f} s.",
            f"- Source: {{download}}`{name} <../downloads/source/{name}>` (as committed, without "
            f"outputs; [on GitHub]({REPOSITORY}/blob/main/notebooks/{name})), "
            f"{{download}}`this page as an executed notebook <../downloads/executed/{name}>`, "
            f"[Open in Colab]({COLAB}{name}).",
            ":::",
        ]
    )


def stage_sources(source: Path, notebooks: list[Path], executed: list[Path]) -> Path:
    """docs/site/ + the executed notebooks + downloads + generated pages, as one Sphinx source."""
    shutil.copytree(DOCS / "site", source, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("notebooks", "downloads/source", "downloads/executed", "_generated"):
        (source / folder).mkdir(parents=True, exist_ok=True)
    drop_missing_pages(source / "index.md", {"results", "api"})
    for notebook, output in zip(notebooks, executed, strict=True):
        shutil.copy2(output, source / "notebooks" / output.name)
        shutil.copy2(output, source / "downloads" / "executed" / output.name)
        shutil.copy2(notebook, source / "downloads" / "source" / notebook.name)
    folders = result_folders()
    study = DOCS / "study"
    others = [folder for folder in folders if folder != study]
    (source / "results.md").write_text(results_page(others, source))
    (source / "_generated" / "answer.md").write_text(answer(folders, source))
    (source / "_generated" / "study.md").write_text(study_section(study, source))
    (source / "api.md").write_text(api_page())
    sys.path.insert(0, str(DOCS))
    try:
        import benchmark_tables
    finally:
        sys.path.remove(str(DOCS))
    benchmark_tables.write_tables(source / "_generated" / "benchmarks")
    return source


def study_section(study: Path, source: Path) -> str:
    """The study page's generated part: the study's README and its figures."""
    if not (study / "README.md").is_file():
        return "No study in this build yet (`docs/study/` does not exist).\n"
    return "\n".join([readme(study, source, levels=1), "", *figure_lines(study, source)])


def figure_lines(folder: Path, source: Path) -> list[str]:
    """Copy a results folder's PNGs to the site's figures/<folder>/ and return a MyST
    figure for each, captioned with its file name."""
    figures = source / "figures" / folder.name
    figures.mkdir(parents=True, exist_ok=True)
    lines = []
    for png in sorted(folder.glob("*.png")):
        shutil.copy2(png, figures / png.name)
        lines += [
            f"```{{figure}} figures/{folder.name}/{png.name}",
            f":alt: {png.stem.replace('_', ' ')}",
            "",
            f"`{png.name}`",
            "```",
            "",
        ]
    return lines


def drop_missing_pages(index: Path, generated: set[str]) -> None:
    """Leave out of the landing page's tables of contents a page of docs/site/ that is absent
    (pages generated here, and the notebooks, are always there)."""
    lines, kept, in_toctree = index.read_text().splitlines(keepends=True), [], False
    for line in lines:
        name = line.strip()
        if line.startswith("```{toctree}"):
            in_toctree = True
        elif in_toctree and name == "```":
            in_toctree = False
        elif (
            in_toctree
            and re.fullmatch(r"[\w-]+", name)
            and name not in generated
            and not (index.parent / f"{name}.md").is_file()
        ):
            continue
        kept.append(line)
    index.write_text("".join(kept))


def result_folders() -> list[Path]:
    """docs/<folder>/ holding figures or a summary.csv; docs/study/ first, then by name."""
    folders = [
        folder
        for folder in sorted(DOCS.iterdir())
        if folder.is_dir()
        and folder.name not in NOT_RESULTS
        and (any(folder.glob("*.png")) or (folder / "summary.csv").is_file())
    ]
    return sorted(folders, key=lambda folder: folder.name != "study")


def results_page(folders: list[Path], source: Path) -> str:
    """One section per results folder: its README, parameters, tables and figures."""
    lines = [
        "# Results",
        "",
        "The comparisons committed in `docs/`, each section from one folder (the study has",
        "its own page, {doc}`study`). They are shown as committed: building the site does not",
        "run them.",
        "",
    ]
    for folder in folders:
        lines += [f"## {heading(folder)}", "", f"From `docs/{folder.name}/`.", ""]
        if (folder / "README.md").is_file():
            lines += [readme(folder, source), ""]
        lines += describe_results(folder)
        for table in ("summary.csv", "paired.csv"):
            if (folder / table).is_file():
                lines += [f"`{table}`:", "", markdown_table(pd.read_csv(folder / table)), ""]
        lines += figure_lines(folder, source)
    return "\n".join(lines)


def heading(folder: Path) -> str:
    return "The study" if folder.name == "study" else f"`{folder.name}`"


def readme(folder: Path, source: Path, first_section_only: bool = False, levels: int = 2) -> str:
    """A results folder's README.md, to sit in a page at the site's root.

    Its headings go `levels` down, and the local files it links (figures) are copied to
    figures/<folder>/ with the links rewritten to match.
    """
    text = (folder / "README.md").read_text()
    if first_section_only:
        lines = text.splitlines(keepends=True)
        headings = [number for number, line in markdown_lines(lines) if line.startswith("#")]
        text = "".join(lines[: headings[1]] if len(headings) > 1 else lines)

    def relink(match: re.Match) -> str:
        target = folder / match.group(2)
        if not target.is_file():
            return match.group(0)
        copied = source / "figures" / folder.name / match.group(2)
        copied.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(target, copied)
        return f"{match.group(1)}figures/{folder.name}/{match.group(2)})"

    text = re.sub(r"(\]\()(?!\w+:|/|#)([^)\s]+)\)", relink, text)
    return demote_headings(text, levels=levels)


def demote_headings(markdown: str, levels: int) -> str:
    lines = markdown.splitlines(keepends=True)
    for number, line in markdown_lines(lines):
        heading = re.match(r"(#{1,6}) ", line)
        if heading:
            lines[number] = "#" * min(len(heading.group(1)) + levels, 6) + line[heading.end(1) :]
    return "".join(lines)


def markdown_lines(lines: list[str]):
    """(index, line) of the lines outside fenced code blocks, where `#` starts a heading."""
    fence = None
    for number, line in enumerate(lines):
        marker = re.match(r"\s*(```+|~~~+)", line)
        if marker and (fence is None or marker.group(1).startswith(fence)):
            fence = marker.group(1) if fence is None else None
        elif fence is None:
            yield number, line


def describe_results(folder: Path) -> list[str]:
    """A folder's parameters and machine, from its results.json, as a short list."""
    path = folder / "results.json"
    if not path.is_file():
        return []
    results = json.loads(path.read_text())
    parameters = ", ".join(f"{k}={v}" for k, v in results.get("parameters", {}).items())
    lines = [f"- Parameters: {parameters}"]
    if "dataset" in results:
        lines.append(f"- Data: {results['dataset'].get('origin', results['dataset'].get('name'))}")
    if "environment" in results:
        lines.append(f"- Machine: {describe_machine(results['environment'])}")
    return lines + [""]


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A table for people: `x_mean` and `x_std` columns become one `x` column, 'mean +- std'."""
    columns = {}
    for column in frame.columns:
        if column.endswith("_std") and f"{column[:-4]}_mean" in frame.columns:
            continue
        if column.endswith("_mean") and f"{column[:-5]}_std" in frame.columns:
            base = column[:-5]
            columns[base] = [
                f"{fmt(mean, digits)} ± {fmt(std, digits)}"
                for mean, std in zip(frame[column], frame[f"{base}_std"], strict=True)
            ]
        else:
            columns[column] = [fmt(value, digits) for value in frame[column]]
    header = [name.replace("_", " ") for name in columns]
    rows = list(zip(*columns.values(), strict=True))
    return "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(row) + " |" for row in rows]
    )


def fmt(value, digits: int) -> str:
    if isinstance(value, float):
        return "n/a" if pd.isna(value) else f"{value:.{digits}f}"
    return str(value)


def answer(folders: list[Path], source: Path) -> str:
    """The landing page's answer: the study's in three sentences with its forest plot, or,
    without a study, what the comparisons on disk show."""
    study = next((folder for folder in folders if folder.name == "study"), None)
    if study is not None and (study / "best_learning_rates.csv").is_file():
        lines = [study_answer(pd.read_csv(study / "best_learning_rates.csv")), ""]
        if (study / "forest.png").is_file():
            figures = source / "figures" / "study"
            figures.mkdir(parents=True, exist_ok=True)
            shutil.copy2(study / "forest.png", figures / "forest.png")
            lines += [
                "```{figure} figures/study/forest.png",
                ":alt: forest plot: GC - baseline final test accuracy per configuration",
                "",
                "GC - baseline, final test accuracy, per dataset, optimizer and learning rate: "
                "the mean over 10 seeds and its 95% interval. An interval clear of 0 is a "
                "detected difference.",
                "```",
                "",
            ]
        return "\n".join(lines + ["All of it, and how it was run: {doc}`study`.", ""])
    lines = [
        "The many-seed study (digits and synthetic data) is not in this build yet "
        "(no `docs/study/`).",
    ]
    for folder in folders:
        summary = folder / "summary.csv"
        if summary.is_file() and (folder / "results.json").is_file():
            results = json.loads((folder / "results.json").read_text())
            rows = pd.read_csv(summary).set_index("arm")
            accuracy = {
                arm: f"{rows.loc[arm, 'final_test_accuracy_mean']:.3f} ± "
                f"{rows.loc[arm, 'final_test_accuracy_std']:.3f}"
                for arm in ("baseline", "gc")
            }
            parameters = results["parameters"]
            lines += [
                "",
                f"What `docs/{folder.name}/` shows, on {results['dataset']['name']} data "
                f"({parameters['image_size']}x{parameters['image_size']}, "
                f"{parameters['optimizer']} {parameters['learning_rate']:g}, "
                f"{parameters['epochs']} epochs, {len(parameters['seeds'])} seeds): final test "
                f"accuracy {accuracy['gc']} with GC against {accuracy['baseline']} without "
                "(mean ± std over seeds). "
                + (
                    "Synthetic data say nothing about horses_or_humans. "
                    if results["dataset"].get("synthetic")
                    else ""
                )
                + "Figures and tables: {doc}`/results`.",
            ]
    return "\n".join(lines) + "\n"


OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "sgd": "SGD"}


def study_answer(best: pd.DataFrame) -> str:
    """Three sentences from best_learning_rates.csv: where GC helped on digits (with intervals),
    where no difference was detected there, and what the synthetic data show."""

    def cell(row) -> str:
        name = OPTIMIZER_NAMES.get(row.optimizer, row.optimizer)
        return f"{name} {row['mean']:+.3f} (95% CI {row.ci_low:+.3f} to {row.ci_high:+.3f})"

    def listing(rows) -> str:
        items = [cell(row) for _, row in rows.iterrows()]
        return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]

    def names(rows) -> str:
        items = [OPTIMIZER_NAMES.get(name, name) for name in rows.optimizer]
        return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]

    digits, synthetic = (best[best.dataset == name] for name in ("digits", "synthetic"))
    seeds = int(best.n.max())
    sentences = []
    if len(digits):
        helped, none = digits[digits.detected], digits[~digits.detected]
        sentences.append(
            f"On scikit-learn's real handwritten digits (24x24, {seeds} seeds, each arm at its "
            "own best learning rate), GC raised the final test accuracy with "
            + (listing(helped) if len(helped) else "no optimizer")
            + "."
        )
        if len(none):
            sentences.append(
                f"With {listing(none)} no difference is detected: the interval contains 0."
            )
    if len(synthetic):
        helped, none = synthetic[synthetic.detected], synthetic[~synthetic.detected]
        sentences.append(
            "On synthetic discs and rings, where neither arm learns well, GC is detectably "
            "better only with "
            + (listing(helped) if len(helped) else "no optimizer")
            + (f" ({names(none)}: no difference detected)" if len(none) else "")
            + "; none of this is horses_or_humans, the tutorial's dataset."
        )
    return " ".join(sentences)


def api_page() -> str:
    """The API reference: every public module of gc_tutorial, gc_tutorial.datasets,
    gc_tutorial.files and gc_tutorial.grids, from their docstrings."""
    import gc_tutorial
    import gc_tutorial.datasets
    import gc_tutorial.files
    import gc_tutorial.grids

    lines = [
        "# API reference",
        "",
        "Generated from the docstrings of the `gc_tutorial` package, one section per module: the",
        "core a learner reads, then `gc_tutorial.datasets` (image folders, digits, generated",
        "shapes), `gc_tutorial.files` (results written whole) and `gc_tutorial.grids`, the",
        "machinery for many runs.",
        "",
        "```{eval-rst}",
        ".. automodule:: gc_tutorial",
        "   :no-members:",
        "```",
        "",
    ]
    for package in (gc_tutorial, gc_tutorial.datasets, gc_tutorial.files, gc_tutorial.grids):
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.name[0] == "_" or info.ispkg:
                continue
            module = f"{package.__name__}.{info.name}"
            lines += [f"## `{module}`", "", "```{eval-rst}", f".. automodule:: {module}", "```", ""]
    return "\n".join(lines)


def write_build_info(
    source: Path, quick: bool, machine: str, executed: list[Path], offline: bool = False
) -> None:
    """What conf.py and the landing page say about this build."""
    from gc_tutorial import __version__

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if quick:
        mode = "quick mode (GC_TUTORIAL_QUICK=1)"
    elif offline:
        mode = (
            f"full mode on scikit-learn's digits ({TUTORIAL_DATASET} could not be read or "
            "downloaded here)"
        )
    else:
        mode = "full mode"
    info = {
        "version": __version__,
        "quick": quick,
        "announcement": (
            "Built in quick mode: the notebooks ran small, fast runs (a few epochs on "
            "scikit-learn's digits, offline). "
            "Their numbers are a smoke test, not results."
        ),
    }
    (source / "_generated" / "build_info.json").write_text(json.dumps(info, indent=2))
    (source / "_generated" / "build.md").write_text(
        f"This site was built on {now}, the notebooks executed in {mode} on: {machine}.\n"
    )


if __name__ == "__main__":
    main()
