"""The trained probes of an evaluation, kept in `DIR/probes/` for `dim_tf.export`.

A manifest (the step) and one Keras file per probe: a frozen probe's head
(its encoder is the checkpoint's) or a fine-tuned probe's whole classifier.
Replaced whole, so it never mixes two evaluations.
"""

import json
import os

import keras

from dim_tf import workdir as workdir_lib
from dim_tf.evaluators import FROZEN_KINDS
from dim_tf.evaluators.probes import heads

PROBES_DIR = "probes"
_MANIFEST = "manifest.json"


def save(workdir, step, rows, models):
    """Writes the probes of one evaluation, replacing any earlier ones.

    Args:
      workdir: the run directory.
      step: the training step the probes were trained on.
      rows: result rows `{"tap", "kind", "test_accuracy", ...}`, one per probe.
      models: `{(tap, kind): model}`: heads (features -> logits) or
        classifiers (images -> logits); rows without one are not kept.
    """
    staging = workdir_lib.staging_dir(workdir)
    try:
        entries = []
        for row in rows:
            model = models.get((row["tap"], row["kind"]))
            if model is None:
                continue
            file_name = f"{row['kind']}_{row['tap']}.keras"
            model.save(os.path.join(staging, file_name))
            head_only = row["kind"] in FROZEN_KINDS
            entries.append(dict(row, file=file_name, head_only=head_only))
        workdir_lib.write_json(
            os.path.join(staging, _MANIFEST), {"step": step, "probes": entries}
        )
        workdir_lib.replace_dir(staging, os.path.join(workdir, PROBES_DIR))
    finally:
        workdir_lib.recover(workdir)


def load(workdir, run):
    """The probes saved for the run's current step, as image classifiers.

    Args:
      workdir: the run directory.
      run: `dim_tf.training.runs.Run` at its latest checkpoint (its encoder completes
        the frozen probes).

    Returns:
      `{(tap, kind): model mapping model input [B, S, S, C] to logits [B, K]}`,
      or None when `DIR/probes/` is missing or holds probes of another step.
    """
    directory = os.path.join(workdir, PROBES_DIR)
    path = os.path.join(directory, _MANIFEST)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("step") != run.step:
        return None
    classifiers = {}
    for entry in manifest["probes"]:
        model = keras.saving.load_model(os.path.join(directory, entry["file"]))
        if entry["head_only"]:
            model = heads.finetune_classifier(run.encoder, entry["tap"], model)
        classifiers[(entry["tap"], entry["kind"])] = model
    return classifiers
