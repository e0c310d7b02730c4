"""dim-evaluate (bin/evaluate): measures a trained run.

    dim-evaluate --workdir=DIR [--taps=conv,fc,y] [--kinds=linear,mlp,finetune,knn,svm,decoder]

Restores DIR's latest checkpoint, trains the probes on each tap, measures a
random encoder's linear (and kNN) probes, MINE and NDM, writes TensorBoard views to
DIR/eval and everything to DIR/results.json, and prints the probe table on
stdout (progress lines go to stderr). Settings come from the run's config
(`eval` section); the flags override some of them.
"""

from absl import flags

from dim_tf import cli

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Run directory written by dim-train or bin/train."
)
_TAPS = flags.DEFINE_string(
    "taps", None, "Comma-separated taps to probe: conv, fc, y (default: config's)."
)
_KINDS = flags.DEFINE_string(
    "kinds",
    None,
    "Comma-separated probe kinds: linear, mlp, finetune, knn, svm, decoder, or a "
    "plug-in evaluator's dotted module path (default: config's).",
)
_RANDOM = flags.DEFINE_bool(
    "random_baseline", None, "Also probe a random encoder (default: config's)."
)


def _evaluate(argv):
    cli.reject_extra_arguments(argv)
    cli.start_tensorflow()
    # Imported after the quiet start, which must come before TensorFlow's.
    from dim_tf.evaluators.evaluation import evaluate, use_cores_for
    from dim_tf.evaluators.report import format_table

    use_cores_for(_WORKDIR.value, _KINDS.value)
    results = evaluate(
        _WORKDIR.value,
        taps=_TAPS.value,
        kinds=_KINDS.value,
        random_baseline=_RANDOM.value,
        log=cli.progress,
    )
    print(format_table(results, _WORKDIR.value))
    print(f"SavedModels: {cli.command('export')} --workdir={_WORKDIR.value}")


def main():
    """The console script: parses sys.argv, evaluates, exits (2 on a user's mistake)."""
    cli.run(_evaluate, flags.FLAGS, required=["workdir"])


if __name__ == "__main__":
    main()
