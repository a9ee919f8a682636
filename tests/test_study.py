"""The study: grid checks, derived tables from hand-made rows, a tiny real run, and the
committed results in docs/study (summary.csv must follow from study.csv)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from gc_tutorial import study as study_module
from gc_tutorial.stats import SUMMARY_FIELDS, paired_summary
from gc_tutorial.study import (
    STUDY_GRID,
    best_learning_rates,
    compare_at_best_learning_rates,
    epochs_to_target,
    run_study,
    study_readme,
    summarize_study,
)

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
    monkeypatch.setattr(study_module, "run_comparison", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=words):
        run_study("digits", optimizers=optimizers, output_dir=tmp_path, runs_dir=tmp_path)


def test_one_seed_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 2 seeds"):
        run_study("digits", seeds=[0], output_dir=tmp_path, runs_dir=tmp_path)


def test_a_tiny_real_study_writes_tidy_tables_and_resumes(tmp_path, capsys):
    settings = dict(epochs=1, image_size=12, max_examples=32, batch_size=16)
    out, runs = tmp_path / "out", tmp_path / "runs"
    study = run_study(
        "digits", optimizers=["adam"], seeds=[0, 1], output_dir=out, runs_dir=runs, **settings
    )
    assert len(study) == 3 * 2 * 2 * 1  # learning rates x seeds x arms x epochs
    assert set(study["learning_rate"]) == set(STUDY_GRID["adam"])
    for name in ("study.csv", "summary.csv", "forest.png", "learning_rates.png", "study.json"):
        assert (out / name).stat().st_size > 0, name
    capsys.readouterr()
    again = run_study(
        "digits", optimizers=["adam"], seeds=[0, 1], output_dir=out, runs_dir=runs, **settings
    )
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
