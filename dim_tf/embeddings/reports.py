"""The TSV tables and PNG sheets of `dim-neighbours --queries` and `--duplicates`.

Each TSV has a header line and one row per result; paths are escaped as in
a `dim-embed` FILE.tsv (`\\t`, `\\n`, `\\\\`). The sheets show a bounded
number of rows (`MAX_ROWS`), one per query or group, the first picture of
a row framed white (`dim_tf.evaluators.views.framed_rows`). Every file is
replaced atomically.
"""

from dim_tf import workdir as workdir_lib
from dim_tf.embeddings import files as files_lib
from dim_tf.embeddings import search
from dim_tf.evaluators import views

MAX_ROWS = 20  # Rows of a sheet: a query or a group each.
MAX_PER_ROW = 9  # Pictures in a row of the duplicates sheet.


def write_answers(answers, paths, max_rows=MAX_ROWS):
    """Writes `search.Answers` to `paths["tsv"]` (query, rank, similarity, path) and its grid.

    Returns:
      How many queries the grid shows (the first `max_rows`).
    """
    rows = ["query\trank\tsimilarity\tpath"]
    for query, found, similarities in zip(
        answers.queries, answers.paths, answers.similarities
    ):
        for rank, (path, similarity) in enumerate(zip(found, similarities), 1):
            rows.append(_line(query, rank, f"{similarity:.6f}", path))
    _write_lines(paths["tsv"], rows)
    shown = list(zip(answers.queries, answers.paths))[:max_rows]
    _write_sheet(paths["png"], [[query, *found] for query, found in shown])
    return len(shown)


def write_duplicates(duplicates, image_paths, paths, max_rows=MAX_ROWS):
    """Writes `duplicates.Duplicates` of the images `image_paths` (row i: item i).

    `paths["tsv"]`: one line per image of a group (group, size,
    min_similarity, max_similarity, path), groups in order, numbered from
    1; `paths["pairs"]`: the pairs (similarity, path_a, path_b), most
    similar first; `paths["png"]`: the first `max_rows` groups, up to
    `MAX_PER_ROW` images each.

    Returns:
      How many groups the sheet shows.
    """
    fields = [files_lib.tsv_field(path) for path in image_paths]  # Once each.
    rows = ["group\tsize\tmin_similarity\tmax_similarity\tpath"]
    for number, group in enumerate(duplicates.groups, 1):
        head = f"{number}\t{len(group.rows)}\t"
        head += f"{group.min_similarity:.6f}\t{group.max_similarity:.6f}\t"
        rows.extend(head + fields[row] for row in group.rows)
    _write_lines(paths["tsv"], rows)
    pairs = ["similarity\tpath_a\tpath_b"]
    a, b, similarity = duplicates.pairs
    for i, j, value in zip(a.tolist(), b.tolist(), similarity.tolist()):
        pairs.append(f"{min(value, 1.0):.6f}\t{fields[i]}\t{fields[j]}")
    _write_lines(paths["pairs"], pairs)
    shown = duplicates.groups[:max_rows]
    _write_sheet(
        paths["png"],
        [[image_paths[row] for row in group.rows[:MAX_PER_ROW]] for group in shown],
    )
    return len(shown)


def _line(*fields):
    return "\t".join(
        files_lib.tsv_field(field) if isinstance(field, str) else str(field)
        for field in fields
    )


def _write_lines(path, lines):
    with workdir_lib.replaced_file(path) as tmp:
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.writelines(f"{line}\n" for line in lines)


def _write_sheet(path, rows):
    """Writes the PNG `path`: a row of thumbnails per list of image files (none: an empty cell)."""
    files = [file for row in rows for file in row]
    pictures = iter(search.thumbnails(files))
    grid = views.framed_rows([[next(pictures) for _ in row] for row in rows])
    with workdir_lib.replaced_file(path) as tmp:
        views.save_png(grid, tmp)
