"""The study: grid checks, derived tables from hand-made rows, a tiny real run, and the
committed results in docs/study (summary.csv must follow from study.csv)."""

import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gc_tutorial.grids.study import (
    STUDY_GRID,
    main,
    plan_study,
    run_study,
    study_command,
    study_parser,
)
from gc_tutorial.grids.study_outputs import load_study_record, merged_study, write_study
from gc_tutorial.grids.study_report import at_best_sentences, study_readme, study_runs_table
from gc_tutorial.grids.tables import (
    best_learning_rates,
    compare_at_best_learning_rates,
    epochs_to_target,
    final_epochs,
    summarize_study,
)
from gc_tutorial.stats import SUMMARY_FIELDS, paired_summary

ROOT = Path(__file__).parents[1]
COMMITTED = ROOT / "docs" / "study"


def hand_made_study():
    """Two seeds, two learning rates, two epochs. At lr 0.1 GC has the lower train loss
    but the baseline the higher test accuracy; at lr 0.01 the reverse."""
    rows = []
    table = {
        # (lr, arm): (train loss at the end, test accuracy per epoch for seeds 0 and 1)
        (0.1, "baseline"): (0.50, [(0.5, 0.9), (0.6, 0.8)]),
        (0.1, "gc"): (0.20, [(0.7, 0.7), (0.9, 0.9)]),
        (0.01, "baseline"): (0.30, [(0.4, 0.6), (0.5, 0.7)]),
        (0.01, "gc"): (0.40, [(0.6, 0.95), (0.5, 0.85)]),
    }
    for (rate, arm), (loss, seeds) in table.items():
        for seed, accuracies in enumerate(seeds):
            for epoch, accuracy in enumerate(accuracies, start=1):
                rows.append(
                    {
                        "dataset": "digits",
                        "optimizer": "sgd",
                        "learning_rate": rate,
                        "seed": seed,
                        "arm": arm,
                        "epoch": epoch,
                        "train_loss": loss + (1.0 if epoch == 1 else 0.0),
                        "train_accuracy": 0.5,
                        "test_loss": 1.0,
                        "test_accuracy": accuracy,
                        "train_time_s": 1.0,
                        "diverged": False,
                    }
                )
    return pd.DataFrame(rows)


def test_summary_is_gc_minus_baseline_of_the_final_epoch():
    summary = summarize_study(hand_made_study()).set_index("learning_rate")
    # lr 0.1: gc final (0.7, 0.9) - baseline final (0.9, 0.8) = (-0.2, +0.1)
    assert summary.loc[0.1, "mean"] == pytest.approx(-0.05)
    assert (summary.loc[0.1, "wins"], summary.loc[0.1, "losses"]) == (1, 1)
    # lr 0.01: (0.95, 0.85) - (0.6, 0.7) = (+0.35, +0.15)
    assert summary.loc[0.01, "mean"] == pytest.approx(0.25)
    assert summary.loc[0.01, "baseline_mean"] == pytest.approx(0.65)
    assert summary.loc[0.01, "gc_mean"] == pytest.approx(0.9)


def test_best_learning_rate_is_chosen_on_train_loss_never_test_accuracy():
    best = best_learning_rates(hand_made_study()).set_index("arm")["learning_rate"]
    assert best["baseline"] == 0.01 and best["gc"] == 0.1  # the lower final train loss
    at_best = compare_at_best_learning_rates(hand_made_study()).iloc[0]
    # gc at 0.1: (0.7, 0.9); baseline at 0.01: (0.6, 0.7) -> (+0.1, +0.2)
    assert at_best["mean"] == pytest.approx(0.15)
    assert (at_best["gc_learning_rate"], at_best["baseline_learning_rate"]) == (0.1, 0.01)


def test_a_diverged_run_is_never_the_best_learning_rate():
    table = hand_made_study()
    table.loc[(table["arm"] == "gc") & (table["learning_rate"] == 0.1), "diverged"] = True
    best = best_learning_rates(table).set_index("arm")["learning_rate"]
    assert best["gc"] == 0.01


def test_epochs_to_target_at_each_arms_best_learning_rate():
    reach = epochs_to_target(hand_made_study(), {"digits": 0.7}).iloc[0]
    # gc at 0.1 reaches 0.7 at epoch 1 (seed 0: 0.7) and epoch 1 (seed 1: 0.9);
    # the baseline at 0.01 never in seed 0 (0.4, 0.6) and at epoch 2 in seed 1 (0.7).
    assert (reach["gc_reached"], reach["baseline_reached"], reach["seeds"]) == (2, 1, 2)
    assert reach["gc_mean_epochs"] == 1 and reach["baseline_mean_epochs"] == 2
    assert pd.isna(reach["mean"])  # one seed where both reached: no interval


@pytest.mark.parametrize(
    "optimizers, words",
    [([], "non-empty"), (["sgd", "lion"], "Unknown optimizer"), ("adam", "non-empty")],
)
def test_bad_grid_fails_before_any_training(optimizers, words, monkeypatch, tmp_path):
    monkeypatch.setattr(
        "gc_tutorial.comparison.run_comparison", lambda *a, **k: pytest.fail("trained")
    )
    with pytest.raises(ValueError, match=words):
        run_study("digits", optimizers=optimizers, output_dir=tmp_path, runs_dir=tmp_path)


def test_one_seed_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 2 distinct"):
        run_study("digits", seeds=[0], output_dir=tmp_path, runs_dir=tmp_path)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            {"seeds": 5},
            "`seeds` must be a list of at least 2 distinct ints >= 0 and < 2**32. "
            "Received: seeds=5 (int).",
        ),
        ({"dataset": 5}, "`dataset` must be a non-empty string. Received: dataset=5 (int)."),
        ({"image_size": 5}, "`image_size` must be an int >= 11. Received: image_size=5 (int)."),
        ({"precision": "mixed_bfloat16"}, "Unknown study setting(s) ['precision']"),
    ],
)
def test_bad_arguments_are_value_errors_before_any_training(arguments, message, tmp_path):
    with pytest.raises(ValueError) as error:
        run_study(output_dir=tmp_path / "out", runs_dir=tmp_path / "runs", **arguments)
    assert str(error.value).startswith(message)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--seeds", "1"],
        ["--seeds", "1", "1"],
        ["--epochs", "0"],
        ["--image-size", "5"],
        ["--dataset", "nonexist"],
        ["--optimizers", "lion"],
    ],
)
def test_command_line_refuses_a_bad_argument_in_one_line(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        "gc_tutorial.comparison.run_comparison", lambda *a, **k: pytest.fail("trained")
    )
    runs = tmp_path / "runs"
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--output-dir", str(tmp_path / "out"), "--runs-dir", str(runs)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"{study_parser().prog}: error: ") and error.count("\n") == 1, error
    assert not runs.exists() and not (tmp_path / "out").exists()


def test_command_line_exit_status_is_2(tmp_path):
    command = [sys.executable, "-m", "gc_tutorial.study", "--seeds", "1"]
    done = subprocess.run(
        [*command, "--output-dir", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "study.py: error: `--seeds` must be a list of at least 2 distinct ints "
        ">= 0 and < 2**32. Received: seeds=[1] (list)."
    ]


def write_class_folders(root: Path) -> Path:
    """A folder dataset: classes a and b, five 12x12 images each."""
    for index, name in enumerate(("a", "b") * 5):
        (root / name).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 12), (index * 20, 0, 0)).save(root / name / f"{index}.png")
    return root


def test_a_folder_dataset_keeps_its_runs_in_the_runs_folder(tmp_path):
    images = write_class_folders(tmp_path / "images")
    runs = tmp_path / "runs"
    plan = plan_study(
        str(images.resolve()), output_dir=tmp_path / "out", runs_dir=runs, optimizers=["adam"]
    )
    for folder, config in plan.cells:
        assert folder.parent.parent == runs and config.dataset == str(images.resolve())
    assert len({folder.parent for folder, _ in plan.cells}) == 1
    assert sorted(path.name for path in images.iterdir()) == ["a", "b"]


def test_recorded_command_runs_the_same_study_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images = str(write_class_folders(tmp_path / "my images").resolve())
    plans = [
        plan_study("digits"),
        plan_study("synthetic", seeds=[3, 4], optimizers=["SGD", "adam"], epochs=2),
        plan_study(images, output_dir="out", augment=True, batch_size=16, max_examples=8),
        plan_study(images, optimizers=["rmsprop"], image_size=12),
    ]
    assert study_command(plans[0]) == "python -m gc_tutorial.study --dataset digits"
    where = {(0, None): "--sequential", (3, None): "--workers 3"}
    where[None, "tcp://h:8786"] = "--scheduler tcp://h:8786"
    for (workers, scheduler), words in where.items():
        command = study_command(plans[0], workers, scheduler)
        assert command == f"python -m gc_tutorial.study --dataset digits {words}"
    for plan in plans:
        words = shlex.split(study_command(plan))
        assert words[:3] == ["python", "-m", "gc_tutorial.study"]
        arguments = vars(study_parser().parse_args(words[3:]))
        for name in ("runs_dir", "workers", "scheduler", "recompute"):
            arguments.pop(name)
        assert plan_study(arguments.pop("dataset"), **arguments) == plan, words


def test_final_epoch_is_the_last_row_even_when_it_is_nan():
    table = hand_made_study()
    last = (table["seed"] == 0) & (table["epoch"] == 2) & (table["learning_rate"] == 0.1)
    table.loc[last & (table["arm"] == "gc"), "train_loss"] = math.nan
    final = final_epochs(table).set_index(["learning_rate", "seed", "arm"])
    assert len(final) == 8 and (final["epoch"] == 2).all()
    assert np.isnan(final.loc[(0.1, 0, "gc"), "train_loss"])
    assert final.loc[(0.1, 0, "baseline"), "train_loss"] == 0.5
    assert best_learning_rates(table).set_index("arm")["learning_rate"]["gc"] == 0.01


def test_at_best_sentences_quote_each_arms_learning_rate_and_the_interval():
    assert at_best_sentences(compare_at_best_learning_rates(hand_made_study())) == [
        "sgd (baseline lr 0.01, GC lr 0.1): difference: +0.1500 (95% CI -0.4853 to +0.7853, "
        "n=2 seeds, p=0.5; GC higher in 2, equal in 0, lower in 0): no detectable difference "
        "(the interval contains 0)."
    ]


@pytest.mark.parametrize(
    "dataset, run, label",
    [
        ("digits", {"kind": "digits"}, "real handwritten digits; not horses_or_humans"),
        ("synthetic", {"kind": "synthetic"}, "SYNTHETIC data; not horses_or_humans"),
        ("horses_or_humans", {"kind": "tfds"}, "tensorflow-datasets"),
        ("/data/photos", {"kind": "folder"}, "images from a folder; not horses_or_humans"),
    ],
)
def test_readme_names_the_kind_of_data(dataset, run, label):
    study = hand_made_study().assign(dataset=dataset)
    record = {dataset: {**json.loads((COMMITTED / "study.json").read_text())["digits"], **run}}
    text = study_readme(
        summarize_study(study),
        compare_at_best_learning_rates(study),
        epochs_to_target(study),
        record,
    )
    assert f"**{dataset}** ({label})." in text
    assert ("SYNTHETIC" in text) == (dataset == "synthetic")


def test_runs_table_has_one_column_per_dataset():
    record = json.loads((COMMITTED / "study.json").read_text())
    table = study_runs_table(record)
    assert list(table.columns) == list(record)
    assert table.loc["seeds", "digits"] == 10 and table.loc["cells", "digits"] == 12
    assert table.loc["image_size", "synthetic"] == 24
    assert table.loc["command", "synthetic"] == record["synthetic"]["command"]


@pytest.mark.slow
def test_a_tiny_real_study_writes_tidy_tables_and_resumes(tmp_path, capsys):
    out, runs = tmp_path / "out", tmp_path / "runs"
    settings = dict(
        optimizers=["adam"],
        seeds=[0, 1],
        output_dir=out,
        runs_dir=runs,
        workers=0,
        epochs=1,
        image_size=12,
        max_examples=32,
        batch_size=16,
    )
    study = run_study("digits", **settings)
    assert len(study) == 3 * 2 * 2 * 1  # learning rates x seeds x arms x epochs
    assert set(study["learning_rate"]) == set(STUDY_GRID["adam"])
    for name in ("study.csv", "summary.csv", "forest.png", "learning_rates.png", "study.json"):
        assert (out / name).stat().st_size > 0, name
    record = json.loads((out / "study.json").read_text())["digits"]
    assert record["kind"] == "digits" and "--max-examples 32" in record["command"]
    load = record["load_average_before"]  # the 1, 5 and 15 minute load before the cells ran
    assert len(load) == 3 and all(isinstance(value, float) and value >= 0 for value in load)
    assert (runs / "digits" / "adam-lr0.001" / "results.json").is_file()
    capsys.readouterr()
    again = run_study("digits", **settings)
    assert "Run 1/" not in capsys.readouterr().out  # every cell resumed, nothing retrained
    pd.testing.assert_frame_equal(study, again)


def test_committed_summary_follows_exactly_from_the_committed_study():
    study = pd.read_csv(COMMITTED / "study.csv")
    committed = pd.read_csv(COMMITTED / "summary.csv")
    recomputed = summarize_study(study)
    pd.testing.assert_frame_equal(committed, recomputed, check_exact=False, rtol=1e-12)
    digits = study[study["dataset"] == "digits"]
    assert set(digits["optimizer"]) >= set(STUDY_GRID)
    per_cell = digits.groupby(["optimizer", "learning_rate"])
    assert per_cell.ngroups >= 12 and per_cell["seed"].nunique().min() >= 10
    assert set(digits["arm"]) == {"baseline", "gc"}
    row = committed.iloc[0]
    cell = study[
        (study["dataset"] == row["dataset"])
        & (study["optimizer"] == row["optimizer"])
        & (study["learning_rate"] == row["learning_rate"])
    ]
    final = cell[cell["epoch"] == cell.groupby(["seed", "arm"])["epoch"].transform("max")]
    wide = final.pivot(index="seed", columns="arm", values="test_accuracy")
    expected = paired_summary((wide["gc"] - wide["baseline"]).to_numpy())
    for field in SUMMARY_FIELDS:
        assert row[field] == pytest.approx(getattr(expected, field)), field


def test_committed_answer_is_the_one_the_tables_give():
    study = pd.read_csv(COMMITTED / "study.csv")
    record = json.loads((COMMITTED / "study.json").read_text())
    text = study_readme(
        summarize_study(study),
        compare_at_best_learning_rates(study),
        epochs_to_target(study),
        record,
    )
    assert (COMMITTED / "README.md").read_text() == text
    pd.testing.assert_frame_equal(
        pd.read_csv(COMMITTED / "best_learning_rates.csv"),
        compare_at_best_learning_rates(study),
        check_exact=False,
        rtol=1e-12,
    )


def test_a_cell_with_diverged_runs_is_never_a_detected_difference():
    """Six seeds where GC is 0.3 ahead at lr 0.01: detected, until one GC run diverged."""
    study = pd.concat(
        [hand_made_study().assign(seed=lambda t, k=k: t["seed"] + 2 * k) for k in range(3)],
        ignore_index=True,
    )
    ahead = (study["learning_rate"] == 0.01) & (study["arm"] == "gc")
    study.loc[ahead, "test_accuracy"] = study.loc[ahead, "test_accuracy"] + 0.3
    assert summarize_study(study).set_index("learning_rate").loc[0.01, "detected"]
    study.loc[ahead & (study["seed"] == 5), "diverged"] = True
    cell = summarize_study(study).set_index("learning_rate").loc[0.01]
    assert (cell["baseline_diverged"], cell["gc_diverged"], cell["detected"]) == (0, 1, False)
    readme = study_readme(
        summarize_study(study),
        compare_at_best_learning_rates(study),
        epochs_to_target(study),
        {},
    )
    assert (
        "with diverged runs, never counted: sgd lr 0.01 (diverged: baseline 0, GC 1 of 6)" in readme
    )


def test_a_nan_final_value_leaves_its_seed_out_of_the_paired_summary():
    study = hand_made_study()
    last = (study["seed"] == 0) & (study["epoch"] == 2) & (study["arm"] == "gc")
    study.loc[last & (study["learning_rate"] == 0.01), "test_accuracy"] = math.nan
    cell = summarize_study(study).set_index("learning_rate").loc[0.01]
    assert cell["n"] == 1 and np.isnan(cell["mean"]) and not cell["detected"]
    assert summarize_study(study).set_index("learning_rate").loc[0.1, "n"] == 2  # untouched
    at_best = compare_at_best_learning_rates(study)  # GC's best lr is 0.1: both seeds kept
    assert at_best.loc[0, "n"] == 2
    study.loc[last & (study["learning_rate"] == 0.1), "test_accuracy"] = math.nan
    at_best = compare_at_best_learning_rates(study)
    assert at_best.loc[0, "n"] == 1 and not at_best.loc[0, "detected"]
    (sentence,) = at_best_sentences(at_best)
    assert "only 1 seed(s) with a final value in both arms: no paired summary." in sentence


def test_recompute_reproduces_the_committed_study_files_exactly(tmp_path):
    for name in ("study.csv", "study.json"):
        (tmp_path / name).write_bytes((COMMITTED / name).read_bytes())
    main(["--recompute", "--output-dir", str(tmp_path)])
    for name in ("summary.csv", "best_learning_rates.csv", "epochs_to_target.csv", "README.md"):
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name


def one_line_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    error = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(error) == 1, error
    return error[0]


TINY = ["--optimizers", "adam", "--seeds", "0", "1", "--epochs", "1", "--image-size", "12"]


@pytest.mark.parametrize("content", ["[]", "{broken"])
def test_a_complete_cell_that_cannot_be_read_stops_the_study_before_training(
    content, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        "gc_tutorial.comparison.run_comparison", lambda *a, **k: pytest.fail("trained")
    )
    runs = tmp_path / "runs"
    plan = plan_study(
        "digits",
        optimizers=["adam"],
        epochs=1,
        image_size=12,
        runs_dir=runs,
        output_dir=tmp_path / "out",
        seeds=[0, 1],
    )
    grid = plan.grid()
    cell = grid.cells[0]
    folder = grid.folder(cell)
    folder.mkdir(parents=True)
    (folder / "complete.json").write_text(json.dumps(cell.marker()))
    (folder / "results.json").write_text(content)
    argv = [*TINY, "--runs-dir", str(runs), "--output-dir", str(tmp_path / "out")]
    error = one_line_error(argv, capsys)
    assert str(folder) in error and "cannot be read" in error


@pytest.mark.parametrize("flag_name", ["--output-dir", "--runs-dir"])
def test_a_folder_flag_that_is_a_file_is_refused_before_training(
    flag_name, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        "gc_tutorial.comparison.run_comparison", lambda *a, **k: pytest.fail("trained")
    )
    folders = {"--output-dir": tmp_path / "out", "--runs-dir": tmp_path / "runs"}
    folders[flag_name] = tmp_path / "a file"
    folders[flag_name].write_text("")
    argv = [*TINY, *(str(word) for pair in folders.items() for word in pair)]
    assert f"`{flag_name}`" in one_line_error(argv, capsys)


def test_a_study_output_dir_holding_other_files_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        "gc_tutorial.comparison.run_comparison", lambda *a, **k: pytest.fail("trained")
    )
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("mine")
    argv = [*TINY, "--runs-dir", str(tmp_path / "runs"), "--output-dir", str(tmp_path / "out")]
    assert "thesis.tex" in one_line_error(argv, capsys)
    assert (tmp_path / "out" / "thesis.tex").read_text() == "mine"


def test_two_studies_cannot_share_a_runs_folder(tmp_path, monkeypatch, capsys):
    from gc_tutorial.grids.runs_folder import lock_folder

    monkeypatch.setattr(
        "gc_tutorial.comparison.run_comparison", lambda *a, **k: pytest.fail("trained")
    )
    argv = [*TINY, "--runs-dir", str(tmp_path / "runs"), "--output-dir", str(tmp_path / "out")]
    with lock_folder(tmp_path / "runs" / "digits"):
        assert "in use" in one_line_error([*argv, "--sequential"], capsys)


def test_a_study_of_other_optimizers_keeps_or_refuses_the_earlier_rows(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    plan = plan_study(
        "digits",
        optimizers=["sgd"],
        seeds=[0, 1],
        epochs=1,
        output_dir=out,
        runs_dir=tmp_path / "runs",
    )
    record = {"settings": plan.settings, "seeds": plan.seeds, "grid": {"sgd": [0.1]}}
    (out / "study.json").write_text(json.dumps({"digits": record}))
    same = {"seeds": [0, 1], "epochs": 1, "output_dir": out, "runs_dir": tmp_path / "runs"}
    assert plan_study("digits", optimizers=["rmsprop"], **same).optimizers == ["rmsprop"]
    with pytest.raises(ValueError, match="holds a digits study of sgd with other settings"):
        plan_study("digits", optimizers=["rmsprop"], **{**same, "epochs": 2})


def test_a_study_of_other_optimizers_keeps_the_rows_already_there(tmp_path):
    sgd = hand_made_study()
    sgd.to_csv(tmp_path / "study.csv", index=False)
    adam = sgd.assign(optimizer="adam")
    merged = merged_study(tmp_path, "digits", ["adam"], adam)
    assert sorted(merged["optimizer"].unique()) == ["adam", "sgd"]
    assert len(merged) == 2 * len(sgd)
    again = merged_study(tmp_path, "digits", ["sgd"], sgd.assign(train_loss=9.0))
    assert (again.loc[again["optimizer"] == "sgd", "train_loss"] == 9.0).all()  # replaced


def test_a_study_that_cannot_be_written_leaves_the_one_there_as_it_was(tmp_path, monkeypatch):
    import errno

    from gc_tutorial.files import storage

    study, record = pd.read_csv(COMMITTED / "study.csv"), load_study_record(COMMITTED)
    write_study(tmp_path, study, record)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    real_write = storage.write_atomically

    def disk_full_at_the_readme(path, data):
        if Path(path).name == "README.md":
            raise OSError(errno.ENOSPC, f"Cannot write {str(path)!r}: No space left on device")
        real_write(path, data)

    monkeypatch.setattr("gc_tutorial.grids.study_outputs.write_atomically", disk_full_at_the_readme)
    with pytest.raises(OSError, match="No space left on device"):
        write_study(tmp_path, study.assign(test_accuracy=0.1), record)
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert after == before


def test_how_it_was_run_names_the_vector_extensions_where_the_record_has_them():
    study = pd.read_csv(COMMITTED / "study.csv")
    record = json.loads((COMMITTED / "study.json").read_text())
    tables = summarize_study(study), compare_at_best_learning_rates(study), epochs_to_target(study)
    for run in record.values():
        run["environment"].pop("cpu_vector_extensions", None)
    older = study_readme(*tables, record)  # as a record made before they were recorded
    for run in record.values():
        run["environment"]["cpu_vector_extensions"] = ["avx", "avx2", "fma"]
    newer = study_readme(*tables, record)
    assert "(2 cores, 23.5 GiB" in older and "(2 cores, avx avx2 fma, 23.5 GiB" in newer
