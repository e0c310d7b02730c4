"""One input pipeline's share of a TFDS split, in a fixed order."""

import tensorflow as tf
import tensorflow_datasets as tfds

from dim_tf.errors import UserError
from dim_tf.input import sources


def read(builder, split, keys, input_context=None, interleave_files=False):
    """Examples of `split` in a fixed order, this pipeline's share only.

    Only the features `keys` are decoded (and returned). The order is the
    files' order, or with `interleave_files` one example of each file in turn
    (still fixed: a deterministic interleave).

    Whole files go to each input pipeline when the split has enough of them;
    otherwise every pipeline reads all files and keeps every n-th example.
    """
    split_info = sources.split_info(builder.info, split)
    if split_info is not None and not split_info.num_examples:
        raise UserError(f"split {split!r} has no examples; choose a non-empty split")
    files = list(split_info.file_instructions) if split_info is not None else []
    pipelines = input_context.num_input_pipelines if input_context else 1
    # Caching is `data.cache`'s decision, not TFDS's.
    options = {"try_autocache": False}
    if interleave_files and len(files) > 1:
        options.update(interleave_cycle_length=len(files), interleave_block_length=1)
    if pipelines > 1 and len(files) >= pipelines:
        options["input_context"] = input_context
    read_config = tfds.ReadConfig(**options)
    ds = builder.as_dataset(
        split=split,
        shuffle_files=False,
        read_config=read_config,
        decoders=tfds.decode.PartialDecoding({key: True for key in keys}),
    )
    if read_config.input_context is not None:
        # TFDS gives pipeline i the files i, i + n, ...; it drops the count.
        mine = files[input_context.input_pipeline_id :: pipelines]
        return ds.apply(
            tf.data.experimental.assert_cardinality(sum(f.take for f in mine))
        )
    if pipelines > 1:
        ds = ds.shard(pipelines, input_context.input_pipeline_id)
    return ds
