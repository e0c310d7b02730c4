"""Evaluator `linear` / `mlp`: probes trained on frozen features of each tap.

Rows (results.json `probes`, or `random_encoder/probes` for the baseline):
`{"tap", "kind", "test_accuracy", "train_accuracy"}`; scalars
`probe/{kind}_{tap}` (`random/probe/{kind}_{tap}`): test accuracy.
"""

from dim_tf.evaluators.base import Result
from dim_tf.evaluators.features import TapEvaluator
from dim_tf.evaluators.probes import heads

# Whether it needs labeled data (the probes train on labels); on a dataset without labels only
# the evaluators with False run.
NEEDS_LABELS = True


class Evaluator(TapEvaluator):
    """Trains one `linear` or `mlp` probe per tap on the features of encoder `source`.

    Args: see `features.TapEvaluator` (`eval_config`: epochs, batch_size,
    learning_rate, seed).
    """

    side_by_side = True  # The taps' probes train concurrently.

    def run(self, step):
        """Yields one `Result` per tap (its `model` is the trained head).

        Args:
          step: `dim_tf.evaluators.evaluation.Step` (features, classes,
            probe pool).
        """
        yield from self.start(step)

    def start(self, step):
        """Queues the taps' probes in `step.probe_pool`; returns `run`'s iterator.

        The probes train side by side in the background, behind any queued
        before them; each tap's `Result` is made once its probe is trained.
        """
        train, test = step.features.get(self.source)
        trained = step.probe_pool.submit(
            self.name,
            [((train.taps[tap], train.labels), self.eval_config) for tap in self.taps],
            step.num_classes,
            self.eval_config.seed,
        )
        return self._results(trained, train, test)

    def _results(self, trained, train, test):
        for tap, head in zip(self.taps, trained):
            accuracy = heads.accuracy(head, test.taps[tap], test.labels)
            row = {
                "tap": tap,
                "kind": self.name,
                "test_accuracy": accuracy,
                "train_accuracy": heads.accuracy(head, train.taps[tap], train.labels),
            }
            yield Result(
                self.tag(f"probe/{self.name}_{tap}"),
                accuracy,
                self.section("probes"),
                row,
                head,
            )
