"""Fine-tuning at large images: batches bounded in pixels, the image cache in size."""

import types

import numpy as np
import tensorflow as tf

from dim_tf.evaluators import features as features_lib
from dim_tf.evaluators.probes import finetune, heads
from dim_tf.evaluators.settings import defaults


def _examples(size, count=4):
    images = np.zeros((count, size, size, 3), np.float32)
    return tf.data.Dataset.from_tensor_slices((images, np.zeros(count, np.int32)))


def test_batches_hold_a_bounded_number_of_pixels():
    assert heads.finetune_batch(256, 50_000, _examples(224)) == 20
    # Up to 64x64 images, eval.batch_size as given (the paper's sizes).
    for size in (28, 32, 64):
        assert heads.finetune_batch(256, 50_000, _examples(size)) == 256
    assert heads.finetune_batch(256, 100, _examples(32)) == 100


def test_the_training_images_are_cached_only_when_they_fit(monkeypatch):
    def cached(size, count):
        monkeypatch.setattr(
            features_lib, "eval_dataset", lambda run, split: _examples(size).batch(2)
        )
        run = types.SimpleNamespace(
            config=types.SimpleNamespace(data=types.SimpleNamespace(cache=True)),
            eval_train_split="train",
        )
        images = finetune._train_images(run, defaults(), count=count)
        return "Cache" in type(images).__name__

    assert cached(64, 50_000)
    assert not cached(224, 50_000)
    assert cached(224, 5_000)


def test_a_label_subset_takes_the_full_probes_steps_at_its_bounded_batch():
    eval_config = defaults()
    epochs = finetune.subset_epochs(eval_config, 50_000, 500, _examples(224))
    # Batches of 20 224-pixel images: 25 steps per subset epoch, 2,500 per full one.
    assert epochs * (500 // 20) == eval_config.finetune.epochs * (50_000 // 20)
