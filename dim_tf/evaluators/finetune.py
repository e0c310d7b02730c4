"""Evaluator `finetune`: the paper's "SS" probe, trained with the encoder.

Each tap's `mlp` head is trained together with a copy of the encoder on the
images of `config.data.eval_train_split` (the same first
`eval.max_train_examples` the frozen features come from), then measured on
`config.data.eval_split`. Rows (results.json `probes`):
`{"tap", "kind": "finetune", "test_accuracy"}`; scalars `probe/finetune_{tap}`.
"""

from dim_tf.evaluators import features as features_lib
from dim_tf.evaluators import probes
from dim_tf.evaluators.features import Need
from dim_tf.evaluators.results import Result


class Evaluator:
    """Fine-tunes one classifier per tap (only the "trained" source).

    Args:
      kind: "finetune".
      eval_config: the `config.eval` section (batch_size, finetune_epochs,
        finetune_learning_rate, seed, max_train_examples).
      taps: tuple of taps.
      source: "trained".
    """

    def __init__(self, kind, eval_config, taps, source="trained"):
        if source != "trained":
            raise ValueError("fine-tuned probes start from the trained encoder")
        self.name = self.kind = kind
        self.eval_config, self.taps, self.source = eval_config, taps, source
        # The frozen features set each head's input normalisation.
        self.needs = (Need(source, taps),)

    def run(self, step):
        """Yields one `Result` per tap (its `model`: images -> logits)."""
        run, eval_config = step.run, self.eval_config
        data = run.config.data
        train, _ = step.features.get(self.source)
        images = features_lib.eval_dataset(run, data.eval_train_split).unbatch()
        limit = eval_config.max_train_examples  # 0 = all.
        if limit:
            images = images.take(limit)
        if data.cache:
            images = images.cache()
        test_images = features_lib.eval_dataset(run, data.eval_split)
        for tap in self.taps:
            classifier = probes.train_finetune_probe(
                run.encoder_copy(),
                tap,
                train.taps[tap],
                images,
                step.num_classes,
                eval_config,
                eval_config.seed,
            )
            accuracy = probes.dataset_accuracy(classifier, test_images)
            row = {"tap": tap, "kind": self.kind, "test_accuracy": accuracy}
            yield Result(f"probe/finetune_{tap}", accuracy, "probes", row, classifier)
