"""dim-neighbours (bin/neighbours): the images most like query images, and near-duplicates.

    dim-neighbours --workdir=DIR --images=PATH --query=IMAGE [--k=8] [--out=grid.png]
    dim-neighbours --encoder=DIR/export/encoder --images=PATH --query=IMAGE
    dim-neighbours ... --embeddings=FILE   (reuse `dim-embed --images=PATH --out=FILE`)
    dim-neighbours ... --queries=FOLDER [--out=neighbours.tsv] [--sheet=grid.png]
    dim-neighbours --images=PATH --embeddings=FILE --duplicates [--threshold=0.998]
        [--out=duplicates.tsv] [--sheet=groups.png]

Embeds the query and every image under PATH (or reads FILE.npy and FILE.tsv
that dim-embed wrote for PATH with the same encoder), prints the k images
whose Y is nearest to the query's by cosine similarity (rank, similarity,
path) and writes a PNG grid: the query in a white frame, then its
neighbours, nearest first.

--queries answers every image under FOLDER at once: a TSV (query, rank,
similarity, path) at --out and a grid beside it, a row per query.
--duplicates finds every pair of images under PATH whose Y is at least
--threshold similar: groups of near-copies in the TSV at --out, pairs in
FILE.pairs.tsv, the first groups in a PNG sheet (docs/usage.md). Over
--embeddings it needs no encoder.
"""

from absl import flags

from dim_tf import cli, embeddings
from dim_tf.cli import encoder_flags
from dim_tf.errors import UserError

_ENCODER = encoder_flags.define()
flags.adopt_module_key_flags(encoder_flags)
_IMAGES = flags.DEFINE_string(
    "images", None, "The folder of images searched (recursively), or one image file."
)
_QUERY = flags.DEFINE_string("query", None, "The image file to find neighbours of.")
_QUERIES = flags.DEFINE_string(
    "queries", None, "A folder of query images (recursively): each one's neighbours."
)
_DUPLICATES = flags.DEFINE_bool(
    "duplicates", False, "Find the groups of near-duplicate images under --images."
)
_THRESHOLD = flags.DEFINE_float(
    "threshold",
    0.998,
    "With --duplicates: the least cosine similarity of Y of two duplicates, "
    "in [-1, 1] (the default separates copies from other digits in the quick "
    "start; docs/usage.md).",
)
_PAIRS_PER_IMAGE = flags.DEFINE_integer(
    "pairs_per_image",
    10,
    "With --duplicates: the most pairs FILE.pairs.tsv lists per image.",
    lower_bound=1,
)
_K = flags.DEFINE_integer("k", 8, "How many neighbours.", lower_bound=1)
_OUT = flags.DEFINE_string(
    "out",
    None,
    "--query: the PNG grid (default neighbours.png); --queries, --duplicates: "
    "the TSV (default neighbours.tsv, duplicates.tsv). Replaced if it exists.",
)
_SHEET = flags.DEFINE_string(
    "sheet",
    None,
    "--queries, --duplicates: the PNG (default: --out's name with .png).",
)
_EMBEDDINGS = flags.DEFINE_string(
    "embeddings",
    None,
    "FILE of a dim-embed --images=PATH --out=FILE output to search instead of "
    "embedding PATH now (made with the same encoder).",
)


def _mode():
    """ "query", "queries" or "duplicates"; `UserError` unless exactly one is asked."""
    asked = [
        name
        for name, given in (
            ("query", _QUERY.value),
            ("queries", _QUERIES.value),
            ("duplicates", _DUPLICATES.value),
        )
        if given
    ]
    if len(asked) != 1:
        raise UserError(
            f"pass exactly one of --query=IMAGE, --queries=FOLDER and --duplicates"
            f"{'' if not asked else ' (not --' + ' and --'.join(asked) + ')'}"
        )
    if asked[0] == "query" and _SHEET.value:
        raise UserError("--sheet goes with --queries or --duplicates; --query: --out")
    return asked[0]


def _neighbours(argv):
    # The checks that need no TensorFlow come first, so that they are quick.
    mode = _mode()
    # Saved vectors need no encoder; one given checks their dimension.
    optional = mode == "duplicates" and bool(_EMBEDDINGS.value)
    _ENCODER.start_command(argv, _IMAGES.value, optional)
    if mode == "duplicates":
        embeddings.check_threshold(_THRESHOLD.value)
    if mode != "query":
        default = "duplicates.tsv" if mode == "duplicates" else "neighbours.tsv"
        paths = embeddings.table_paths(
            _OUT.value or default, _SHEET.value, pairs=mode == "duplicates"
        )
    if _EMBEDDINGS.value:
        embeddings.check_embeddings(_EMBEDDINGS.value)
    cli.start_tensorflow()
    if mode == "query":
        _one_query()
    elif mode == "queries":
        _many_queries(paths)
    else:
        _duplicates(paths)


def _searched(search_fn, query):
    """`search_fn(encoder opener, images, query, k=, ...)`, with a progress line; skipped files named."""
    progress = cli.CountProgress("images")
    found = search_fn(
        _ENCODER.opener(),
        _IMAGES.value,
        query,
        k=_K.value,
        embeddings=_EMBEDDINGS.value,
        batch_size=_ENCODER.batch_size.value,
        progress=progress,
    )
    progress.finish()
    encoder_flags.report_skipped(found.skipped)
    return found


def _print_ranked(paths, similarities):
    for rank, (path, similarity) in enumerate(zip(paths, similarities), start=1):
        print(f"{rank:>4}  {similarity:>10.4f}  {path}")


def _one_query():
    from dim_tf.embeddings import search

    out = _OUT.value or "neighbours.png"
    found = _searched(search.find_neighbours, _QUERY.value)
    search.write_grid(_QUERY.value, found.paths, out)
    print(
        f"Nearest to {_QUERY.value} among {_IMAGES.value} "
        f"(cosine similarity of y, {found.source}):"
    )
    print(f"{'rank':>4}  {'similarity':>10}  path")
    _print_ranked(found.paths, found.similarities)
    print(f"Grid (query first, white frame): {out}")


def _many_queries(paths):
    from dim_tf.embeddings import reports, search

    answers = _searched(search.answer_queries, _QUERIES.value)
    for name in answers.skipped_queries:
        cli.progress(f"skipped query {name}: cannot be decoded as an image")
    shown = reports.write_answers(answers, paths)
    count = len(answers.queries)
    print(
        f"Nearest to each of {count} queries under {_QUERIES.value} among "
        f"{_IMAGES.value} (cosine similarity of y, {answers.source}):"
    )
    print(f"{'rank':>4}  {'similarity':>10}  path")
    for query, found, similarities in zip(
        answers.queries, answers.paths, answers.similarities
    ):
        print(f"query {query}")
        _print_ranked(found, similarities)
    print(f"Table (query, rank, similarity, path): {paths['tsv']}")
    print(
        f"Grid (a row per query, query first in a white frame; "
        f"{_shown(shown, count, 'queries')}): {paths['png']}"
    )


def _duplicates(paths):
    from dim_tf.embeddings import duplicates, reports, search

    images, saved = _IMAGES.value, _EMBEDDINGS.value
    if saved:
        opener = _ENCODER.opener() if _ENCODER.given() else None
        found = search.read_searched(images, saved, opener)
    else:
        progress = cli.CountProgress("images")
        found = search.embed_searched(
            _ENCODER.opener()(), images, _ENCODER.batch_size.value, progress
        )
        progress.finish()
    encoder_flags.report_skipped(found.skipped)
    threshold = _THRESHOLD.value
    result = duplicates.find_duplicates(found.y, threshold, _PAIRS_PER_IMAGE.value)
    shown = reports.write_duplicates(result, found.paths, paths)
    in_groups = sum(len(group.rows) for group in result.groups)
    print(
        f"{len(result.groups)} groups of near-duplicates ({in_groups} images, "
        f"{len(result.pairs[0])} pairs) at cosine similarity of y >= {threshold} "
        f"among {len(found.paths)} images of {images}"
        f"{' (' + saved + ')' if saved else ''}"
    )
    print(f"Groups (group, size, min/max similarity, path): {paths['tsv']}")
    print(f"Pairs (at most {_PAIRS_PER_IMAGE.value} per image): {paths['pairs']}")
    print(
        f"Sheet (a row per group, at most {reports.MAX_PER_ROW} images each; "
        f"{_shown(shown, len(result.groups), 'groups')}): {paths['png']}"
    )


def _shown(shown, count, noun):
    if shown == count:
        return f"all {count} {noun}"
    return f"the first {shown} of {count} {noun}"


def main():
    """The console script: parses sys.argv, searches, exits (2 on a user's mistake)."""
    cli.run(_neighbours, flags.FLAGS, required=["images"])


if __name__ == "__main__":
    main()
