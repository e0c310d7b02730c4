"""Evaluator `svm`: linear SVMs on frozen features of each tap.

The paper's extended CIFAR10 table reports linear SVMs on `conv`, `fc` and
`y`. Each is scikit-learn's `LinearSVC` (one-vs-rest, squared hinge, L2) on
standardised features. C is chosen from `eval.svm.cs` by the accuracy on a
held-out fifth of the training examples (stratified, drawn with
`eval.seed`), then the SVM is refitted on all of them with that C.

liblinear runs on one core and its cost grows with examples x dimensions,
so the SVMs train on a stratified sample of about `eval.svm.max_examples` (default
1,000) of the probes' training features (0 = all); `num_train_examples` in
the row says how many.

Rows (results.json `probes`, or `random_encoder/probes`): `{"tap", "kind":
"svm", "test_accuracy", "train_accuracy", "C", "num_train_examples"}`;
scalars `probe/svm_{tap}`. No SavedModel is exported for an SVM.
"""

import contextlib
import warnings

import numpy as np
from sklearn import exceptions, pipeline, preprocessing, svm

from dim_tf.evaluators import label_subsets, settings
from dim_tf.evaluators.features import TapEvaluator
from dim_tf.evaluators.results import Result

# Whether it needs labeled data; on a dataset without labels only the
# evaluators with False run.
NEEDS_LABELS = True

_HELD_OUT = 0.2  # Share of the training examples that choose C.
# liblinear's own stopping tolerance for its dual solver, looser than
# scikit-learn's 1e-4: tighter ones cost passes, not test accuracy
# (docs/benchmarks.md).
_TOLERANCE = 0.1
# Passes over the data: fewer than the tolerance would take, at little cost
# in test accuracy (docs/benchmarks.md).
_MAX_ITERATIONS = 30


def fit_svm(features, labels, c, seed):
    """A `LinearSVC` with penalty `c` on standardised `features [N, D]`, `labels [N]`.

    `dual="auto"`: liblinear's dual solver when there are fewer examples than
    dimensions, else its primal one, whichever is faster. It stops after
    `_MAX_ITERATIONS` passes (with a `ConvergenceWarning` unless
    `_iteration_cap_accepted`), so the order in which the dual solver visits
    the examples, drawn with `seed`, matters: unseeded, two evaluations of the
    same features differed (conv 0.83 / 0.8291).
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

    Not in parallel threads, although liblinear would let them: its random
    generator, which orders the dual solver's passes, is one per process,
    so fits side by side draw from the same stream, each changes the
    others' order, and the same evaluation gave different accuracies (conv
    0.8301 / 0.8295 / 0.8283).
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


class Evaluator(TapEvaluator):
    """Linear SVMs on each tap of the features of encoder `source`.

    Args: see `features.TapEvaluator` (`eval_config`: svm, seed).
    """

    def run(self, step):
        """Yields one `Result` per tap (no model)."""
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
