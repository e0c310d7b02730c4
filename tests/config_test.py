"""dim_tf.config: one TensorFlow-free validator, config.json records."""

import os
import subprocess
import sys

import pytest

from dim_tf import config as config_lib
from dim_tf import models, objective, workdir
from dim_tf.errors import UserError
from dim_tf.evaluators import settings as evaluator_settings
from dim_tf.training import settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_python(code):
    """Runs `code` in a fresh interpreter at the repository root; must succeed."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _python(code):
    """`code`'s stdout, run as `_run_python` does."""
    return _run_python(code).stdout


def test_importing_the_config_imports_no_tensorflow():
    out = _python(
        "import sys, dim_tf, dim_tf.config\n"
        "config = dim_tf.config.default_config()\n"
        "config.objective.estimator = 'mine'\n"
        "try:\n"
        "    dim_tf.config.check_config(config)\n"
        "except ValueError as err:\n"
        "    print(err)\n"
        "print(sorted(m for m in ('tensorflow', 'tensorflow_datasets', 'keras')"
        " if m in sys.modules))\n"
    )
    assert out.splitlines() == [
        "unknown objective.estimator 'mine'; choose one of jsd, nce, dv",
        "[]",
    ]


@pytest.mark.parametrize(
    "code",
    [
        "import dim_tf\nimport tensorflow_datasets as tfds\n",
        "import tensorflow_datasets as tfds\nimport dim_tf\n",
    ],
    ids=["dim_tf_first", "tfds_first"],
)
def test_digits_is_registered_whichever_is_imported_first(code):
    # The builder class, not its data: whether `digits` is already prepared
    # in TFDS's default data_dir depends on the machine.
    out = _python(code + "print(tfds.builder_cls('digits').name)\n")
    assert out.strip() == "digits"


def _bad(**overrides):
    config = config_lib.default_config()
    config.update_from_flattened_dict(overrides)
    with pytest.raises(UserError) as info:
        config_lib.check_config(config)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("encoder", "resnet", models.ENCODERS),
        ("objective.mode", "both", objective.MODES),
        ("objective.estimator", "mine", objective.ESTIMATORS),
        ("objective.prior", "laplace", models.PRIORS),
        ("critic.kind", "bilinear", models.LOCAL_CRITICS),
        ("critic.score_scale", "sqrt", models.SCORE_SCALES),
        ("strategy", "gpu", ("auto", "mirrored", "one_device")),
        ("train.precision", "float16", ("float32", "mixed_bfloat16")),
        ("eval.taps", "y,pool", ("conv", "fc", "y")),
        ("eval.kinds", "pca", ("linear", "mlp", "finetune", "knn", "svm")),
    ],
)
def test_an_unknown_choice_names_the_field_and_the_choices(field, value, allowed):
    message = _bad(**{field: value})
    shown = "pool" if value == "y,pool" else value
    assert message.startswith(f"unknown {field} '{shown}'; choose one ")
    assert all(name in message for name in allowed)


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("data.shuffle_buffer", 0, "data.shuffle_buffer must be an integer >= 1"),
        ("critic.units", 0, "critic.units must be an integer >= 1"),
        ("eval.max_train_examples", -1, "eval.max_train_examples must be an integer"),
        ("eval.max_tap_features", -2, "eval.max_tap_features must be an integer"),
        ("objective.alpha", -1.0, "objective.alpha must be >= 0"),
        ("train.batch_size", 1, "train.batch_size must be an integer >= 2"),
        ("data.dataset", "", "data.dataset is ''"),
        ("data.data_dir", " ", "data.data_dir is ' '; set it to a directory"),
        ("y_dim", 0, "y_dim must be an integer >= 1"),
        ("critic.global_units", 0, "critic.global_units must be an integer >= 1"),
        ("image_size", 64, "encoder basic32x32 takes 32x32 images"),
        ("eval.epochs", 0, "eval.epochs must be an integer >= 1"),
        ("train.max_minutes", -1.0, "train.max_minutes must be > 0, got -1.0"),
        ("critic.score_clip", -1.0, "critic.score_clip must be a finite number > 0"),
        ("critic.score_clip", float("inf"), "critic.score_clip must be a finite"),
        ("critic.score_penalty", -0.5, "critic.score_penalty must be a finite"),
        ("eval.knn.k", 0, "eval.knn.k must be an integer >= 1"),
        ("eval.knn.temperature", 0.0, "eval.knn.temperature must be > 0"),
        ("eval.knn.precision", "float16", "choose one of float32, bfloat16, auto"),
        ("eval.mlp.precision", "fp32", "choose one of float32, bfloat16, auto"),
        ("eval.svm.max_examples", -1, "eval.svm.max_examples must be an integer"),
        ("eval.svm.cs", "", "eval.svm.cs is ''; set it to comma-separated C values"),
        ("eval.svm.cs", "0.1,-1", "eval.svm.cs is '0.1,-1'"),
        ("eval.svm.cs", "0.1;1", "eval.svm.cs is '0.1;1'"),
        ("eval.label_fractions", "0.1,2", 'fractions in (0, 1], or "" for none'),
        ("eval.label_fractions", "0", "eval.label_fractions is '0'"),
        ("eval.label_fractions", "10%", "eval.label_fractions is '10%'"),
        (
            "eval.mlp.batch_scale",
            10,
            "eval.mlp.batch_scale must be an integer from 1 to 9",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_field(field, value, fragment):
    assert fragment in _bad(**{field: value})


EVAL_NUMBERS = sorted(
    f"eval.{name}"
    for name, value in config_lib.flatten(
        evaluator_settings.defaults().to_dict()
    ).items()
    if not isinstance(value, (bool, str))
)


@pytest.mark.parametrize("field", EVAL_NUMBERS)
def test_every_eval_number_sub_sections_included_is_checked(field):
    assert f"{field} must be " in _bad(**{field: -1})


def test_the_eval_section_has_a_sub_section_per_evaluator():
    section = config_lib.default_config().eval.to_dict()
    subsections = {name for name, value in section.items() if isinstance(value, dict)}
    assert subsections == {"mlp", "finetune", "knn", "svm", "decoder", "mi", "views"}
    assert (section["knn"]["k"], section["mi"]["examples"]) == (200, 10_000)


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"critic.kind": "concat"}, "critic.kind=concat has none"),
        ({"objective.mode": "global"}, "objective.mode=global with beta=0"),
    ],
)
def test_the_sqrt_units_scale_needs_a_local_dot_critic(overrides, fragment):
    message = _bad(**{"critic.score_scale": "sqrt_units", **overrides})
    assert message.startswith("critic.score_scale=sqrt_units ")
    assert fragment in message


@pytest.mark.parametrize(
    "fields, replicas, fragment",
    [
        ({}, 3, "train.batch_size 64 cannot be split over 3 replicas; use a multiple"),
        ({"train.jit_compile": True}, 2, "train.jit_compile=True needs one replica"),
    ],
)
def test_the_replica_split_is_checked_once_the_strategy_is_known(
    fields, replicas, fragment
):
    config = config_lib.default_config()
    config.update_from_flattened_dict(fields)
    settings.check_replicas(config, 1)
    with pytest.raises(UserError, match=fragment):
        settings.check_replicas(config, replicas)


def test_several_bad_sections_report_the_first_in_check_order():
    bad = [
        ("data.shuffle_buffer", 0),
        ("y_dim", 0),
        ("objective.gradient_penalty", -1.0),
        ("augment.translate", -1),
        ("critic.score_penalty", -1.0),
        ("train.steps", -1),
        ("eval.epochs", 0),
    ]
    for first in range(len(bad)):
        message = _bad(**dict(bad[first:]))
        assert message.startswith(bad[first][0]), message


def test_the_fields_a_resumed_run_may_change():
    config = config_lib.default_config()
    train = {"steps", "max_minutes", "log_every", "checkpoint_every"}
    train |= {"keep_checkpoints", "steps_per_call", "jit_compile", "precision"}
    expected = {"data.data_dir", "data.manual_dir", "strategy", "tpu"}
    expected |= {f"train.{name}" for name in train}
    assert config_lib.resumable_fields(config_lib.to_record(config)) == expected
    # Under the default buffer the cache decides the shuffle: it stays fixed.
    config.data.shuffle_buffer = 100
    record = config_lib.to_record(config)
    assert config_lib.resumable_fields(record) == expected | {"data.cache"}


def test_the_score_options_pass_with_the_local_dot_critic():
    config = config_lib.default_config()
    config.objective.mode = "local+global"
    config.critic.score_scale = "sqrt_units"
    config.critic.score_clip = 20  # An int is taken as 20.0.
    config.critic.score_penalty = 0.1
    config_lib.check_config(config)
    assert config_lib.to_record(config)["critic"]["score_clip"] == 20.0


def test_the_defaults_and_every_shipped_value_pass():
    config = config_lib.default_config()
    config_lib.check_config(config)
    assert config.eval.max_train_examples == 50_000
    assert config.critic.units is None and config.data.shuffle_buffer is None
    # The score options are off: the paper's critic.
    assert (config.critic.score_scale, config.critic.score_clip) == ("none", None)
    assert config.critic.score_penalty == 0.0


@pytest.mark.parametrize(
    "text, parsed",
    [("", ()), ("0.1", (0.1,)), (" 0.1, 0.01 ,0.1", (0.01, 0.1)), ("1", (1.0,))],
)
def test_label_fractions_parse_sorted_without_repeats(text, parsed):
    config = config_lib.default_config()
    config.eval.label_fractions = text
    config_lib.check_config(config)
    assert evaluator_settings.label_fractions(config.eval) == parsed


@pytest.mark.parametrize(
    "kind, units, width",
    [("dot", None, 2048), ("concat", None, 512), ("concat", 64, 64)],
)
def test_the_critic_width_is_the_papers_for_the_kind_unless_set(kind, units, width):
    config = config_lib.default_config()
    config.critic.kind, config.critic.units = kind, units
    assert models.local_critic_units(config.critic.kind, config.critic.units) == width
    assert config_lib.to_record(config)["critic"]["units"] == width


def test_the_paper_weights_per_mode_resolve_without_tensorflow():
    config = config_lib.default_config()
    weights = objective.resolve_weights(config.objective)
    assert (weights.alpha, weights.beta, weights.gamma) == (0.0, 1.0, 0.1)
    config.objective.mode = "local+global"
    config.objective.beta = 0.3
    weights = objective.resolve_weights(config.objective)
    assert (weights.alpha, weights.beta, weights.gamma) == (0.5, 0.3, 0.1)
    config.objective.prior = "none"
    assert objective.resolve_weights(config.objective).gamma == 0.0


def test_every_encoder_has_an_input_size_and_a_spec():
    from dim_tf.models import encoders

    assert set(encoders._SPECS) == set(models.ENCODERS)
    assert list(models.ENCODER_INPUT_SIZES) == list(models.ENCODERS)


def test_the_record_reads_back():
    config = config_lib.default_config()
    config.data.dataset = "digits"
    config.data.shuffle_buffer = 32
    record = config_lib.to_record(config)
    assert config_lib.to_record(config_lib.from_record(record)) == record


def test_a_record_s_unknown_fields_are_skipped():
    record = config_lib.to_record(config_lib.default_config())
    record["removed_field"] = 1
    record["critic"] = {**record["critic"], "gone": True}
    config = config_lib.from_record(record)
    assert "removed_field" not in config and "gone" not in config.critic


def test_a_run_resumes_with_any_eval_field_changed(tmp_path):
    config = config_lib.default_config()
    workdir.write_config(str(tmp_path), config_lib.to_record(config))
    config.eval.knn.k, config.eval.mi.examples, config.eval.epochs = 7, 5, 3
    workdir.check_same_run(str(tmp_path), config)
    config.y_dim = 4
    with pytest.raises(UserError, match="y_dim"):
        workdir.check_same_run(str(tmp_path), config)


@pytest.mark.parametrize(
    "recorded, new, resumes",
    [
        ("float32", "auto", True),
        ("auto", "mixed_bfloat16", True),
        ("mixed_bfloat16", "float32", True),
        # A loss-scaled optimizer holds other variables: neither way round.
        ("float32", "mixed_float16", False),
        ("mixed_float16", "auto", False),
        ("mixed_float16", "mixed_float16", True),
    ],
)
def test_a_run_resumes_in_another_precision_but_not_into_or_out_of_float16(
    tmp_path, recorded, new, resumes
):
    config = config_lib.default_config()
    config.train.precision = recorded
    workdir.write_config(str(tmp_path), config_lib.to_record(config))
    config.train.precision = new
    if resumes:
        workdir.check_same_run(str(tmp_path), config)
    else:
        with pytest.raises(
            UserError, match=f"train.precision: '{recorded}' -> '{new}'"
        ):
            workdir.check_same_run(str(tmp_path), config)
