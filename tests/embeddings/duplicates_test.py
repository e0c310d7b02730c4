"""Near-duplicates and many queries (dim-neighbours --duplicates, --queries).

The example: the embedded digits written as 8x8 PNG files, with exact copies,
+-1 grey-level noise and 2 % brighter copies of some planted beside them,
embedded by a run's initial weights (deterministic, seed 0). The search
against a NumPy reference runs on random vectors.
"""

import dataclasses
import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dim_tf import embeddings
from dim_tf.embeddings import duplicates, encoders, reports, search
from dim_tf.input import digits
from dim_tf.training import loop, runs
from tests import processes
from tests.tiny import tiny_config

_DIGITS = 400
_PLANTED = range(0, 200, 20)  # Digits with three altered copies each.
# Between the planted copies and distinct digits
# of the initial weights' Y (docs/benchmarks.md, Near-duplicates).
_THRESHOLD = 0.999


def _write_digits(folder):
    images = digits.load_arrays()[0][:_DIGITS, ..., 0]
    rng = np.random.default_rng(0)
    os.makedirs(folder)
    for i, image in enumerate(images):
        Image.fromarray(image).save(f"{folder}/{i:04d}.png")
    for i in _PLANTED:
        noise = rng.integers(-1, 2, image.shape)
        altered = {
            "copy": images[i],
            "noise": np.clip(images[i] + noise, 0, 255),
            "bright": np.clip(np.round(images[i] * 1.02), 0, 255),
        }
        for kind, pixels in altered.items():
            Image.fromarray(np.uint8(pixels)).save(f"{folder}/{i:04d}_{kind}.png")


@dataclasses.dataclass
class Example:
    folder: str
    workdir: str
    encoder: encoders.Encoder
    saved: str  # FILE of the folder's dim-embed output.
    searched: search.Searched


@pytest.fixture(scope="module")
def example(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("dups")
    folder = str(root / "digits")
    _write_digits(folder)
    workdir = str(root / "run")
    loop.train(tiny_config(**{"data.data_dir": data_dir, "train.steps": 0}), workdir)
    encoder = encoders.Encoder.from_run(runs.load_run(workdir))
    saved = str(root / "saved")
    encoders.embed_images(folder, saved, lambda: encoder, batch_size=256)
    return Example(folder, workdir, encoder, saved, search.read_searched(folder, saved))


def _planted_groups(folder):
    return [
        [os.path.join(folder, f"{i:04d}{suffix}.png") for suffix in ("", "_bright")]
        + [os.path.join(folder, f"{i:04d}_{kind}.png") for kind in ("copy", "noise")]
        for i in _PLANTED
    ]


def test_planted_copies_come_back_as_groups_and_distinct_digits_do_not(example):
    found = example.searched
    assert isinstance(found.y, np.memmap)  # Read a block at a time.
    assert len(found.paths) == _DIGITS + 3 * len(_PLANTED)
    result = duplicates.find_duplicates(found.y, _THRESHOLD, block=128)
    groups = sorted([found.paths[row] for row in group.rows] for group in result.groups)
    assert groups == _planted_groups(example.folder)
    for group in result.groups:
        assert _THRESHOLD <= group.min_similarity <= group.max_similarity
        assert group.max_similarity == pytest.approx(1.0, abs=1e-6)  # The copy.
    a, b, similarity = result.pairs
    assert len(a) == 6 * len(_PLANTED) and np.all(np.diff(similarity) <= 0)
    # The same vectors embedded now; at a lower threshold distinct digits join.
    embedded = search.embed_searched(example.encoder, example.folder, 256)
    np.testing.assert_allclose(embedded.y, found.y, atol=1e-5)
    looser = duplicates.find_duplicates(found.y, 0.99)
    assert sum(map(len, (g.rows for g in looser.groups))) > 4 * len(_PLANTED)


def _reference(y, threshold):
    """All pairs >= threshold (float64), and their connected components."""
    unit = y / np.linalg.norm(y, axis=1, keepdims=True)
    similarity = unit @ unit.T
    pairs = [
        (i, j, similarity[i, j])
        for i in range(len(y))
        for j in range(i + 1, len(y))
        if similarity[i, j] >= threshold
    ]
    parent = list(range(len(y)))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, j, _ in pairs:
        parent[find(i)] = find(j)
    groups = {}
    for i in range(len(y)):
        groups.setdefault(find(i), []).append(i)
    return pairs, sorted(g for g in groups.values() if len(g) > 1)


@pytest.mark.parametrize("seed, block, per_image", [(0, 7, 2), (1, 64, 1), (2, 5, 9)])
def test_groups_and_bounded_pairs_match_a_numpy_reference(seed, block, per_image):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(50, 3)).astype(np.float32)
    y[[10, 20, 30]] = y[0] * [[1.0], [3.0], [0.5]]  # Exact copies (scaled).
    pairs, groups = _reference(y, 0.9)
    result = duplicates.find_duplicates(y, 0.9, per_image, block)
    assert sorted(group.rows.tolist() for group in result.groups) == groups
    assert any({0, 10, 20, 30} <= set(group) for group in groups) and len(groups) > 1
    for group in result.groups:
        linked = [s for i, j, s in pairs if i in group.rows]
        assert group.min_similarity == pytest.approx(min(linked), abs=1e-5)
        assert group.max_similarity == pytest.approx(min(max(linked), 1), abs=1e-5)
    a, b, similarity = result.pairs
    assert np.all(a < b) and np.all(np.diff(similarity) <= 0)
    partners = {row: [] for row in range(len(y))}  # Reference similarities, best first.
    for i, j, s in sorted(pairs, key=lambda pair: -pair[2]):
        partners[i].append(s)
        partners[j].append(s)
    # Each image keeps its `per_image` best; a pair kept is among one end's best.
    for row, best in partners.items():
        mine = sorted(similarity[(a == row) | (b == row)], reverse=True)
        np.testing.assert_allclose(mine[:per_image], best[:per_image], atol=1e-5)
    for i, j, s in zip(a, b, similarity):
        worst = [partners[end][:per_image][-1] for end in (i, j)]
        assert s >= min(worst) - 1e-5
    if per_image < max(map(len, partners.values())):
        assert len(a) < len(pairs)  # Bounded: some pairs are left out.


def test_queries_answer_each_image_of_a_folder(example, tmp_path):
    queries = tmp_path / "queries"
    (queries / "deeper").mkdir(parents=True)
    for name in ("0000.png", "0020_noise.png"):
        shutil.copy(os.path.join(example.folder, name), queries / name)
    shutil.copy(os.path.join(example.folder, "0040.png"), queries / "deeper")
    (queries / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    answers = search.answer_queries(
        lambda: example.encoder,
        example.folder,
        str(queries),
        k=4,
        embeddings=example.saved,
    )
    assert [os.path.relpath(q, queries) for q in answers.queries] == [
        "0000.png",
        "0020_noise.png",
        "deeper/0040.png",
    ]
    assert answers.skipped_queries == [str(queries / "broken.png")]
    for query, found in zip(answers.queries, answers.paths):
        digit = os.path.basename(query)[:4]
        # A query's copies (itself among them) are its nearest, in any order.
        assert {os.path.basename(p)[:4] for p in found} == {digit}
        one = search.find_neighbours(
            lambda: example.encoder, example.folder, query, 4, example.saved
        )
        assert one.paths == found
    assert answers.similarities.shape == (3, 4)
    assert np.all(answers.similarities[:, 0] > 0.9999)
    paths = embeddings.table_paths(str(tmp_path / "answers.tsv"))
    assert reports.write_answers(answers, paths, max_rows=2) == 2
    lines = open(paths["tsv"]).read().splitlines()
    assert lines[0] == "query\trank\tsimilarity\tpath" and len(lines) == 1 + 3 * 4
    assert lines[1].split("\t")[:2] == [answers.queries[0], "1"]
    grid = tf.io.decode_png(tf.io.read_file(paths["png"])).numpy()
    cell = search.THUMBNAIL + 4 + 2
    assert grid.shape == (2 * cell + 2, 5 * cell + 2, 3)  # 2 rows shown.


def test_bad_input_is_one_line_and_writes_nothing(example, tmp_path):
    folder, saved = example.folder, example.saved

    def never():
        raise AssertionError("opened after a failed check")

    for threshold in (1.5, -1.01):
        processes.assert_user_error(
            lambda: duplicates.find_duplicates(np.ones([2, 2]), threshold), "[-1, 1]"
        )
    # FILE of another encoder: another dimension.
    other = str(tmp_path / "other")
    shutil.copy(f"{saved}.tsv", f"{other}.tsv")
    np.save(f"{other}.npy", np.ones([len(example.searched.paths), 3], np.float32))
    query = os.path.join(folder, "0001.png")
    processes.assert_user_error(
        lambda: search.find_neighbours(
            lambda: example.encoder, folder, query, embeddings=other
        ),
        "3 dimensions",
        "Y has 8",
        "embed --images again",
    )
    processes.assert_user_error(
        lambda: search.read_searched(folder, other, lambda: example.encoder),
        "3 dimensions",
    )
    assert search.read_searched(folder, saved, lambda: example.encoder).y.shape[1] == 8
    # FILE of another folder, or the folder changed since.
    fewer = tmp_path / "fewer"
    shutil.copytree(folder, fewer)
    os.remove(fewer / "0005.png")
    processes.assert_user_error(
        lambda: search.read_searched(str(fewer), saved),
        "1 images not under",
        "0005.png",
        "--overwrite",
    )
    shutil.copy(fewer / "0006.png", fewer / "0005.png")
    shutil.copy(fewer / "0006.png", fewer / "new.png")
    processes.assert_user_error(
        lambda: search.read_searched(str(fewer), saved),
        "1 images that --embeddings",
        "new.png",
        "bin/embed",
    )
    # An undecodable file FILE lacks is one dim-embed skipped.
    os.remove(fewer / "new.png")
    (fewer / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert search.read_searched(str(fewer), saved).skipped == ["bad.png"]
    # --queries: not a folder, no image, none decodes.
    (tmp_path / "none").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    for queries, fragment in (
        (query, "is not a folder"),
        (str(tmp_path / "none"), "holds no images"),
    ):
        processes.assert_user_error(
            lambda: search.answer_queries(never, folder, queries), fragment
        )
    processes.assert_user_error(
        lambda: search.answer_queries(
            lambda: example.encoder, folder, str(tmp_path / "bad")
        ),
        "none of the 1 files under --queries",
    )
    processes.assert_user_error(lambda: embeddings.table_paths("x.png"), "names a PNG")


def _neighbours(*flags):
    return processes.run([sys.executable, "bin/neighbours", *flags])


@pytest.mark.slow
def test_bin_neighbours_duplicates_and_its_mistakes(example, tmp_path):
    folder, saved = example.folder, example.saved
    out = tmp_path / "dups.tsv"
    out.write_text("kept\n")
    images = f"--images={folder}"
    for flags, fragment in (
        (["--query=a.png", "--queries=q"], "not --query and --queries"),
        (["--query=a.png", "--duplicates"], "not --query and --duplicates"),
        (["--duplicates", "--threshold=1.5"], "--threshold is 1.5"),
        (["--duplicates", f"--embeddings={saved}", f"--sheet={out}"], "also a TSV"),
    ):
        result = _neighbours(
            images, f"--workdir={example.workdir}", f"--out={out}", *flags
        )
        processes.assert_one_line_error(result, fragment)
    assert out.read_text() == "kept\n"
    # Saved vectors need no encoder.
    done = _neighbours(
        images,
        f"--embeddings={saved}",
        "--duplicates",
        f"--threshold={_THRESHOLD}",
        f"--out={out}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(
        f"{len(_PLANTED)} groups of near-duplicates (40 images, 60 pairs)"
    )
    assert (
        "Sheet (a row per group, at most 9 images each; all 10 groups)" in done.stdout
    )
    lines = out.read_text().splitlines()
    assert lines[0] == "group\tsize\tmin_similarity\tmax_similarity\tpath"
    fields = lines[1].split("\t")
    assert fields[:2] == ["1", "4"] and float(fields[3]) == pytest.approx(1.0, abs=1e-6)
    assert len(lines) == 1 + 4 * len(_PLANTED)
    assert len((tmp_path / "dups.pairs.tsv").read_text().splitlines()) == 1 + 60
    sheet = tf.io.decode_png(tf.io.read_file(str(tmp_path / "dups.png"))).numpy()
    cell = search.THUMBNAIL + 4 + 2
    assert sheet.shape == (10 * cell + 2, 4 * cell + 2, 3)


@pytest.mark.slow
def test_bin_neighbours_queries(example, tmp_path):
    queries = tmp_path / "queries"
    queries.mkdir()
    for name in ("0000_copy.png", "0020.png"):
        shutil.copy(os.path.join(example.folder, name), queries / name)
    out = tmp_path / "answers.tsv"
    done = _neighbours(
        f"--images={example.folder}",
        f"--workdir={example.workdir}",
        f"--queries={queries}",
        f"--embeddings={example.saved}",
        "--k=2",
        f"--out={out}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"Nearest to each of 2 queries under {queries}")
    assert lines[2] == f"query {queries / '0000_copy.png'}"
    assert lines[3].split()[:2] == ["1", "1.0000"]
    assert "0000" in os.path.basename(lines[3].split()[2])
    assert lines[-1].endswith(f"all 2 queries): {tmp_path / 'answers.png'}")
    assert len(out.read_text().splitlines()) == 1 + 2 * 2
