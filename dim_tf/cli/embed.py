"""dim-embed (bin/embed): vectors of your images from a trained encoder.

    dim-embed --workdir=DIR --images=PATH --out=FILE [--taps=y,fc,conv]
    dim-embed --encoder=DIR/export/encoder --images=PATH --out=FILE

Embeds every image under PATH (recursive, sorted; PATH may be one image
file) with the run's latest checkpoint or with an exported encoder
SavedModel, each image decoded and transformed as the run's evaluation
images. Writes FILE.npy (float32 [N, D], Y; row i is the image on line i of
FILE.tsv), FILE.tsv (file names relative to PATH) and FILE.TAP.npy for the
other taps (conv averaged over its spatial grid), or with --format=tfrecord
one FILE.tfrecord of tf.train.Examples (name, one float list per tap).
Files that cannot be decoded are skipped and named on stderr. Existing
outputs are kept unless --overwrite; each file appears whole or not at all.

Vectors go to FILE.partial/ as they are computed (memory holds a batch);
rerunning an interrupted command resumes from its last complete chunk, and
--overwrite, another encoder, other taps or other images start afresh.
"""

import signal
import time

from absl import flags

from dim_tf import cli, embeddings
from dim_tf.cli import encoder_flags
from dim_tf.embeddings import partial
from dim_tf.errors import Interrupted

_ENCODER = encoder_flags.define()
flags.adopt_module_key_flags(encoder_flags)
_IMAGES = flags.DEFINE_string(
    "images", None, "A folder of images (searched recursively) or one image file."
)
_OUT = flags.DEFINE_string(
    "out", None, "Output name FILE: writes FILE.npy and FILE.tsv (or FILE.tfrecord)."
)
_TAPS = flags.DEFINE_string(
    "taps", "y", "Comma-separated taps: y, fc, conv (averaged over its grid)."
)
_FORMAT = flags.DEFINE_enum(
    "format", "npy", embeddings.FORMATS, "npy (+ tsv of names) or tfrecord."
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace existing output files.")


def _embed(argv):
    # The checks that need no TensorFlow come first, so that they are quick.
    _ENCODER.start_command(argv, _IMAGES.value)
    taps = embeddings.parse_taps(_TAPS.value)
    outputs = embeddings.output_paths(_OUT.value, taps, _FORMAT.value)
    embeddings.check_outputs(outputs, _OVERWRITE.value)
    cli.start_tensorflow()
    from dim_tf.embeddings import encoders

    progress = cli.CountProgress("images")
    start = time.monotonic()
    try:
        result, paths = encoders.embed_images(
            _IMAGES.value,
            _OUT.value,
            _ENCODER.opener(),
            taps=taps,
            file_format=_FORMAT.value,
            overwrite=_OVERWRITE.value,
            batch_size=_ENCODER.batch_size.value,
            progress=progress,
            say=cli.progress,
        )
    except KeyboardInterrupt:
        progress.finish()
        kept = partial.directory_for(outputs)
        raise Interrupted(
            f"Interrupted; what is embedded is kept in {kept}: rerun the same "
            "command to go on from there",
            signal.SIGINT,
        ) from None
    progress.finish()
    encoder_flags.report_skipped(result.skipped)
    count = result.count
    speed = f", {progress.rate:,.0f} images/s" if progress.rate else ""
    resumed = f" ({result.resumed:,} of them before)" if result.resumed else ""
    print(
        f"Embedded {count:,} images{resumed} of {_IMAGES.value} with {result.source} "
        f"in {time.monotonic() - start:.1f}s{speed}:"
    )
    for what, path in paths.items():
        if what == "names":
            contents = "file names, line i naming row i"
        elif what == "tfrecord":
            contents = "tf.train.Examples: name, " + ", ".join(
                f"{tap} [{dim}]" for tap, dim in result.dims.items()
            )
        else:
            pooled = " (averaged over its grid)" if what == "conv" else ""
            contents = f"{what}{pooled}, float32 {[count, result.dims[what]]}"
        print(f"  {path}  {contents}")
    if result.skipped:
        print(
            f"Skipped {len(result.skipped)} files that cannot be decoded (named above)."
        )


def main():
    """The console script: parses sys.argv, embeds, exits (2 on a user's mistake)."""
    cli.run(_embed, flags.FLAGS, required=["images", "out"])


if __name__ == "__main__":
    main()
