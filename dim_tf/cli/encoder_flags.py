"""The flags dim-embed and dim-neighbours share: which encoder, and its batch size.

`define()` registers them on absl's global flags (each console script is its
own process, so the two never define them twice) and returns `EncoderFlags`.
"""

import dataclasses
import sys

from absl import flags

from dim_tf import cli, embeddings


@dataclasses.dataclass
class EncoderFlags:
    workdir: flags.FlagHolder
    encoder: flags.FlagHolder
    batch_size: flags.FlagHolder

    def check(self):
        """Exactly one of --workdir and --encoder (no TensorFlow needed)."""
        embeddings.check_source(self.workdir.value, self.encoder.value)

    def start_command(self, argv, images, optional=False):
        """The checks both commands make first, before TensorFlow starts.

        Rejects extra arguments, checks --workdir / --encoder (neither is
        also fine when `optional`) and the images at `images`, and lets file
        names that are not valid UTF-8 print as their own bytes.
        """
        cli.reject_extra_arguments(argv)
        sys.stdout.reconfigure(errors="surrogateescape")
        if not optional or self.given():
            self.check()
        embeddings.check_images(images)

    def given(self):
        """Whether --workdir or --encoder is given."""
        return bool(self.workdir.value or self.encoder.value)

    def opener(self):
        """A callable that prints "Loading ..." and opens the chosen `Encoder`.

        Call after `cli.start_tensorflow()`.
        """
        from dim_tf.embeddings import encoders

        return cli.announced(
            self.workdir.value or self.encoder.value,
            lambda: encoders.open_encoder(self.workdir.value, self.encoder.value),
        )


def report_skipped(names):
    """Names each image file that could not be decoded, one stderr line each."""
    for name in names:
        cli.progress(f"skipped {name}: cannot be decoded as an image")


def define():
    """Defines --workdir, --encoder and --batch_size; returns their holders."""
    return EncoderFlags(
        workdir=flags.DEFINE_string(
            "workdir", None, "Run directory written by dim-train (or use --encoder)."
        ),
        encoder=flags.DEFINE_string(
            "encoder",
            None,
            "Encoder SavedModel written by dim-export, DIR/export/encoder "
            "(or use --workdir).",
        ),
        batch_size=flags.DEFINE_integer(
            "batch_size", 128, "Images per encoder call.", lower_bound=1
        ),
    )
