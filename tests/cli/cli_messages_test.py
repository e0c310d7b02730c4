"""dim_tf.cli's messages for config overrides that name no field."""

import pytest

from dim_tf import cli
from dim_tf import config as config_lib
from dim_tf.cli import flag_parsing, none_overrides

ARGV = ["bin/train", "--config=configs/quickstart.py", "--config.train.seed=1"]


def _unknown(key, hint='Did you mean "steps" instead of "stepz"?'):
    """ml_collections' error for an unknown field, wrapped as it raises it."""
    return AttributeError(KeyError(f"'{key}'\n{hint}"))


def test_the_override_naming_the_field_is_blamed():
    argv = [*ARGV, "--config.train.stepz=3"]
    message = flag_parsing.unknown_field_message(_unknown("stepz"), argv)
    assert message == (
        "unknown config field 'stepz' in --config.train.stepz=3 "
        '(Did you mean "steps" instead of "stepz"?)'
    )


def test_a_field_is_matched_whole_not_as_a_substring():
    # 's' is inside "seed" and "configs/quickstart.py": neither is the culprit.
    argv = [*ARGV, "--config.train.s=3"]
    message = flag_parsing.unknown_field_message(_unknown("s", "no hint"), argv)
    assert message == "unknown config field 's' in --config.train.s=3 (no hint)"


def test_a_mistake_inside_the_config_file_is_not_blamed_on_a_flag():
    # get_config() itself used a missing field: no override names it.
    assert flag_parsing.unknown_field_message(_unknown("trian"), ARGV) is None
    assert flag_parsing.unknown_field_message(ValueError("bad"), ARGV) is None


def test_missing_required_flags_are_named_with_their_help():
    from absl import flags

    values = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "Run directory written by dim-train.", values)
    flags.DEFINE_string("config", None, "Config file, e.g. x.py.", values)
    flags.mark_flags_as_required(["config", "workdir"], flag_values=values)
    with pytest.raises(flags.IllegalFlagValueError) as err:
        values(["prog"])
    message = flag_parsing.missing_flags_message(err.value, values)
    assert message == (
        "--config is required: config file, e.g. x.py; "
        "--workdir is required: run directory written by dim-train"
    )
    assert flag_parsing.missing_flags_message(flags.Error("other"), values) is None


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
    kept, paths = none_overrides.split(argv)
    assert paths == ["train.max_minutes", "data.data_dir"]
    assert kept == [*ARGV, "--config.data.channels=3", "--config.augment.preset=none"]


def test_none_overrides_set_the_fields_or_name_the_unknown_one():
    config = config_lib.default_config()
    config.train.max_minutes = 5.0
    config.lock()
    assert none_overrides.apply(config, ["train.max_minutes"]) is None
    assert config.train.max_minutes is None
    config.train.max_minutes = 5.0
    message = none_overrides.apply(config, ["train.max_minutes", "train.max_minutez"])
    assert message == (
        "unknown config field 'train.max_minutez' in --config.train.max_minutez=None "
        "(see the config file for its fields)"
    )
    assert config.train.max_minutes == 5.0  # Nothing set when one is unknown.
    assert none_overrides.apply(config, ["trian.steps"]).startswith(
        "unknown config field 'trian.steps'"
    )
