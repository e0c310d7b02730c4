"""Evaluators by name: lookup errors and the `(name, value)` pairs each yields."""

import math
import subprocess
import sys
import types

import keras
import pytest

from dim_tf.errors import UserError
from dim_tf.evaluators import KINDS, base, evaluation, registry
from dim_tf.evaluators import features as features_lib
from dim_tf.models import encoders
from tests import processes
from tests.tiny import tiny_config

TINY_EVAL = {
    "data.eval_train_split": "train[:64]",
    "data.eval_split": "test[:32]",
    "eval.epochs": 1,
    "eval.batch_size": 32,
    "eval.finetune.epochs": 1,
    "eval.mi.mine_steps": 2,
    "eval.mi.ndm_steps": 2,
    "eval.mi.examples": 20,
    "eval.few_labels": 1,
    "eval.decoder.epochs": 1,
    "eval.label_fractions": "0.2",
    "eval.knn.k": 5,
}


def tiny_run(data_dir, workdir=None, **overrides):
    """A stand-in for `runs.Run`: a random tiny encoder on the embedded digits.

    Views (the decoder's reconstructions) go to `workdir`/eval.
    """
    config = tiny_config(**{"data.data_dir": data_dir, **TINY_EVAL, **overrides})
    keras.utils.set_random_seed(0)

    def fresh_encoder():
        return encoders.build_encoder("basic28x28", (28, 28, 1), config.y_dim)

    def encoder_copy():
        copy = fresh_encoder()
        copy.set_weights(run.encoder.get_weights())
        return copy

    run = types.SimpleNamespace(
        workdir=workdir,
        step=0,
        config=config,
        encoder=fresh_encoder(),
        image_size=28,
        num_classes=10,
        eval_train_split=config.data.eval_train_split,
        eval_split=config.data.eval_split,
        center_crop=False,
        fresh_encoder=fresh_encoder,
        encoder_copy=encoder_copy,
    )
    return run


def test_an_unknown_evaluator_is_a_one_line_error_naming_the_valid_ones():
    with pytest.raises(UserError) as err:
        registry.get("pca")
    message = str(err.value)
    assert "'pca'" in message and "\n" not in message
    for name in (*KINDS, "few_labels", "label_fractions", "mi"):
        assert name in message


def test_the_label_free_evaluators_say_so():
    assert registry.get("decoder").needs_labels is False
    assert registry.needs_labels("linear") and not registry.needs_labels("mi")


def test_every_kind_is_an_evaluator():
    for name in registry.NAMES:
        assert issubclass(registry.get(name), base.Evaluator), name


def _plugins(tmp_path, monkeypatch):
    """Modules `toys.good` (an `Evaluator`) and `toys.bad` (none) on the path."""
    (tmp_path / "toys").mkdir()
    (tmp_path / "toys" / "good.py").write_text(
        "from dim_tf.evaluators import base\n\n\n"
        "class Evaluator(base.Evaluator):\n"
        "    def run(self, step):\n"
        "        yield base.Result('toy', 1.0)\n"
    )
    (tmp_path / "toys" / "bad.py").write_text("class Evaluator:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_kinds_are_built_ins_in_order_then_plug_ins_as_given(tmp_path, monkeypatch):
    _plugins(tmp_path, monkeypatch)
    assert base.parse_kinds("eval.kinds", "knn, toys.good,linear") == (
        "linear",
        "knn",
        "toys.good",
    )
    assert base.parse_kinds("eval.kinds", "toys.good") == ("toys.good",)
    assert registry.get("toys.good").__module__ == "toys.good"


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("linear,pca", ["unknown eval.kinds 'pca'", "knn", "dotted module path"]),
        ("", ["eval.kinds names none", "dotted module path"]),
        ("toys.missing", ["no module 'toys.missing'"]),
        ("nowhere.toy", ["no module 'nowhere.toy'"]),
        ("toys.bad", ["'toys.bad' defines no Evaluator", "base.Evaluator"]),
    ],
)
def test_a_bad_kind_is_a_one_line_error(tmp_path, monkeypatch, text, fragments):
    _plugins(tmp_path, monkeypatch)
    with pytest.raises(UserError) as err:
        base.parse_kinds("eval.kinds", text)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_every_registered_evaluator_yields_name_value_pairs(data_dir, tmp_path):
    run = tiny_run(data_dir, str(tmp_path))
    for name in registry.NAMES:
        evaluator = registry.build(name, run.config.eval, ("y",))
        _, results = evaluation.measure(run, [evaluator])
        assert results, name
        for result in results:
            pair_name, value = result[:2]
            assert isinstance(pair_name, str) and pair_name, name
            assert isinstance(value, float) and math.isfinite(value), name
            assert result.row is not None, name


def test_features_are_extracted_once_per_step_and_source(data_dir, monkeypatch):
    run = tiny_run(data_dir)
    calls = []
    extract = features_lib.extract_features

    def counting(encoder, dataset, taps, **kwargs):
        calls.append((encoder.name, tuple(taps)))
        return extract(encoder, dataset, taps, **kwargs)

    monkeypatch.setattr(features_lib, "extract_features", counting)
    evaluators = registry.plan(run.config.eval, ("conv",), ("linear", "mlp"), True)
    step, results = evaluation.measure(run, evaluators)
    # One pass over each split for the trained encoder, one for the random one.
    assert step.features.passes == 2 and len(calls) == 4
    # Only the taps some evaluator reads: MINE / NDM add "y" to the trained
    # encoder's; the random encoder's linear probes read "conv" alone.
    assert [taps for _, taps in calls] == [("conv", "y")] * 2 + [("conv",)] * 2
    names = [r.name for r in results]
    assert names[:2] == ["probe/linear_conv", "probe/mlp_conv"]
    assert "random/probe/linear_conv" in names
    assert {"mi/mine", "ndm", "ndm_sigmoid"} <= set(names)


def test_train_features_are_capped(data_dir):
    run = tiny_run(data_dir, **{"eval.max_train_examples": 40})
    step = evaluation.Step(
        run,
        features_lib.StepFeatures(run, [base.Need("trained", ("y",))]),
        print,
    )
    train, test = step.features.get()
    assert len(train.labels) == 40 and train.taps["y"].shape == (40, 8)
    assert len(test.labels) == 32
    assert set(train.taps) == {"y"}


def test_the_names_import_without_tensorflow():
    code = (
        "import sys; import dim_tf.evaluators.registry; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=processes.REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
