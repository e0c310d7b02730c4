"""dim_tf.cli's messages for config overrides that name no field."""

import pytest

from dim_tf import cli

ARGV = ["bin/train", "--config=configs/quickstart.py", "--config.train.seed=1"]


def _unknown(key, hint='Did you mean "steps" instead of "stepz"?'):
    """ml_collections' error for an unknown field, wrapped as it raises it."""
    return AttributeError(KeyError(f"'{key}'\n{hint}"))


def test_the_override_naming_the_field_is_blamed():
    argv = [*ARGV, "--config.train.stepz=3"]
    message = cli._unknown_field_message(_unknown("stepz"), argv)
    assert message == (
        "unknown config field 'stepz' in --config.train.stepz=3 "
        '(Did you mean "steps" instead of "stepz"?)'
    )


def test_a_field_is_matched_whole_not_as_a_substring():
    # 's' is inside "seed" and "configs/quickstart.py": neither is the culprit.
    argv = [*ARGV, "--config.train.s=3"]
    message = cli._unknown_field_message(_unknown("s", "no hint"), argv)
    assert message == "unknown config field 's' in --config.train.s=3 (no hint)"


def test_a_mistake_inside_the_config_file_is_not_blamed_on_a_flag():
    # get_config() itself used a missing field: no override names it.
    assert cli._unknown_field_message(_unknown("trian"), ARGV) is None
    assert cli._unknown_field_message(ValueError("bad"), ARGV) is None


def test_missing_required_flags_are_named_with_their_help():
    from absl import flags

    values = flags.FlagValues()
    flags.DEFINE_string("workdir", None, "Run directory written by dim-train.", values)
    flags.DEFINE_string("config", None, "Config file, e.g. x.py.", values)
    flags.mark_flags_as_required(["config", "workdir"], flag_values=values)
    with pytest.raises(flags.IllegalFlagValueError) as err:
        values(["prog"])
    message = cli._missing_flags_message(err.value, values)
    assert message == (
        "--config is required: config file, e.g. x.py; "
        "--workdir is required: run directory written by dim-train"
    )
    assert cli._missing_flags_message(flags.Error("other"), values) is None


def test_hints_name_the_command_the_user_ran(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/venv/bin/dim-evaluate", "--workdir=x"])
    assert cli.command("export") == "dim-export"
    monkeypatch.setattr("sys.argv", ["bin/evaluate", "--workdir=x"])
    assert cli.command("export") == "bin/export"
