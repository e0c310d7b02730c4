"""Evaluator `linear` / `mlp`: probes trained on frozen features of each tap.

Rows (results.json `probes`, or `random_encoder/probes` for the baseline):
`{"tap", "kind", "test_accuracy", "train_accuracy"}`; scalars
`probe/{kind}_{tap}` (`random/probe/{kind}_{tap}`): test accuracy.
"""

from dim_tf.evaluators import probes
from dim_tf.evaluators.features import Need
from dim_tf.evaluators.results import Result


class Evaluator:
    """Trains one `kind` probe per tap on the features of encoder `source`.

    Args:
      kind: "linear" or "mlp".
      eval_config: the `config.eval` section (epochs, batch_size,
        learning_rate, seed).
      taps: tuple of taps.
      source: "trained" or "random".
    """

    def __init__(self, kind, eval_config, taps, source="trained"):
        self.name = self.kind = kind
        self.eval_config, self.taps, self.source = eval_config, taps, source
        self.needs = (Need(source, taps),)

    def run(self, step):
        """Yields one `Result` per tap (its `model` is the trained head).

        Args:
          step: `dim_tf.evaluators.evaluation.Step` (features, classes, log).
        """
        train, test = step.features.get(self.source)
        prefix, section = (
            ("", "probes")
            if self.source == "trained"
            else ("random/", "random_encoder/probes")
        )
        for tap in self.taps:
            head = probes.train_frozen_probe(
                self.kind,
                (train.taps[tap], train.labels),
                step.num_classes,
                self.eval_config,
                self.eval_config.seed,
            )
            accuracy = probes.accuracy(head, test.taps[tap], test.labels)
            row = {
                "tap": tap,
                "kind": self.kind,
                "test_accuracy": accuracy,
                "train_accuracy": probes.accuracy(head, train.taps[tap], train.labels),
            }
            yield Result(
                f"{prefix}probe/{self.kind}_{tap}", accuracy, section, row, head
            )
