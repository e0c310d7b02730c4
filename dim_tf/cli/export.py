"""dim-export (bin/export): writes SavedModels (and other formats) of a trained run.

    dim-export --workdir=DIR [--formats=saved_model,keras,onnx,litert|all]
        [--litert_quantize=none|float16|dynamic_int8]

DIR/export/encoder and DIR/export/probe_{kind}_{tap} (SavedModels, see
dim_tf/export.py for the signatures) and, with --formats, NAME.keras,
NAME.onnx and NAME.tflite beside each, from DIR's latest checkpoint and the
probes dim-evaluate trained for it (evaluating first when there are none).
Each file is checked against its SavedModel on test images (docs/deploy.md).
Records the paths in DIR/results.json. A crash or a failed check leaves the
previous export intact.
"""

from absl import flags

from dim_tf import cli, exporting
from dim_tf.errors import UserError

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory written by dim-train or bin/train."
)
_FORMATS = flags.DEFINE_string(
    "formats",
    exporting.SAVED_MODEL,
    f"Comma-separated formats from {', '.join(exporting.FORMATS)}, or all; the "
    "SavedModels are always written (the other files are checked against them).",
)
_LITERT_QUANTIZE = flags.DEFINE_enum(
    "litert_quantize",
    "none",
    exporting.LITERT_QUANTIZATIONS,
    "The .tflite files' weights: float32 (none), float16, or int8 with "
    "activations quantised at run time (dynamic_int8).",
)


def _export(argv):
    cli.reject_extra_arguments(argv)
    # Before TensorFlow starts: a bad name or a missing package costs nothing.
    formats = exporting.parse_formats(_FORMATS.value)
    if _LITERT_QUANTIZE.value != "none" and exporting.LITERT not in formats:
        raise UserError(
            f"--litert_quantize={_LITERT_QUANTIZE.value} quantises .tflite files: "
            "add litert to --formats"
        )
    exporting.check_packages(formats)
    cli.start_tensorflow()
    from dim_tf.export import export_run

    results = export_run(
        _WORKDIR.value, formats, _LITERT_QUANTIZE.value, log=cli.progress
    )
    print(f"Exports of step {results['step']} in {_WORKDIR.value}:")
    print(f"  encoder{'':17}{', '.join(results['encoder_exports'].values())}")
    # kNN, SVM and decoder rows have no classifier, hence no export.
    for probe in (p for p in results["probes"] if p["export"]):
        name = f"{probe['kind']} {probe['tap']}"
        accuracy = f"test accuracy {100 * probe['test_accuracy']:.2f}%"
        print(f"  {name:24}{', '.join(probe['exports'].values())}  ({accuracy})")


def main():
    """The console script: parses sys.argv, exports, exits (2 on a user's mistake)."""
    cli.run(_export, flags.FLAGS, required=["workdir"])


if __name__ == "__main__":
    main()
