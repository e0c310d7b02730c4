"""Evaluator `svm`: linear SVMs on frozen features of each tap (the paper's extended table).

scikit-learn's `LinearSVC` on standardised features of a stratified sample
of about `eval.svm.max_examples` (liblinear runs on one core), C from
`eval.svm.cs` chosen on a held-out fifth, then refitted on all of them.

Rows (results.json `probes`, or `random_encoder/probes`): `{"tap", "kind":
"svm", "test_accuracy", "train_accuracy", "C", "num_train_examples"}`;
scalars `probe/svm_{tap}`. No model to export.
"""

import contextlib
import warnings

import numpy as np
from sklearn import exceptions, pipeline, preprocessing, svm

from dim_tf.evaluators import base, settings
from dim_tf.evaluators.base import Result
from dim_tf.evaluators.probes import label_subsets

_HELD_OUT = 0.2  # Share of the training examples that choose C.
# liblinear's own tolerance and a cap on passes: tighter cost time, not
# accuracy (docs/benchmarks.md).
_TOLERANCE = 0.1
_MAX_ITERATIONS = 30


def fit_svm(features, labels, c, seed):
    """A `LinearSVC` with penalty `c` on standardised `features [N, D]`, `labels [N]`.

    Seeded: the solver stops after `_MAX_ITERATIONS` passes, so the order it
    visits the examples in changes the result.
    """
    model = pipeline.make_pipeline(
        preprocessing.StandardScaler(),
        svm.LinearSVC(
            C=c,
            dual="auto",
            tol=_TOLERANCE,
            max_iter=_MAX_ITERATIONS,
            random_state=seed,
        ),
    )
    return model.fit(features, labels)


@contextlib.contextmanager
def _iteration_cap_accepted():
    """Silences liblinear's warning that it stopped at `_MAX_ITERATIONS`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        yield


def fit_candidates(features, labels, cs, seed):
    """`fit_svm` with each C of `cs`, one after another: a list of models.

    Not in threads: liblinear's random generator is one per process, so
    concurrent fits would change each other's order.
    """
    with _iteration_cap_accepted():
        return [fit_svm(features, labels, c, seed) for c in cs]


def choose_c(features, labels, cs, num_classes, seed):
    """The C of `cs` whose SVM is most accurate on a stratified held-out fifth.

    Args:
      features: float `[N, D]`.
      labels: int `[N]`.
      cs: candidate C values, ascending; ties go to the smallest.
      num_classes: K.
      seed: draws the held-out examples.

    Returns:
      `(best C, {C: held-out accuracy})`; the first C and `{}` when there is
      one C or no held-out example.
    """
    held_out = label_subsets.stratified_rows(
        labels, num_classes, fraction=_HELD_OUT, seed=seed, minimum=0
    )
    if len(cs) == 1 or not len(held_out):
        return cs[0], {}
    fit_rows = np.setdiff1d(np.arange(len(labels)), held_out)
    models = fit_candidates(features[fit_rows], labels[fit_rows], cs, seed)
    scores = {
        c: float(model.score(features[held_out], labels[held_out]))
        for c, model in zip(cs, models)
    }
    return max(cs, key=lambda c: (scores[c], -c)), scores


class Evaluator(base.Evaluator):
    """Linear SVMs on each tap (`eval.svm.cs`, `svm.max_examples`, `seed`)."""

    def run(self, step):
        eval_config = self.eval_config
        train, test = step.features.get(self.source)
        rows = np.arange(len(train.labels))
        limit = eval_config.svm.max_examples
        if limit and len(rows) > limit:
            rows = label_subsets.stratified_rows(
                train.labels,
                step.num_classes,
                fraction=limit / len(rows),
                seed=eval_config.seed,
            )
        labels = train.labels[rows]
        cs = settings.svm_c_values(eval_config.svm)
        if self.source == "trained":
            step.log(
                f"Linear SVMs on {len(rows)} examples, C in "
                f"{', '.join(f'{c:g}' for c in cs)}: {', '.join(self.taps)}"
            )
        for tap in self.taps:
            features = train.taps[tap][rows]
            c, _ = choose_c(features, labels, cs, step.num_classes, eval_config.seed)
            with _iteration_cap_accepted():
                model = fit_svm(features, labels, c, eval_config.seed)
            accuracy = float(model.score(test.taps[tap], test.labels))
            row = {
                "tap": tap,
                "kind": "svm",
                "test_accuracy": accuracy,
                "train_accuracy": float(model.score(features, labels)),
                "C": c,
                "num_train_examples": int(len(rows)),
            }
            yield Result(
                self.tag(f"probe/svm_{tap}"), accuracy, self.section("probes"), row
            )
