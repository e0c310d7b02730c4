"""dim_tf.cli's own checks of flags and config overrides, in process."""

import textwrap

import pytest
from absl import flags
from ml_collections import config_flags

from dim_tf import cli
from dim_tf import config as config_lib
from dim_tf.cli import flag_parsing, overrides

ARGV = ["bin/train", "--config=configs/quickstart.py", "--config.train.seed=1"]

CONFIG_FILE = """
from ml_collections import ConfigDict

def get_config():
    return ConfigDict({
        "train": {"steps": 5, "max_minutes": 2.0, "name": "a"},
        "eval": {"knn": {"k": 3, "metric": "cosine"}},
    })
"""


def _unknown(*args):
    return overrides.unknown_field_message(config_lib.default_config(), [*ARGV, *args])


def test_an_unknown_field_is_named_with_the_closest_fields():
    assert _unknown("--config.train.stepz=3") == (
        "unknown config field 'train.stepz' in --config.train.stepz=3 "
        "(did you mean train.steps?)"
    )
    assert _unknown("--config.trian.steps=3") == (
        "unknown config field 'trian.steps' in --config.trian.steps=3 "
        "(did you mean train?)"
    )


def test_an_unknown_field_without_a_close_one_lists_its_sections_fields():
    message = _unknown("--config.train.qqqqq", "3")
    assert message.startswith(
        "unknown config field 'train.qqqqq' in --config.train.qqqqq "
        "(the fields of train: batch_size, "
    )
    assert " steps, " in message
    assert _unknown("--config.zzzz=1").startswith(
        "unknown config field 'zzzz' in --config.zzzz=1 (the config's fields: "
    )


def test_fields_of_a_value_and_known_fields_are_told_apart():
    assert _unknown("--config.train.steps.x=1") == (
        "unknown config field 'train.steps.x' in --config.train.steps.x=1 "
        "(train.steps is a value, not a section)"
    )
    # 's' is inside "seed" and "configs/quickstart.py": neither is unknown.
    assert _unknown() is None
    assert _unknown("--config.train.s=3").startswith("unknown config field 'train.s'")


def test_missing_required_flags_are_named_with_their_help():
    values = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "Run directory written by dim-train.", values)
    flags.DEFINE_string("config", None, "Config file, e.g. x.py.", values)
    values(["prog"])
    message = flag_parsing.missing_flags_message(values, ["config", "workdir"])
    assert message == (
        "--config is required: config file, e.g. x.py; "
        "--workdir is required: run directory written by dim-train"
    )
    values(["prog", "--config=c.py", "--workdir=w"])
    assert flag_parsing.missing_flags_message(values, ["config", "workdir"]) is None


def _parse(tmp_path, *args, config_file=CONFIG_FILE):
    """`parse_flags` of a fresh `--config` and `--workdir` (required)."""
    path = tmp_path / "c.py"
    path.write_text(textwrap.dedent(config_file))
    values = flags.FlagValues()
    config = config_flags.DEFINE_config_file("config", None, "c", values)
    flags.DEFINE_string("workdir", None, "w", values)
    argv = ["prog", f"--config={path}", "--workdir=w", *args]
    flag_parsing.parse_flags(argv, values, required=["config", "workdir"])
    return config.value


def _failure(capsys, tmp_path, *args, **kwargs):
    with pytest.raises(SystemExit) as exit_info:
        _parse(tmp_path, *args, **kwargs)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_overrides_are_applied_at_any_depth_and_none_is_set(tmp_path):
    config = _parse(
        tmp_path,
        "--config.eval.knn.k=7",
        "--config.train.max_minutes=None",
        "--config.train.name",
        "b",
    )
    assert (config.eval.knn.k, config.train.max_minutes, config.train.name) == (
        7,
        None,
        "b",
    )
    assert config.train.steps == 5


def test_an_unknown_nested_field_fails_before_the_overrides_apply(capsys, tmp_path):
    err = _failure(capsys, tmp_path, "--config.eval.knn.kk=7", "--config.train.steps=x")
    assert err == (
        "error: unknown config field 'eval.knn.kk' in --config.eval.knn.kk=7 "
        "(did you mean eval.knn.k?)\n"
    )
    err = _failure(capsys, tmp_path, "--config.train.stepz=None")
    assert err == (
        "error: unknown config field 'train.stepz' in --config.train.stepz=None "
        "(did you mean train.steps?)\n"
    )


def test_other_library_errors_are_one_line(capsys, tmp_path):
    err = _failure(capsys, tmp_path, "--config.train.steps=x")
    assert err.startswith("error: flag --config.train.steps=x: ")
    assert err.count("\n") == 1
    broken = CONFIG_FILE.replace("return", "ConfigDict().trian\n    return")
    err = _failure(capsys, tmp_path, config_file=broken)
    assert err.startswith("error: the config cannot be loaded: ")
    assert err.count("\n") == 1


def test_a_missing_required_flag_fails_before_the_overrides(capsys, tmp_path):
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "Config file.", values)
    with pytest.raises(SystemExit):
        flag_parsing.parse_flags(
            ["prog", "--config.train.steps=1"], values, required=["config"]
        )
    assert capsys.readouterr().err == "error: --config is required: config file\n"
    with pytest.raises(SystemExit):  # bin/benchmark --workdir takes no --config.
        flag_parsing.parse_flags(["prog", "--config.train.steps=1"], values)
    assert capsys.readouterr().err == (
        "error: --config.train.steps=1 needs a --config file\n"
    )


def test_hints_name_the_command_the_user_ran(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/venv/bin/dim-evaluate", "--workdir=x"])
    assert cli.command("export") == "dim-export"
    monkeypatch.setattr("sys.argv", ["bin/evaluate", "--workdir=x"])
    assert cli.command("export") == "bin/export"


def test_none_overrides_are_taken_out_of_argv_and_the_last_override_wins():
    argv = [
        *ARGV,
        "--config.train.max_minutes=None",
        "--config.data.data_dir=None",
        "--config.data.channels=None",
        "--config.data.channels=3",
        "--config.augment.preset=none",  # A string value, not None.
    ]
    kept, paths = overrides.split(argv)
    assert paths == ["train.max_minutes", "data.data_dir"]
    assert kept == [*ARGV, "--config.data.channels=3", "--config.augment.preset=none"]
