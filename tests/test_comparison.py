"""The fair comparison: fairness, determinism, results files and plots, NaN, bad input.

Kept fast: synthetic data, tiny images, few examples, one or two epochs.
"""

import json
import random
import threading

import keras
import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from gc_tutorial import analysis, comparison, experiment, results
from gc_tutorial.comparison import run_comparison
from gc_tutorial.config import ComparisonConfig
from gc_tutorial.files import saving
from gc_tutorial.files.storage import FolderInUseError
from gc_tutorial.grids import saved
from gc_tutorial.grids.saved import load_comparison

TINY = {
    "seeds": [0],
    "epochs": 2,
    "batch_size": 16,
    "image_size": 16,
    "max_examples": 32,
    "verbose": 0,
}
METRICS = ["train_loss", "train_accuracy", "test_loss", "test_accuracy"]


def compare(**overrides):
    return run_comparison("synthetic", **{**TINY, **overrides})


def arm(history, name):
    return history[history["arm"] == name].reset_index(drop=True)


def test_with_zero_learning_rate_both_arms_see_exactly_the_same_training():
    history = compare(learning_rate=0.0).history
    baseline, gc = arm(history, "baseline"), arm(history, "gc")
    assert baseline["initial_weights"].equals(gc["initial_weights"])
    pd.testing.assert_frame_equal(baseline[METRICS], gc[METRICS], check_exact=True)


def test_gc_arms_first_update_is_the_baselines_centralized(monkeypatch):
    # One SGD step (no momentum) from the same weights on the same batch and dropout masks:
    # the baseline moves by -lr * g, the GC arm by -lr * (g - mean of g over all axes but
    # the last) for every kernel, and exactly as the baseline for the biases.
    models = []
    real_build_model = comparison.build_model

    def recording_build_model(*args, **kwargs):
        model = real_build_model(*args, **kwargs)
        models.append((model, [w.copy() for w in model.get_weights()]))
        return model

    monkeypatch.setattr(comparison, "build_model", recording_build_model)
    compare(optimizer="sgd", learning_rate=0.5, epochs=1, batch_size=16, max_examples=16)
    (baseline, start), (gc, gc_start) = models  # one model per arm: one build, one data load
    assert all(np.array_equal(a, b) for a, b in zip(start, gc_start))
    kernels = 0
    for before, plain, centralized in zip(start, baseline.get_weights(), gc.get_weights()):
        step = plain - before
        if step.ndim > 1:
            kernels += 1
            step = step - step.mean(axis=tuple(range(step.ndim - 1)), keepdims=True)
            assert not np.allclose(plain - before, step, atol=1e-6)  # GC changed something
        np.testing.assert_allclose(centralized - before, step, atol=2e-6)
    assert kernels == 7  # five convolutions, two dense layers


def test_same_seed_gives_the_same_table():
    first, second = (compare(seeds=[3], learning_rate=1e-3).history for _ in range(2))
    pd.testing.assert_frame_equal(first[METRICS], second[METRICS], check_exact=True)
    different = compare(seeds=[4], learning_rate=1e-3).history
    assert not first["initial_weights"].equals(different["initial_weights"])


def test_arms_start_equal_and_train_alike_when_the_global_random_moves(monkeypatch):
    # In a Dask worker, Python's global `random` moves between seeding and the model's
    # build; the weights and dropout seeds must not depend on it.
    undisturbed = compare(seeds=[3], learning_rate=1e-3).history
    real_load_dataset = comparison.load_dataset

    def load_then_disturb(*args, **kwargs):
        data = real_load_dataset(*args, **kwargs)
        random.seed()  # from the operating system: another value every call
        return data

    monkeypatch.setattr(comparison, "load_dataset", load_then_disturb)
    stop = threading.Event()

    def draw_until_stopped():  # about a thousand draws a second, without taking a core
        while not stop.wait(0.001):
            random.random()

    drawer = threading.Thread(target=draw_until_stopped)
    drawer.start()
    try:
        disturbed = compare(seeds=[3], learning_rate=1e-3).history
    finally:
        stop.set()
        drawer.join()
    assert disturbed["initial_weights"].nunique() == 1
    pd.testing.assert_frame_equal(disturbed[METRICS], undisturbed[METRICS], check_exact=True)
    assert disturbed["initial_weights"].equals(undisturbed["initial_weights"])


@pytest.mark.slow
def test_cells_on_a_dask_local_cluster_pass_and_equal_the_main_process():
    distributed = pytest.importorskip("dask.distributed")
    settings = dict(augment=False, image_size=16, epochs=1, batch_size=64, optimizer="adam")
    settings.update(learning_rate=1e-3, max_examples=256)
    configs = [ComparisonConfig(dataset="digits", seeds=[seed], **settings) for seed in range(2)]
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        futures = client.map(run_comparison, configs, verbose=0, pure=False)
        remote = [result.history for result in client.gather(futures)]  # raises if one failed
    for config, history in zip(configs, remote):
        local = run_comparison(config, verbose=0).history
        pd.testing.assert_frame_equal(history[METRICS], local[METRICS], check_exact=True)
        assert history["initial_weights"].equals(local["initial_weights"])


def recording_optimizers(monkeypatch) -> list:
    """The optimizers `run_comparison` compiles, in order: baseline, GC, for each seed."""
    made = []
    real_make_optimizer = comparison.make_optimizer

    def make_and_record(*args, **kwargs):
        made.append(real_make_optimizer(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(comparison, "make_optimizer", make_and_record)
    return made


@pytest.mark.parametrize(
    "setting, expected",
    [({"centralize": "update"}, ("update", False)), ({"conv_only": True}, ("gradient", True))],
)
def test_the_gc_arm_trains_with_the_configs_gc_settings(monkeypatch, setting, expected):
    made = recording_optimizers(monkeypatch)
    # Adam: with plain SGD, centralizing the update is centralizing the gradient.
    default = compare(optimizer="adam", learning_rate=1e-2, epochs=1).history
    changed = compare(optimizer="adam", learning_rate=1e-2, epochs=1, **setting).history
    baseline, gc = made[2:]
    assert (gc.get_config()["centralize"], gc.get_config()["conv_only"]) == expected
    assert "centralize" not in baseline.get_config()  # the plain Keras optimizer
    pd.testing.assert_frame_equal(
        arm(default, "baseline")[METRICS], arm(changed, "baseline")[METRICS]
    )
    assert not arm(default, "gc")[METRICS].equals(arm(changed, "gc")[METRICS])


def test_momentum_reaches_both_arms_optimizers(monkeypatch):
    made = recording_optimizers(monkeypatch)
    compare(optimizer="sgd", momentum=0.9, learning_rate=0.01, epochs=1)
    assert [optimizer.get_config()["momentum"] for optimizer in made] == [0.9, 0.9]


def test_the_epoch_timer_counts_evaluation_apart_from_training(monkeypatch):
    # A clock that only the batches move: a training batch takes 1 s, a test batch 100 s,
    # so the sums say exactly which batches each part counted, whatever the machine's load.
    clock = [0.0]
    monkeypatch.setattr(comparison.time, "perf_counter", lambda: clock[0])

    class Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            clock[0] += 1.0

        def on_test_batch_end(self, batch, logs=None):
            clock[0] += 100.0

    model = keras.Sequential([keras.layers.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((8, 2)), np.zeros((8, 1))
    timer = comparison.EpochTimer()
    callbacks = [timer, Batches()]
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y), callbacks=callbacks, verbose=0)
    assert timer.train_times == [2.0, 2.0]  # two training batches per epoch
    assert timer.eval_times == [200.0, 200.0]  # two test batches per epoch


def test_two_seed_comparison_writes_readable_tables_and_plots(tmp_path):
    result = compare(seeds=[0, 1], epochs=2, output_dir=tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert len(history) == 2 * 2 * 2  # arms x seeds x epochs
    assert set(history["arm"]) == {"baseline", "gc"} and set(history["seed"]) == {0, 1}
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["arm"]) == ["baseline", "gc"] and list(summary["seeds"]) == [2, 2]
    assert summary["final_test_accuracy_std"].notna().all()
    assert len(pd.read_csv(tmp_path / "paired.csv")) == 2
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["parameters"]["seeds"] == [0, 1]
    assert payload["dataset"]["synthetic"] is True
    assert {"keras", "tensorflow", "python", "platform", "cpu_count"} <= set(payload["environment"])
    for name in ("learning_curves.png", "final_test_accuracy.png", "epoch_times.png"):
        image = matplotlib.image.imread(tmp_path / name)
        assert image.shape[0] > 100 and image.shape[1] > 100
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    loaded = load_comparison(tmp_path)
    pd.testing.assert_frame_equal(loaded.history[METRICS], result.history[METRICS])
    report = result.report()
    assert "SYNTHETIC" in report and "Using Gradient Centralization" in report
    assert "Paired difference GC - baseline" in report


def test_nan_loss_stops_the_arm_and_is_recorded():
    result = compare(optimizer="sgd", learning_rate=1e30, epochs=3)
    assert result.history["diverged"].all()
    assert result.history.groupby("arm")["epoch"].max().max() < 3  # stopped early
    assert list(result.summary["diverged"]) == [1, 1]
    assert "Diverged" in result.report()


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        ({"seeds": []}, ValueError, "seeds"),
        ({"seeds": [0, 0]}, ValueError, "distinct"),
        ({"seeds": [2**32]}, ValueError, "< 4294967296"),
        ({"seeds": ["a"]}, ValueError, "seed"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": 1.5}, ValueError, "epochs"),
        ({"learning_rate": -1e-3}, ValueError, "learning_rate"),
        ({"learning_rate": float("inf")}, ValueError, "finite"),
        ({"optimizer": "nosuch"}, ValueError, "nosuch"),
        ({"optimizer": "adam", "momentum": 0.9}, ValueError, "momentum"),
        ({"augment": "yes"}, ValueError, "augment"),
    ],
)
def test_bad_input_fails_before_training(monkeypatch, overrides, error, message):
    monkeypatch.setattr(comparison, "train_arm", pytest.fail)
    with pytest.raises(error, match=message):
        compare(**overrides)


def test_output_dir_that_is_a_file_fails_before_training(monkeypatch, tmp_path):
    monkeypatch.setattr(comparison, "train_arm", pytest.fail)
    a_file = tmp_path / "results"
    a_file.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="results"):
        compare(output_dir=a_file)


def crash_after_first_arm(monkeypatch):
    finished = []
    real_train_arm = comparison.train_arm

    def train_then_crash(arm, seed, config, verbose, **options):
        if finished:
            raise KeyboardInterrupt
        finished.append(arm)
        return real_train_arm(arm, seed, config, verbose, **options)

    monkeypatch.setattr(comparison, "train_arm", train_then_crash)


def test_an_interrupted_comparison_keeps_its_arms_apart_from_the_finished_one(
    monkeypatch, tmp_path, capsys
):
    folder = tmp_path / "D"
    first = compare(seeds=[0], output_dir=folder)
    crash_after_first_arm(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        compare(seeds=[5, 6], optimizer="adam", output_dir=folder)
    # The finished comparison is untouched and whole; the new arm waits in the staging folder.
    loaded = load_comparison(folder)
    assert loaded.parameters["seeds"] == [0] and loaded.identity == first.identity
    pd.testing.assert_frame_equal(loaded.history[METRICS], first.history[METRICS])
    staged = pd.read_csv(tmp_path / ".D.staging" / "history.csv")
    assert list(staged["seed"].unique()) == [5] and list(staged["arm"].unique()) == ["baseline"]
    monkeypatch.undo()
    capsys.readouterr()
    second = compare(seeds=[5], optimizer="adam", output_dir=folder)
    assert "Replacing the finished comparison" in capsys.readouterr().out
    assert load_comparison(folder).identity == second.identity != first.identity
    assert not (tmp_path / ".D.staging").exists()


def test_a_folder_whose_files_do_not_belong_together_is_refused(tmp_path):
    compare(output_dir=tmp_path / "D")
    history = tmp_path / "D" / "history.csv"
    history.write_text(history.read_text().replace("baseline", "gc", 1))
    with pytest.raises(saved.MixedResultsError, match="history.csv"):
        load_comparison(tmp_path / "D")


def test_an_unwritable_output_dir_fails_before_training(monkeypatch):
    monkeypatch.setattr(comparison, "train_arm", pytest.fail)
    with pytest.raises(PermissionError, match="Cannot write results"):
        compare(output_dir="/sys/gc-tutorial-results/D")


def test_an_output_dir_holding_other_files_is_refused_before_training(monkeypatch, tmp_path):
    monkeypatch.setattr(comparison, "train_arm", pytest.fail)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"new or empty folder.*precious.txt.*output_dir='/"):
        compare(output_dir=folder)
    monkeypatch.chdir(folder)
    with pytest.raises(ValueError, match="must not be the current folder"):
        compare(output_dir=".")
    assert (folder / "precious.txt").read_text() == "keep me"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine"]  # no staging, no lock


def test_command_line_refuses_a_busy_or_foreign_output_dir_in_one_line(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setattr(comparison, "train_arm", pytest.fail)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with saving.reserve_output_dir(tmp_path / "busy"):
        for output_dir, message in [(".", "`--output-dir` must not"), ("busy", "is in use")]:
            with pytest.raises(SystemExit) as exit_info:
                experiment.main(["--dataset", "synthetic", "--output-dir", output_dir])
            error = capsys.readouterr().err.strip()
            assert exit_info.value.code == 2 and message in error, error
            assert len(error.splitlines()) == 1 and "Traceback" not in error


def test_a_second_run_on_one_output_dir_fails_at_once(monkeypatch, tmp_path):
    monkeypatch.setattr(comparison, "train_arm", pytest.fail)
    with saving.reserve_output_dir(tmp_path / "D") as (folder, staging):
        assert folder == (tmp_path / "D").resolve() and staging.is_dir()
        with pytest.raises(FolderInUseError, match="output_dir .*D' is in use"):
            compare(output_dir=tmp_path / "D")
        with pytest.raises(FolderInUseError):  # the same folder by another name
            compare(output_dir=tmp_path / "D" / ".." / "D")
    assert list(tmp_path.iterdir()) == []  # lock and empty staging gone


def test_files_that_appear_during_training_are_kept(monkeypatch, tmp_path):
    folder = tmp_path / "D"
    real_train_arm = comparison.train_arm

    def train_while_someone_writes(arm, seed, config, verbose, **options):
        folder.mkdir(exist_ok=True)
        (folder / "precious.txt").write_text("keep me")
        return real_train_arm(arm, seed, config, verbose, **options)

    monkeypatch.setattr(comparison, "train_arm", train_while_someone_writes)
    with pytest.raises(ValueError, match="precious.txt. The finished results wait in"):
        compare(epochs=1, output_dir=folder)
    assert [path.name for path in folder.iterdir()] == ["precious.txt"]
    assert (tmp_path / ".D.staging" / "results.json").is_file()


def test_a_stale_staging_folder_never_leaks_and_hidden_files_are_kept(tmp_path, capsys):
    folder, staging = tmp_path / "D", tmp_path / ".D.staging"
    folder.mkdir()
    (folder / ".partial.comparison.ipynb").write_text("a notebook runner's")
    staging.mkdir()
    (staging / "history.csv").write_text("seed,arm\n7,gc\n")
    (staging / "stale_plot.png").write_text("from an interrupted run")
    compare(epochs=1, output_dir=folder)
    assert "Discarding an interrupted comparison's files" in capsys.readouterr().out
    assert not (folder / "stale_plot.png").exists() and not staging.exists()
    assert (folder / ".partial.comparison.ipynb").read_text() == "a notebook runner's"
    assert set(load_comparison(folder).history["seed"]) == {0}


def test_result_files_are_readable_by_others(tmp_path):
    compare(output_dir=tmp_path / "D")
    for path in (tmp_path / "D").iterdir():
        assert path.stat().st_mode & 0o044 == 0o044, path.name


def test_paired_differences_are_gc_minus_baseline_from_a_hand_made_table():
    rows = []
    for seed, (baseline, gc) in enumerate([(0.8, 0.9), (0.7, 0.6)]):
        for name, accuracy, times in (
            ("baseline", baseline, (9.0, 2.0, 4.0)),
            ("gc", gc, (5.0, 3.0, 3.0)),
        ):
            for epoch, time_s in enumerate(times, start=1):
                rows.append(
                    {
                        "seed": seed,
                        "arm": name,
                        "epoch": epoch,
                        "train_loss": 1.0,
                        "train_accuracy": 0.5,
                        "test_loss": 1.0,
                        "test_accuracy": accuracy,
                        "train_time_s": time_s,
                        "eval_time_s": 0.1,
                        "diverged": False,
                        "initial_weights": "w",
                    }
                )
    history = pd.DataFrame(rows)
    paired = analysis.paired_differences(history)
    assert paired["final_test_accuracy_diff"].tolist() == pytest.approx([0.1, -0.1])
    # Steady epochs are 2 and 3 (epoch 1 traces): gc (3 + 3) / baseline (2 + 4) = 1.
    assert paired["steady_epoch_time_ratio"].tolist() == pytest.approx([1.0, 1.0])
    per_run = analysis.per_run_table(history)
    assert per_run["steady_epoch_time_s"].tolist() == pytest.approx([3.0, 3.0, 3.0, 3.0])
    # A stopped arm: only epochs both arms ran are compared.
    stopped = history[~((history["arm"] == "gc") & (history["epoch"] == 3))]
    ratio = analysis.paired_differences(stopped)["steady_epoch_time_ratio"]
    assert ratio.tolist() == pytest.approx([3.0 / 2.0, 3.0 / 2.0])


def test_a_diverged_runs_final_loss_is_its_last_epochs_nan():
    rows = [
        {
            "seed": seed,
            "arm": name,
            "epoch": epoch,
            "train_loss": float("nan") if (seed, name, epoch) == (1, "gc", 2) else 1.0 / epoch,
            "train_accuracy": 0.5,
            "test_loss": 1.0,
            "test_accuracy": 0.5,
            "train_time_s": 1.0,
            "eval_time_s": 0.1,
            "diverged": (seed, name) == (1, "gc"),
            "initial_weights": "w",
        }
        for seed in (0, 1)
        for name in ("baseline", "gc")
        for epoch in (1, 2)
    ]
    history = pd.DataFrame(rows)
    per_run = analysis.per_run_table(history).set_index(["arm", "seed"])
    assert np.isnan(per_run.loc[("gc", 1), "final_train_loss"])  # not epoch 1's 1.0
    assert per_run.loc[("gc", 0), "final_train_loss"] == 0.5
    summary = analysis.summarize(history, num_train=100).set_index("arm")
    assert np.isnan(summary.loc["gc", "final_train_loss_mean"])  # not seed 0's alone
    assert summary.loc["baseline", "final_train_loss_mean"] == 0.5
    assert list(summary["diverged"]) == [0, 1]
    paired = analysis.paired_differences(history)
    statistics = analysis.paired_statistics(paired).set_index("metric")
    assert np.isnan(statistics.loc["final_train_loss", "mean"])
    assert statistics.loc["final_test_accuracy", "n"] == 2


def test_divergence_rule():
    assert comparison.has_diverged([0.7, float("nan")], 6.9)
    assert comparison.has_diverged([0.7, 1e34], 6.9)
    assert not comparison.has_diverged([2.3, 5.0, 1.0], 6.9)


def test_exploding_finite_loss_is_flagged_as_diverged():
    result = compare(optimizer="rmsprop", learning_rate=1e3, epochs=3)
    assert result.history["diverged"].all()


def test_command_line_errors_are_one_line_with_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        experiment.main(["--dataset", "digits", "--epochs", "0"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "`--epochs` must be an int >= 1" in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1


def test_command_line_names_the_optimizer_and_output_dir_flags(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(comparison, "train_arm", pytest.fail)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "cats").mkdir(parents=True)
    for arguments, message in [
        (["--optimizer", "nosuch"], "`--optimizer` must be a Keras optimizer's name"),
        (["--dataset", "data", "--output-dir", "data/results"], "`--output-dir` must be neither"),
        (["--dataset", "data/cats", "--output-dir", "data"], "`--output-dir` must be neither"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            experiment.main(arguments)
        error = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and message in error, error
        assert len(error.splitlines()) == 1 and "`name`" not in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data"]


def test_the_command_line_is_generated_from_the_config(capsys):
    with pytest.raises(SystemExit):
        experiment.main(["--help"])
    text = capsys.readouterr().out
    for name in ComparisonConfig.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in text, name
    assert "--no-augment" in text and "(default: 'rmsprop')" in text


def test_an_offline_dataset_is_one_line_naming_the_flags(monkeypatch, tmp_path, capsys):
    from gc_tutorial import sources

    monkeypatch.setattr(sources, "network_reachable", lambda *args, **kwargs: False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        experiment.main(["--data-dir", str(tmp_path / "tfds"), "--output-dir", "out"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert "`--data-dir`" in error and "`--dataset synthetic`" in error
    assert "data_dir=" not in error and "source=" not in error
    assert list(tmp_path.iterdir()) == [tmp_path / "tfds"] or not list(tmp_path.glob(".out*"))


def test_data_notes_say_when_results_are_not_horses_or_humans():
    assert results.data_notes([{"kind": "tfds", "synthetic": False}]) == []
    assert results.data_notes([{"kind": "folder", "synthetic": False}]) == []
    digits = results.data_notes([{"kind": "digits", "synthetic": False}])
    assert digits == ["NOTE: scikit-learn digits (real, offline): not horses_or_humans results."]
    mixed = [{"kind": "synthetic", "synthetic": True}, {"kind": "digits", "synthetic": False}]
    notes = results.data_notes(mixed)
    assert len(notes) == 2 and "SYNTHETIC" in notes[0] and "digits" in notes[1]


def test_tensorboard_logs_every_arm_of_every_seed_and_changes_no_number(tmp_path):
    pytest.importorskip("tensorboard")
    plain = compare(seeds=[0, 1]).history
    logged = compare(seeds=[0, 1], tensorboard_dir=tmp_path / "logs").history
    pd.testing.assert_frame_equal(plain[METRICS], logged[METRICS], check_exact=True)
    for seed in (0, 1):
        for name in ("baseline", "gc"):
            for split in ("train", "validation"):
                folder = tmp_path / "logs" / f"seed{seed}" / name / split
                assert list(folder.glob("events.out.tfevents.*")), folder


def test_the_command_line_writes_tensorboard_logs(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    arguments = ["--dataset", "synthetic", "--image-size", "16", "--max-examples", "32"]
    arguments += ["--epochs", "1", "--seeds", "0", "--batch-size", "16"]
    logs, output = tmp_path / "logs", tmp_path / "out"
    experiment.main([*arguments, "--output-dir", str(output), "--tensorboard-dir", str(logs)])
    assert list((logs / "seed0" / "gc" / "train").glob("events.out.tfevents.*"))
    assert (output / "results.json").is_file()


def test_a_full_disk_is_one_line_and_the_earlier_results_stay(tmp_path, monkeypatch, capsys):
    import errno

    arguments = ["--dataset", "synthetic", "--image-size", "16", "--max-examples", "32"]
    arguments += ["--epochs", "1", "--seeds", "0", "--batch-size", "16"]
    output = tmp_path / "out"
    experiment.main([*arguments, "--output-dir", str(output)])
    earlier = {path.name: path.read_bytes() for path in output.iterdir()}
    real_write = saving.write_atomically

    def disk_full(path, data):
        if path.name == "results.json":
            raise OSError(errno.ENOSPC, f"Cannot write {str(path)!r}: No space left on device")
        real_write(path, data)

    monkeypatch.setattr(saving, "write_atomically", disk_full)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        experiment.main([*arguments, "--epochs", "2", "--output-dir", str(output)])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and error.count("\n") == 1, error
    assert "No space left on device" in error and "results.json" in error
    assert {path.name: path.read_bytes() for path in output.iterdir()} == earlier
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]  # no staging folder left


@pytest.mark.parametrize(
    "optimizer, learning_rate",
    [
        ("rmsprop", 0.5),
        pytest.param("sgd", 0.05, marks=pytest.mark.slow),
        pytest.param("adam", 1e-3, marks=pytest.mark.slow),
    ],
)
def test_steps_per_execution_changes_no_recorded_number(optimizer, learning_rate):
    # 0.5 with RMSprop diverges: the divergence rule reads the epoch's loss either way.
    grid = {"optimizer": optimizer, "learning_rate": learning_rate, "seeds": [0, 1], "epochs": 3}
    one = compare(**grid, steps_per_execution=1, max_examples=96).history
    many = compare(**grid, steps_per_execution=32, max_examples=96).history
    columns = [*METRICS, "diverged", "initial_weights"]
    pd.testing.assert_frame_equal(one[columns], many[columns], check_exact=True)


def test_steps_per_execution_trains_the_same_weights():
    from gc_tutorial.data import load_dataset
    from gc_tutorial.model import build_model

    trained = []
    for steps in (1, 32):
        keras.utils.set_random_seed(0)  # the same shuffled batches: a new pipeline each time
        data = load_dataset("digits", image_size=16, batch_size=32, augment=False, max_examples=256)
        model = build_model(data.info.image_shape, 10, seed=0)
        config = ComparisonConfig(dataset="digits", augment=False, steps_per_execution=steps)
        compiled = comparison.compile_arm(model, "gc", config, data.info.num_classes)
        comparison._fit(compiled.model, data, "gc", 0, config.replace(epochs=2), 0, None)
        trained.append(model.get_weights())
    for a, b in zip(*trained, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "settings, compiles",
    [
        ({"optimizer": "rmsprop"}, 2),
        pytest.param({"optimizer": "adam", "centralize": "update"}, 2, marks=pytest.mark.slow),
        pytest.param(
            {"optimizer": "sgd", "precision": "mixed_bfloat16"}, 2, marks=pytest.mark.slow
        ),
        pytest.param({"optimizer": "adagrad"}, 4, marks=pytest.mark.slow),  # starts at 0.1
    ],
    ids=["rmsprop", "adam-update", "sgd-mixed", "adagrad"],
)
def test_one_compiled_model_per_arm_trains_every_seed_as_a_new_model_would(
    settings, compiles, monkeypatch
):
    compiled = []

    def counted(*args):
        compiled.append(args[1])
        return compile_arm(*args)

    compile_arm = comparison.compile_arm
    monkeypatch.setattr(comparison, "compile_arm", counted)
    grid = {**settings, "seeds": [0, 1], "learning_rate": 1e-3}
    together = compare(**grid).history
    assert len(compiled) == compiles  # once per arm, unless the optimizer starts from weights
    alone = [compare(**{**grid, "seeds": [seed]}).history for seed in grid["seeds"]]
    columns = ["seed", "arm", "epoch", *METRICS, "diverged", "initial_weights"]
    alone = pd.concat(alone, ignore_index=True)[columns]
    pd.testing.assert_frame_equal(together[columns], alone, check_exact=True)
