"""dim-export (bin/export): writes SavedModels of a trained run.

    dim-export --workdir=DIR

DIR/export/encoder and DIR/export/probe_{kind}_{tap} (see dim_tf/export.py
for the signatures), from DIR's latest checkpoint and the probes dim-evaluate
trained for it (evaluating first when there are none). Records the paths in
DIR/results.json. A crash mid-export leaves the previous export intact.
"""

from absl import flags

from dim_tf import cli

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory written by dim-train or bin/train."
)


def _export(argv):
    cli.reject_extra_arguments(argv)
    cli.start_tensorflow()
    from dim_tf.export import export_run

    results = export_run(_WORKDIR.value, log=cli.progress)
    print(f"SavedModels of step {results['step']} in {_WORKDIR.value}:")
    print(f"  encoder{'':17}{results['encoder_export']}")
    # kNN, SVM and decoder rows have no classifier, hence no SavedModel.
    for probe in (p for p in results["probes"] if p["export"]):
        name = f"{probe['kind']} {probe['tap']}"
        accuracy = f"test accuracy {100 * probe['test_accuracy']:.2f}%"
        print(f"  {name:24}{probe['export']}  ({accuracy})")


def main():
    """The console script: parses sys.argv, exports, exits (2 on a user's mistake)."""
    cli.run(_export, flags.FLAGS, required=["workdir"])


if __name__ == "__main__":
    main()
