"""`evaluate()` on a tiny trained run: results.json, saved probes, TensorBoard views."""

import json
import math
import os
import shutil

import numpy as np
import pytest

from dim_tf import config as config_lib
from dim_tf import workdir as workdir_lib
from dim_tf.errors import UserError
from dim_tf.evaluators import cpu, evaluation, report
from dim_tf.evaluators.probes import store
from dim_tf.tools import eval_benchmark
from dim_tf.training import loop, runs
from tests.events import event_tags
from tests.tiny import tiny_config, tiny_eval_config

pytestmark = pytest.mark.slow

# The module's evaluated run: every kind, and label fractions.
EVERY_KIND = {
    "eval.kinds": "linear,mlp,finetune,knn,svm",
    "eval.label_fractions": "0.25",
}


@pytest.fixture(scope="module")
def evaluated(data_dir, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("run"))
    loop.train(tiny_eval_config(data_dir, **EVERY_KIND), workdir)
    lines = []
    results = evaluation.evaluate(workdir, log=lines.append)
    return workdir, results, lines


def test_results_follow_the_contract(evaluated):
    workdir, results, lines = evaluated
    with open(os.path.join(workdir, "results.json")) as f:
        assert json.load(f) == results
    assert results["dataset"] == "digits"
    assert results["split"] == "test[:80]"
    assert results["step"] == 4
    assert results["checkpoint"] == os.path.join("checkpoints", "ckpt-4")
    assert [(p["kind"], p["tap"]) for p in results["probes"]] == [
        (kind, tap)
        for kind in ("linear", "mlp", "finetune", "knn", "svm")
        for tap in ("conv", "fc", "y")
    ]
    for probe in results["probes"]:
        assert 0.0 <= probe["test_accuracy"] <= 1.0
        # Accuracy on 80 images is a multiple of 1/80.
        assert math.isclose(
            probe["test_accuracy"] * 80, round(probe["test_accuracy"] * 80)
        )
        assert probe["export"] is None  # bin/export fills it in
    knn = [p for p in results["probes"] if p["kind"] == "knn"]
    # k = 200 is clipped to the 160 training examples.
    assert all(p["k"] == 160 and p["temperature"] == 0.1 for p in knn)
    svm = [p for p in results["probes"] if p["kind"] == "svm"]
    for probe in svm:
        assert probe["C"] in (0.01, 0.1, 1.0) and probe["num_train_examples"] == 160
        assert 0.0 <= probe["train_accuracy"] <= 1.0
    for key in ("mine", "ndm", "ndm_sigmoid"):
        assert isinstance(results[key], float) and math.isfinite(results[key])
    assert results["encoder_export"] is None
    random = results["random_encoder"]
    assert [(p["kind"], p["tap"]) for p in random["probes"]] == [
        (kind, tap) for kind in ("linear", "knn") for tap in ("conv", "fc", "y")
    ]
    assert all(p["num_train_examples"] == 20 for p in results["few_label_probes"])
    assert len(random["few_label_probes"]) == 3
    fractions = results["label_fraction_probes"]
    assert [(p["kind"], p["tap"]) for p in fractions] == [
        (kind, tap) for kind in ("linear", "finetune") for tap in ("conv", "fc", "y")
    ]
    # A quarter of each class of 160 digits (about 16 a class), rounded.
    counts = {p["num_train_examples"] for p in fractions}
    assert len(counts) == 1 and 30 <= counts.pop() <= 50
    assert all(p["label_fraction"] == 0.25 for p in fractions)
    assert [p["kind"] for p in random["label_fraction_probes"]] == ["linear"] * 3
    assert results["class_names"] == [str(i) for i in range(10)]
    assert results["num_train_examples"] == 160 and results["num_test_examples"] == 80
    # A progress line per part of each evaluator, with an ETA after the first
    # unless its parts run side by side.
    assert "finetune (3/13): tap y, 3/3" in " ".join(lines)
    assert any(line.startswith("knn (4/13): tap fc, 2/3 ... ETA") for line in lines)
    assert "linear (1/13): tap conv, 1/3 (3 side by side)" in lines
    assert "linear (1/13): tap fc, 2/3" in lines


def test_trained_probes_are_saved_for_export(evaluated):
    workdir, results, _ = evaluated
    with open(os.path.join(workdir, "probes", "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["step"] == results["step"]
    assert len(manifest["probes"]) == 9
    for entry in manifest["probes"]:
        assert os.path.exists(os.path.join(workdir, "probes", entry["file"]))
        assert entry["head_only"] == (entry["kind"] != "finetune")
    assert not [n for n in os.listdir(workdir) if n.startswith(".staging-")]


def test_tensorboard_views_are_written(evaluated):
    workdir, results, _ = evaluated
    logdir = os.path.join(workdir, "eval")
    tags = event_tags(logdir)
    for tag in (
        "neighbours",
        "local_mi_map",
        "codes/sigmoid_y",
        "codes/uniform_prior_samples",
    ):
        assert tags.get(tag) == [results["step"]], (tag, sorted(tags))
    for name in (
        "projector_config.pbtxt",
        "projector_y.tsv",
        "projector_sprite.png",
        "neighbours.png",
        "local_mi_map.png",
    ):
        assert os.path.exists(os.path.join(logdir, name))
    with open(os.path.join(logdir, "projector_metadata.tsv")) as f:
        assert len(f.read().splitlines()) == 1 + 30


def test_the_table_is_paper_shaped(evaluated):
    workdir, results, _ = evaluated
    table = report.format_table(results, workdir).splitlines()
    assert table[1].split() == ["conv", "fc", "y"]
    width = len(table[1]) - 3 * 8  # The taps' columns are 8 wide.
    rows = {line[:width].strip(): line[width:].split() for line in table[2:]}
    for name in (
        "linear",
        "mlp",
        "finetune",
        "knn",
        "svm",
        "random linear",
        "random knn",
        "linear, 2/class",
        "random linear, 2/class",
        "linear, 25% labels",
        "finetune, 25% labels",
        "random linear, 25% labels",
    ):
        assert len(rows[name]) == 3, (name, sorted(rows))
    linear_y = next(
        p for p in results["probes"] if (p["kind"], p["tap"]) == ("linear", "y")
    )
    assert rows["linear"][2] == f"{100 * linear_y['test_accuracy']:.2f}"
    assert any("MINE" in line and "NDM" in line for line in table)


def test_taps_and_kinds_can_be_narrowed_and_the_decoder_added(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    loop.train(tiny_eval_config(data_dir, **{"train.steps": 2}), workdir)
    results = evaluation.evaluate(
        workdir, taps="y", kinds="linear,decoder", random_baseline=False
    )
    assert [(p["kind"], p["tap"]) for p in results["probes"]] == [
        ("linear", "y"),
        ("decoder", "y"),
    ]
    assert results["random_encoder"]["probes"] == []
    decoder_row = results["probes"][1]
    assert 0 < decoder_row["ms_ssim"] <= 1 and decoder_row["mse"] > 0
    assert "test_accuracy" not in decoder_row and decoder_row["export"] is None
    assert results["decoder"] == {
        "tap": "y",
        "ms_ssim": decoder_row["ms_ssim"],
        "mse": decoder_row["mse"],
        "num_train_examples": 160,
    }
    table = report.format_table(results).splitlines()
    assert table[2].split()[:3] == ["linear", "-", "-"]
    assert not any(line.startswith("decoder") for line in table)  # No accuracy.
    ms_ssim = f"MS-SSIM (decoder on Y) {decoder_row['ms_ssim']:.3f}"
    assert [line for line in table if line.startswith(ms_ssim)]
    logdir = os.path.join(workdir, "eval")
    assert event_tags(logdir)["decoder/reconstructions"] == [2]
    assert os.path.exists(os.path.join(logdir, "reconstructions.png"))
    with open(os.path.join(workdir, "probes", "manifest.json")) as f:
        saved = json.load(f)["probes"]  # The decoder has no classifier to keep.
    assert [(p["kind"], p["tap"]) for p in saved] == [("linear", "y")]


def test_the_train_examples_cap_is_honoured(data_dir, evaluated, tmp_path):
    trained = evaluated[0]
    workdir = tmp_path / "run"
    workdir.mkdir()
    shutil.copy(os.path.join(trained, "config.json"), workdir)
    os.symlink(os.path.join(trained, "checkpoints"), workdir / "checkpoints")
    workdir = str(workdir)
    run = runs.load_run(workdir)
    with run.config.unlocked():
        run.config.eval.max_train_examples = 50
        run.config.eval.few_labels = 0
    results = evaluation.evaluate(
        workdir, taps="y", kinds="linear", random_baseline=False, run=run
    )
    assert results["num_train_examples"] == 50
    assert results["num_test_examples"] == 80
    assert report.read_results(workdir)["num_train_examples"] == 50


def test_bad_input_is_a_one_line_user_error(data_dir, evaluated, tmp_path):
    workdir = evaluated[0]
    no_checkpoint = tmp_path / "untrained"
    no_checkpoint.mkdir()
    with open(os.path.join(workdir, "config.json")) as f:
        (no_checkpoint / "config.json").write_text(f.read())
    cases = [
        (str(tmp_path / "missing"), {}, "does not exist"),
        (str(tmp_path), {}, "no config.json"),
        (str(no_checkpoint), {}, "no checkpoint yet"),
        (workdir, {"taps": "y,pool"}, "unknown tap 'pool'"),
        (workdir, {"kinds": "pca"}, "linear, mlp, finetune, knn, svm"),
    ]
    for path, kwargs, fragment in cases:
        with pytest.raises(UserError) as err:
            evaluation.evaluate(path, **kwargs)
        assert fragment in str(err.value), str(err.value)
        assert "\n" not in str(err.value)


def test_bad_eval_settings_are_refused(data_dir, evaluated, tmp_path):
    workdir = evaluated[0]
    with open(os.path.join(workdir, "config.json")) as f:
        recorded = json.load(f)
    recorded["eval"]["epochs"] = 0
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(recorded))
    os.symlink(os.path.join(workdir, "checkpoints"), run / "checkpoints")
    with pytest.raises(UserError, match="eval.epochs must be an integer >= 1"):
        evaluation.evaluate(str(run))


@pytest.mark.parametrize(
    "kinds, recorded, shared",
    [
        (None, "linear,knn", True),
        (None, "linear,finetune", False),
        ("mlp,finetune", "linear", False),
        ("knn", "linear,finetune", True),
    ],
)
def test_the_entry_points_share_the_cores_unless_fine_tuning(
    tmp_path, monkeypatch, kinds, recorded, shared
):
    workdir = str(tmp_path)
    workdir_lib.write_config(
        workdir, config_lib.to_record(tiny_config(**{"eval.kinds": recorded}))
    )
    calls = []
    monkeypatch.setattr(cpu, "share_cores", calls.append)
    evaluation.use_cores_for(workdir, kinds)
    # Shared with the four probes trained side by side.
    assert calls == ([4] if shared else [])
    # What `evaluate` refuses is left for it to report.
    calls.clear()
    evaluation.use_cores_for(workdir, "linear,knm")
    evaluation.use_cores_for(str(tmp_path / "missing"), kinds)
    assert calls == []


def test_probes_run_during_training_when_asked(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    config = tiny_eval_config(
        data_dir,
        **{
            "train.steps": 4,
            "eval.every": 2,
            "eval.kinds": "linear,knn,svm",
            "eval.taps": "y",
        },
    )
    loop.train(
        config, workdir, actions=[evaluation.periodic_evaluation(config, workdir)]
    )
    tags = event_tags(os.path.join(workdir, "eval"))
    for tag in ("probe/linear_y", "probe/knn_y", "mi/mine", "ndm", "ndm_sigmoid"):
        assert tags.get(tag) == [2, 4], (tag, sorted(tags))
    assert "probe/svm_y" not in tags  # SVMs only when bin/evaluate runs


@pytest.mark.parametrize(
    "every,step,steps_done,due",
    [
        (0, 4, 2, False),
        (3, 4, 2, True),
        (3, 4, 1, False),
        (2, 4, 2, True),
        (5, 4, 4, False),
    ],
)
def test_probes_during_training_are_due_when_a_multiple_is_crossed(
    every, step, steps_done, due, monkeypatch
):
    asked = []

    def not_chief(strategy):  # Reached only when due; stops before measuring.
        asked.append(strategy)
        return False

    monkeypatch.setattr(evaluation.strategies, "is_chief", not_chief)
    trainer = type("Trainer", (), {"strategy": "strategy"})()
    action = evaluation.periodic_evaluation(tiny_config(**{"eval.every": every}), "-")
    assert action(trainer, step, steps_done) is None
    assert asked == (["strategy"] if due else [])


@pytest.mark.parametrize(
    "field,value,fragment",
    [
        ("eval.taps", "y,pool", "unknown eval.taps 'pool'; choose one or more of"),
        ("eval.kinds", "pca", "unknown eval.kinds 'pca'; choose one or more of"),
        ("eval.every", -1, "eval.every must be an integer >= 0"),
    ],
)
def test_train_refuses_bad_eval_settings_before_writing(
    data_dir, tmp_path, field, value, fragment
):
    workdir = str(tmp_path / "run")
    with pytest.raises(UserError) as err:
        loop.train(tiny_eval_config(data_dir, **{field: value}), workdir)
    assert fragment in str(err.value)
    assert not os.path.exists(workdir)


def test_the_evaluation_benchmark_times_every_part(data_dir, evaluated, tmp_path):
    workdir = evaluated[0]
    with open(os.path.join(workdir, "config.json")) as f:
        recorded = json.load(f)
    recorded["eval"].update(taps="y", kinds="linear", few_labels=0, label_fractions="")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(recorded))
    os.symlink(os.path.join(workdir, "checkpoints"), run / "checkpoints")
    lines = []
    timed = eval_benchmark.benchmark_evaluation(str(run), log=lines.append)
    json.dumps(timed)  # One JSON line.
    results = report.read_results(str(run))
    parts = [
        "load",
        "features/trained",
        "start/linear",  # The probes start in the background first.
        "probe/linear_y",
        "mi/mine",
        "ndm",
        "ndm_sigmoid",
        "views",
        "features/random",
        "start/random/linear",
        "random/probe/linear_y",
        "save",
    ]
    assert list(timed["seconds"]) == parts
    assert set(timed["cpu_seconds"]) == set(parts)
    assert all(seconds >= 0 for seconds in timed["seconds"].values())
    assert sum(timed["seconds"].values()) <= timed["total_s"] + 0.1
    seconds = timed["seconds"]
    assert timed["evaluator_seconds"] == {
        # An evaluator's seconds include its start and its wrap-up after its
        # last part.
        "linear": pytest.approx(
            seconds["start/linear"] + seconds["probe/linear_y"], abs=0.02
        ),
        "mi": pytest.approx(
            sum(seconds[k] for k in ("mi/mine", "ndm", "ndm_sigmoid")), abs=0.02
        ),
        "random/linear": pytest.approx(
            seconds["start/random/linear"] + seconds["random/probe/linear_y"],
            abs=0.02,
        ),
    }
    (probe,) = results["probes"]
    assert timed["values"]["probe/linear_y"] == round(probe["test_accuracy"], 5)
    assert timed["values"]["ndm"] == round(results["ndm"], 5)
    assert timed["num_train_examples"] == 160 and timed["peak_rss_mb"] > 0
    assert min(timed["matmul_gflops"]) > 0
    assert "linear (1/3): tap y, 1/1" in lines


def test_large_maps_and_images_are_pooled_and_named(data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    config = tiny_eval_config(
        data_dir, **{"train.steps": 2, "eval.max_tap_features": 500}
    )
    loop.train(config, workdir)
    lines = []
    results = evaluation.evaluate(
        workdir,
        taps="conv,y",
        kinds="linear,finetune,decoder",
        random_baseline=False,
        log=lines.append,
    )
    # basic28x28's conv 7x7x128 fits 500 floats only as 1x1x128; the 28x28x1
    # digits MINE, the decoder and the views keep are halved to 14x14x1.
    assert results["pooled_features"] == {
        "conv": {"shape": [7, 7, 128], "pooled": [1, 1, 128]},
        "images": {"shape": [28, 28, 1], "pooled": [14, 14, 1]},
    }
    assert any("conv: 7x7x128 average-pooled to 1x1x128" in line for line in lines)
    table = report.format_table(results)
    assert "images: 28x28x1 average-pooled to 14x14x1" in table
    assert 0 < results["decoder"]["ms_ssim"] <= 1
    assert math.isfinite(results["mine"])
    assert os.path.exists(os.path.join(workdir, "eval", "local_mi_map.png"))
    # The saved probes, completed with the encoder, pool as their features did.
    run = runs.load_run(workdir)
    classifiers = store.load(workdir, run)
    images = np.zeros((2, 28, 28, 1), np.float32)
    for kind in ("linear", "finetune"):
        model = classifiers[("conv", kind)]
        assert model(images).shape == (2, 10)
