"""dim-neighbours (bin/neighbours): the images most like a query image.

    dim-neighbours --workdir=DIR --images=PATH --query=IMAGE [--k=8] [--out=grid.png]
    dim-neighbours --encoder=DIR/export/encoder --images=PATH --query=IMAGE
    dim-neighbours ... --embeddings=FILE   (reuse `dim-embed --images=PATH --out=FILE`)

Embeds the query and every image under PATH (or reads FILE.npy and FILE.tsv
that dim-embed wrote for PATH with the same encoder), prints the k images
whose Y is nearest to the query's by cosine similarity (rank, similarity,
path) and writes a PNG grid: the query in a white frame, then its
neighbours, nearest first.
"""

from absl import flags

from dim_tf import cli, embeddings
from dim_tf.cli import encoder_flags

_ENCODER = encoder_flags.define()
flags.adopt_module_key_flags(encoder_flags)
_IMAGES = flags.DEFINE_string(
    "images", None, "The folder of images searched (recursively), or one image file."
)
_QUERY = flags.DEFINE_string("query", None, "The image file to find neighbours of.")
_K = flags.DEFINE_integer("k", 8, "How many neighbours.", lower_bound=1)
_OUT = flags.DEFINE_string(
    "out", "neighbours.png", "The PNG grid to write (replaced if it exists)."
)
_EMBEDDINGS = flags.DEFINE_string(
    "embeddings",
    None,
    "FILE of a dim-embed --images=PATH --out=FILE output to search instead of "
    "embedding PATH now (made with the same encoder).",
)


def _neighbours(argv):
    # The checks that need no TensorFlow come first, so that they are quick.
    _ENCODER.start_command(argv, _IMAGES.value)
    if _EMBEDDINGS.value:
        embeddings.check_embeddings(_EMBEDDINGS.value)
    cli.start_tensorflow()
    from dim_tf.embeddings import search

    progress = cli.CountProgress("images")
    found = search.find_neighbours(
        _ENCODER.opener(),
        _IMAGES.value,
        _QUERY.value,
        k=_K.value,
        embeddings=_EMBEDDINGS.value,
        batch_size=_ENCODER.batch_size.value,
        progress=progress,
    )
    progress.finish()
    encoder_flags.report_skipped(found.skipped)
    search.write_grid(_QUERY.value, found.paths, _OUT.value)
    print(
        f"Nearest to {_QUERY.value} among {_IMAGES.value} "
        f"(cosine similarity of y, {found.source}):"
    )
    print(f"{'rank':>4}  {'similarity':>10}  path")
    for rank, (path, similarity) in enumerate(
        zip(found.paths, found.similarities), start=1
    ):
        print(f"{rank:>4}  {similarity:>10.4f}  {path}")
    print(f"Grid (query first, white frame): {_OUT.value}")


def main():
    """The console script: parses sys.argv, searches, exits (2 on a user's mistake)."""
    cli.run(_neighbours, flags.FLAGS, required=["images", "query"])


if __name__ == "__main__":
    main()
