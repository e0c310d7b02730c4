"""bin/train as a user runs it: a subprocess, flags, exit codes, one-line errors."""

import sys

import pytest

from tests import processes

pytestmark = pytest.mark.slow

TINY = [
    "--config.encoder=basic28x28",
    "--config.y_dim=8",
    "--config.critic.units=16",
    "--config.train.batch_size=8",
    "--config.train.steps=3",
    "--config.train.log_every=1",
    "--config.train.steps_per_call=1",
]


def _train(*args, data_dir):
    return processes.run(
        [
            sys.executable,
            "bin/train",
            "--config=configs/quickstart.py",
            f"--config.data.data_dir={data_dir}",
            *args,
        ]
    )


@pytest.mark.parametrize(
    "args,fragments",
    [
        (
            ["--config.train.stepz=3"],
            ["unknown config field 'train.stepz'", "did you mean train.steps?"],
        ),
        (["--config.train.stepz=None"], ["unknown config field 'train.stepz'"]),
        (["--config.eval.knn.k=-1"], ["eval.knn.k must be an integer >= 1, got -1"]),
        (
            ["--config.eval.knn.kk=1"],
            [
                "unknown config field 'eval.knn.kk' in --config.eval.knn.kk",
                "did you mean eval.knn.k",
            ],
        ),
        (["--config.objective.estimator=mine"], ["jsd, nce, dv"]),
        (["--config.data.dataset=cifar11"], ["cifar11"]),
        (["--config.objective.views=2"], ["identical views", "augment.preset"]),
        ([], ["--workdir"]),
    ],
)
def test_bad_input_exits_with_one_line(data_dir, tmp_path, args, fragments):
    workdir = [] if not args else [f"--workdir={tmp_path / 'run'}"]
    result = _train(*TINY, *args, *workdir, data_dir=data_dir)
    processes.assert_one_line_error(result, *fragments)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["bin/train", "--workdir=RUN"], "--config is required: config file"),
        (["bin/evaluate"], "--workdir is required: run directory"),
        (["bin/benchmark"], "--config is required"),
    ],
)
def test_a_missing_required_flag_is_one_line(tmp_path, args, fragment):
    args = [arg.replace("RUN", str(tmp_path / "run")) for arg in args]
    result = processes.run([sys.executable, *args])
    processes.assert_one_line_error(result, fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args", [["bin/train", "--workdir=RUN"], ["bin/benchmark"]], ids=["train", "bench"]
)
def test_a_bad_config_value_fails_before_tensorflow_is_imported(tmp_path, args):
    # On PYTHONPATH a `tensorflow` that cannot be imported: the error must be
    # the config's, found before the entry point imports TensorFlow.
    result = processes.run(
        [
            sys.executable,
            *[arg.replace("RUN", str(tmp_path / "run")) for arg in args],
            "--config=configs/quickstart.py",
            "--config.objective.estimator=mine",
        ],
        PYTHONPATH=processes.without_tensorflow(tmp_path),
    )
    assert "tensorflow imported" not in result.stderr, result.stderr[-3000:]
    processes.assert_one_line_error(result, "unknown objective.estimator 'mine'")
    assert not (tmp_path / "run").exists()


def _run_without_site_packages(entry_point, *args, **env):
    """Runs `bin/ENTRY` with an interpreter that cannot import its dependencies."""
    return processes.run(
        [sys.executable, "-S", f"bin/{entry_point}", *args], timeout=120, **env
    )


@pytest.mark.parametrize("entry_point", ["train", "evaluate", "export", "benchmark"])
def test_entry_points_switch_to_the_repository_venv(entry_point):
    # `-S` hides site-packages, as a system python3 without the deps would.
    result = _run_without_site_packages(entry_point, "--helpshort")
    # absl's flag help (so absl was imported), which exits with status 1.
    assert "Try --helpfull" in result.stdout, result.stderr[-2000:]
    assert "--config" in result.stdout or "--workdir" in result.stdout
    assert "lacks dim_tf's dependencies" not in result.stderr


def test_entry_point_without_any_usable_venv_says_how_to_make_one():
    # DIM_TF_REEXEC marks the venv as already tried, as after a failed switch.
    result = _run_without_site_packages("train", "--helpshort", DIM_TF_REEXEC="1")
    processes.assert_one_line_error(result, "requirements.txt", ".venv")
    assert result.returncode == 2


def test_a_missing_config_file_is_one_line(tmp_path):
    result = processes.run(
        [sys.executable, "bin/train", f"--config={tmp_path}/nope.py", "--workdir=RUN"]
    )
    processes.assert_one_line_error(result, "the --config file cannot be loaded")
    assert "nope.py" in result.stderr


def test_a_field_outside_its_section_is_an_unknown_field(tmp_path):
    # `dataset` lives in `data`: no other name sets it.
    result = processes.run(
        [
            sys.executable,
            "bin/train",
            "--config=configs/quickstart.py",
            f"--workdir={tmp_path / 'run'}",
            "--config.dataset=digits",
        ]
    )
    processes.assert_one_line_error(
        result,
        "unknown config field 'dataset' in --config.dataset=digits (did you mean data?)",
    )
    assert len(result.stderr.strip().splitlines()) == 1  # Nothing else.
    assert not (tmp_path / "run").exists()


def test_a_field_can_be_set_to_none(tmp_path):
    # A float field takes None (no time limit); the run then stops at the
    # next check, the bad estimator, before any training.
    result = processes.run(
        [
            sys.executable,
            "bin/train",
            "--config=configs/quickstart.py",
            f"--workdir={tmp_path / 'run'}",
            "--config.train.max_minutes=None",
            "--config.objective.estimator=mine",
        ]
    )
    processes.assert_one_line_error(result, "unknown objective.estimator 'mine'")


def test_a_config_file_that_sets_a_missing_field_fails_to_load(tmp_path):
    config_file = tmp_path / "typo.py"
    config_file.write_text(
        "from dim_tf.config import default_config\n\n\n"
        "def get_config():\n"
        "    config = default_config()\n"
        "    config.eval.knn.kk = 3\n"
        "    return config\n"
    )
    result = processes.run(
        [
            sys.executable,
            "bin/train",
            f"--config={config_file}",
            f"--workdir={tmp_path / 'run'}",
        ]
    )
    processes.assert_one_line_error(
        result, "the config cannot be loaded", '"kk" does not exist'
    )
    assert not (tmp_path / "run").exists()
