"""bin/train, bin/evaluate and bin/export as a user runs them one after the
other: subprocesses, their output and one-line errors."""

import json
import os
import shutil

import pytest

from dim_tf.evaluators import evaluation
from tests import processes, tiny

pytestmark = pytest.mark.slow

TRAIN_FLAGS = [
    *tiny.TINY_FLAGS,
    "--config.train.steps=2",
    "--config.train.steps_per_call=1",
    "--config.train.log_every=1",
    "--config.data.eval_train_split=train[:96]",
    "--config.data.eval_split=test[:48]",
    "--config.eval.taps=fc,y",
    "--config.eval.kinds=linear,mlp",
    "--config.eval.epochs=2",
    "--config.eval.mi.mine_steps=5",
    "--config.eval.mi.ndm_steps=5",
    "--config.eval.mi.examples=40",
    "--config.eval.views.projector_examples=20",
    "--config.eval.few_labels=2",
]


@pytest.fixture(scope="module")
def workdir(data_dir, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("run"))
    trained = processes.run_python(
        "bin/train",
        *TRAIN_FLAGS,
        f"--config.data.data_dir={data_dir}",
        f"--workdir={workdir}",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Trained to step 2." in trained.stdout
    assert f"checkpoint  {workdir}/checkpoints/ckpt-2" in trained.stdout
    assert "step 2/2" in trained.stderr and "mi/local" in trained.stderr  # progress
    # TensorFlow's C++ start-up lines and TFDS's internal deprecations are hidden.
    for noise in ["absl::InitializeLog", "cuInit", "FeatureConnector.dtype"]:
        assert noise not in trained.stderr
    return workdir


def test_evaluate_prints_the_table_then_export_prints_the_paths(workdir):
    evaluated = processes.run_python("bin/evaluate", f"--workdir={workdir}")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    lines = evaluated.stdout.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.split() == ["conv", "fc", "y"]
    )
    assert lines[header + 1].split()[:2] == ["linear", "-"]  # conv was not probed
    assert lines[header + 2].split()[0] == "mlp"
    assert any(line.startswith("random linear") for line in lines)
    assert any("MINE" in line and "NDM" in line for line in lines)
    assert f"bin/export --workdir={workdir}" in evaluated.stdout
    assert "] linear (1/8): tap fc, 1/2 (2 side by side)" in evaluated.stderr
    assert "] linear (1/8): tap y, 2/2\n" in evaluated.stderr  # progress

    exported = processes.run_python("bin/export", f"--workdir={workdir}")
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "evaluating first" not in exported.stderr
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    assert "export/encoder" in exported.stdout
    for probe in results["probes"]:
        assert probe["export"] in exported.stdout
        assert f"{100 * probe['test_accuracy']:.2f}%" in exported.stdout


def test_bad_input_exits_with_one_line(workdir):
    result = processes.run_python("bin/export", f"--workdir={workdir}/missing")
    processes.assert_one_line_error(result, "does not exist")


def test_an_unknown_tap_is_a_one_line_error(workdir):
    # What bin/evaluate --taps=y,pool runs; its one line and exit status 2 are
    # those of any `UserError` (test_an_unknown_plug_in_is_a_one_line_error).
    processes.assert_user_error(
        lambda: evaluation.evaluate(workdir, taps="y,pool"), "unknown tap 'pool'"
    )


TOY_EVALUATOR = '''
import numpy as np

from dim_tf.evaluators import base


class Evaluator(base.Evaluator):
    """The mean L2 norm of the test split's Y."""

    def __init__(self, name, eval_config, taps, source="trained"):
        super().__init__(name, eval_config, ("y",), source)

    def run(self, step):
        _, test = step.features.get(self.source)
        norms = np.linalg.norm(test.taps["y"], axis=1)
        yield base.Result("toy/mean_norm_y", float(np.mean(norms)))
'''


def test_a_plug_in_evaluator_reaches_results_json_and_the_table(workdir, tmp_path):
    (tmp_path / "toy_evals").mkdir()
    (tmp_path / "toy_evals" / "toy_eval.py").write_text(TOY_EVALUATOR)
    run = str(tmp_path / "run")
    shutil.copytree(workdir, run)
    evaluated = processes.run_python(
        "bin/evaluate",
        f"--workdir={run}",
        "--kinds=toy_evals.toy_eval,linear",
        "--random_baseline=false",  # Plug-ins measure the trained encoder only.
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])
        ),
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    with open(os.path.join(run, "results.json")) as f:
        results = json.load(f)
    value = results["measures"]["toy/mean_norm_y"]
    assert value > 0
    assert f"toy/mean_norm_y {value:.4g}" in evaluated.stdout.splitlines()
    assert "] toy_evals.toy_eval (2/" in evaluated.stderr
    assert [probe["kind"] for probe in results["probes"]] == ["linear", "linear"]


def test_an_unknown_plug_in_is_a_one_line_error(workdir):
    result = processes.run_python(
        "bin/evaluate", f"--workdir={workdir}", "--kinds=linear,toy_evals.missing"
    )
    processes.assert_one_line_error(result, "no module 'toy_evals.missing'")
