"""Embeddings of a folder of pictures and the search among them: in-process
through the library, once through bin/embed and bin/neighbours."""

import dataclasses
import io
import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dim_tf import cli, embeddings, export
from dim_tf.cli import output
from dim_tf.embeddings import encoders, files, partial, search
from dim_tf.errors import UserError
from dim_tf.evaluators import views
from dim_tf.input import eval_sets, image_files, model_input
from dim_tf.training import loop, runs
from tests import image_folders, processes
from tests.tiny import tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder of 12 pictures (sizes, formats and channels mixed), a tiny run
    of it with random crops, its exported encoder, and both as `Encoder`s
    (loaded once for the module's tests).

    The run is made by `loop.train` with 0 steps: its checkpoint holds the
    initial weights. The tests compare ways of computing the same vectors,
    which holds for any weights, and a training step's tracing would cost
    most of this file's time.
    """
    root = tmp_path_factory.mktemp("embed")
    folder = str(root / "pictures")
    image_folders.flat_folder(folder, 10)  # 28x28: PNG, JPEG, BMP, GIF; grey + RGB.
    grey, _ = image_folders.digits(2, offset=900)
    wide = np.asarray(Image.fromarray(grey[0]).resize((40, 33)))
    image_folders.write_image(f"{folder}/wide.jpg", image_folders.as_rgb(wide))
    tall = np.asarray(Image.fromarray(grey[1]).resize((23, 31)))
    image_folders.write_image(f"{folder}/tall_grey.jpeg", tall)
    workdir = str(root / "run")
    config = tiny_config(
        **{"data.dataset": folder, "data.random_crop": True, "train.steps": 0}
    )
    loop.train(config, workdir)
    run = runs.load_run(workdir)
    export.export_models(workdir, run, {})  # The encoder alone.
    encoder_path = os.path.join(workdir, "export", "encoder")
    return Trained(
        folder,
        workdir,
        encoder_path,
        run,
        encoders.Encoder.from_run(run),
        encoders.Encoder.from_saved_model(encoder_path),
    )


@dataclasses.dataclass
class Trained:
    folder: str
    workdir: str
    encoder_path: str
    run: object
    by_run: encoders.Encoder
    by_export: encoders.Encoder


def test_rows_are_the_encoders_taps_of_the_evaluation_pipeline(trained, tmp_path):
    folder, run = trained.folder, trained.run
    out = str(tmp_path / "pictures")
    result, paths = encoders.embed_images(
        folder, out, lambda: trained.by_run, taps="y,fc,conv", batch_size=5
    )
    listed = image_files.list_images(folder)
    assert len(listed) == 12
    names = [os.path.relpath(path, folder) for path in listed]
    assert result.count == 12 and result.skipped == [] and result.resumed == 0
    assert not os.path.exists(f"{out}.partial")
    assert paths == {
        "y": f"{out}.npy",
        "fc": f"{out}.fc.npy",
        "conv": f"{out}.conv.npy",
        "names": f"{out}.tsv",
    }
    with open(f"{out}.tsv") as f:
        assert f.read().splitlines() == names
    # What the evaluation pipeline gives the encoder for these files.
    ds = eval_sets.make_files_dataset(
        listed, run.config.data, run.image_size, 64, run.raw_image_shape
    )
    images, _ = next(iter(ds))
    expected = run.encoder(images, training=False)
    assert result.dims == {tap: expected[tap].shape[-1] for tap in ("y", "fc", "conv")}
    for tap in ("y", "fc"):
        rows = np.load(paths[tap])
        assert rows.dtype == np.float32 and rows.shape == expected[tap].shape
        np.testing.assert_allclose(rows, expected[tap], atol=1e-5, rtol=1e-5)
    pooled = tf.reduce_mean(expected["conv"], axis=[1, 2])
    np.testing.assert_allclose(np.load(paths["conv"]), pooled, atol=1e-5, rtol=1e-5)


def test_the_saved_model_alone_gives_the_same_rows(trained, tmp_path):
    folder = trained.folder
    by_run, run_paths = encoders.embed_images(
        folder, str(tmp_path / "run"), lambda: trained.by_run, taps="y,conv"
    )
    # Batches of 4: the pictures of one size go in together, in order.
    by_export, export_paths = encoders.embed_images(
        folder,
        str(tmp_path / "export"),
        lambda: trained.by_export,
        "y,conv",
        batch_size=4,
    )
    run_names, run_rows = _written(run_paths)
    export_names, export_rows = _written(export_paths)
    assert export_names == run_names
    assert by_run.source == f"run {trained.workdir} at step 0"
    assert by_export.source == f"SavedModel {trained.encoder_path}"
    for tap in ("y", "conv"):
        np.testing.assert_allclose(
            export_rows[tap], run_rows[tap], atol=1e-5, rtol=1e-5
        )


def test_the_exported_encoder_takes_grey_and_rgba_images_as_the_pipeline_does(
    trained,
):
    """A folder run trains on RGB; its export converts other channel counts."""
    serve = tf.saved_model.load(trained.encoder_path).signatures["serving_default"]
    grey = image_folders.digits(2, offset=300)[0][..., None]  # [2, 28, 28, 1]
    rgb = tf.image.grayscale_to_rgb(tf.constant(grey))
    tinted = image_folders.as_rgb(grey[..., 0])  # Channels that differ.
    alpha = np.full_like(grey, 90)
    cases = [
        (grey, rgb),
        (np.concatenate([grey, alpha], -1), rgb),  # Grey and alpha.
        (np.concatenate([tinted, alpha], -1), tinted),  # RGBA.
    ]
    for images, as_rgb in cases:
        expected = serve(images=tf.constant(as_rgb))["y"]
        np.testing.assert_allclose(
            serve(images=tf.constant(images))["y"], expected, atol=1e-6
        )
    for count in (0, 5):
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=r"images must have 1 \(grey\), 2 \(grey and alpha\), 3 \(RGB\) or "
            rf"4 \(RGBA\) channels; they have\] \[{count}\]",
        ):
            serve(images=tf.zeros([1, 28, 28, count], tf.uint8))


def test_a_grey_runs_export_embeds_files_as_the_run_does(trained, tmp_path):
    """Files go into an export as RGB, which it turns back into the run's grey."""
    workdir = str(tmp_path / "grey")
    config = tiny_config(
        **{"data.dataset": trained.folder, "data.channels": 1, "train.steps": 0}
    )
    loop.train(config, workdir)
    run = runs.load_run(workdir)
    export.export_models(workdir, run, {})
    by_export = encoders.Encoder.from_saved_model(
        os.path.join(workdir, "export", "encoder")
    )
    rows = {}
    for name, encoder in (
        ("run", encoders.Encoder.from_run(run)),
        ("export", by_export),
    ):
        _, paths = encoders.embed_images(
            trained.folder, str(tmp_path / name), lambda: encoder, batch_size=4
        )
        rows[name] = _written(paths)
    assert rows["export"][0] == rows["run"][0] and len(rows["run"][0]) == 12
    np.testing.assert_allclose(
        rows["export"][1]["y"], rows["run"][1]["y"], atol=1e-5, rtol=1e-5
    )


def test_a_query_in_the_folder_is_its_own_nearest_neighbour(trained, tmp_path):
    folder, encoder = trained.folder, trained.by_export
    query = os.path.join(folder, "wide.jpg")
    found = search.find_neighbours(lambda: encoder, folder, query, k=3)
    assert found.paths[0] == query
    assert found.similarities[0] == pytest.approx(1.0, abs=1e-5)
    assert len(found.paths) == 3 and np.all(np.diff(found.similarities) <= 0)
    # The same from a dim-embed output, and a file as the searched path.
    out = str(tmp_path / "saved")
    encoders.embed_images(folder, out, lambda: encoder)
    reused = search.find_neighbours(lambda: encoder, folder, query, k=3, embeddings=out)
    assert reused.paths == found.paths
    np.testing.assert_allclose(reused.similarities, found.similarities, atol=1e-6)
    alone = search.find_neighbours(lambda: encoder, query, query, k=5)
    assert alone.paths == [query]  # k is at most the number of images.
    grid_path = str(tmp_path / "grid.png")
    search.write_grid(query, found.paths, grid_path)
    grid = tf.io.decode_png(tf.io.read_file(grid_path)).numpy()
    cell = 96 + 4 + 2  # thumbnail, frame, gap
    assert grid.shape == (cell + 2, 4 * cell + 2, 3)
    # The query's frame is white; its neighbours' are grey.
    assert (grid[2, 2:cell] == views._QUERY_FRAME).all()
    assert (grid[2, cell + 2 : 2 * cell] == views._UNLABELED_FRAME).all()


def test_nearest_is_cosine_similarity():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(20, 6))
    query = rng.normal(size=6)
    index, similarity = search.nearest(y * rng.uniform(1, 9, size=(20, 1)), query, 4)
    cosine = y @ query / np.linalg.norm(y, axis=1) / np.linalg.norm(query)
    np.testing.assert_array_equal(index, np.argsort(-cosine)[:4])
    np.testing.assert_allclose(similarity, np.sort(cosine)[::-1][:4])


def test_bad_files_are_skipped_and_counted_by_both_sources(trained, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(trained.folder, copy)
    truncated = os.path.join(copy, "album0", "img000.png")
    with open(truncated, "rb") as f:
        head = f.read(40)  # A PNG header, no image.
    with open(truncated, "wb") as f:
        f.write(head)
    with open(os.path.join(copy, "notes.jpg"), "w") as f:
        f.write("not a picture")
    for encoder, name in ((trained.by_run, "a"), (trained.by_export, "b")):
        result, paths = encoders.embed_images(
            copy, str(tmp_path / name), lambda: encoder
        )
        assert result.skipped == ["album0/img000.png", "notes.jpg"]
        names, rows = _written(paths)
        assert result.count == len(names) == len(rows["y"]) == 12 - 1
        assert "notes.jpg" not in names and "album0/img000.png" not in names
    # A folder of nothing but bad files: an error, and nothing written.
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(head)
    with pytest.raises(UserError, match="none of the 1 files .* x.png"):
        encoders.embed_images(str(bad), str(tmp_path / "c"), lambda: trained.by_run)
    assert not os.path.exists(tmp_path / "c.npy")
    assert not os.path.exists(tmp_path / "c.partial")


def _written(paths):
    """The names and `{tap: rows}` of the npy files `embed_images` wrote."""
    with open(paths["names"]) as f:
        names = f.read().splitlines()
    return names, {tap: np.load(p) for tap, p in paths.items() if tap != "names"}


class _Counting:
    """An `Encoder` that records the files it is asked to embed."""

    def __init__(self, encoder):
        self.encoder, self.files = encoder, []
        self.identity, self.description = encoder.identity, encoder.description

    def batches(self, paths, batch_size):
        self.files.extend(paths)
        return self.encoder.batches(paths, batch_size)


class _Interrupt(Exception):
    pass


def _interrupted_after(batches):
    """A progress callback that raises (as Ctrl-C would) after `batches` calls."""
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if len(calls) == batches:
            raise _Interrupt

    return progress


def test_an_interrupted_run_resumes_where_it_stopped(trained, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(trained.folder, copy)
    with open(os.path.join(copy, "album0", "img001.png"), "wb") as f:
        f.write(b"not a picture")  # Skipped within the first chunk.
    listed = image_files.list_images(copy)

    def embed(out, encoder, **kwargs):
        options = {"taps": "y,fc", "batch_size": 3, "commit_every": 3600.0}
        return encoders.embed_images(
            copy, out, lambda: encoder, **{**options, **kwargs}
        )

    whole, whole_paths = embed(str(tmp_path / "whole"), trained.by_run)
    out = str(tmp_path / "out")
    # Stopped by an exception after 2 batches (7 files: 6 images, 1 skipped).
    with pytest.raises(_Interrupt):
        embed(out, trained.by_run, progress=_interrupted_after(2))
    assert sorted(os.listdir(tmp_path)) == [
        "copy",
        "out.partial",
        "whole.fc.npy",
        "whole.npy",
        "whole.tsv",
    ]
    said, counted, calls = [], _Counting(trained.by_run), []
    result, paths = embed(
        out, counted, say=said.append, progress=lambda *c: calls.append(c)
    )
    assert counted.files == listed[7:]  # The rest only.
    assert said == [f"Resuming {out}.partial: 7 of 13 images done by an earlier run"]
    assert calls[0] == (10, 13) and calls[-1] == (13, 13)
    assert (result.count, result.resumed, result.skipped) == (12, 6, whole.skipped)
    assert whole.skipped == ["album0/img001.png"]
    assert not os.path.exists(f"{out}.partial")
    for what, path in paths.items():
        with open(path, "rb") as f, open(whole_paths[what], "rb") as g:
            assert f.read() == g.read(), what
    # A run killed after its last chunk left more rows than that chunk's:
    # they are cut and embedded again. The state serves any --format.
    with pytest.raises(_Interrupt):
        embed(out + "2", trained.by_run, progress=_interrupted_after(1))
    for name in ("y.f32", "names.tsv"):
        with open(os.path.join(f"{out}2.partial", name), "ab") as f:
            f.write(b"left by a killed run")
    counted = _Counting(trained.by_run)
    _, record = embed(out + "2", counted, file_format="tfrecord")
    assert counted.files == listed[3:]
    spec = {
        "name": tf.io.FixedLenFeature([], tf.string),
        "y": tf.io.FixedLenFeature([whole.dims["y"]], tf.float32),
    }
    parsed = [
        tf.io.parse_single_example(r, spec)
        for r in tf.data.TFRecordDataset(record["tfrecord"])
    ]
    names, rows = _written(whole_paths)
    assert [p["name"].numpy().decode() for p in parsed] == names
    np.testing.assert_array_equal(np.stack([p["y"] for p in parsed]), rows["y"])
    # Other taps, another encoder, or --overwrite: afresh.
    for i, (change, message) in enumerate(
        (
            ({"taps": "y"}, "other taps"),
            ({"encoder": trained.by_export}, "another encoder"),
            ({"overwrite": True}, None),
        )
    ):
        again = f"{out}{i + 3}"
        with pytest.raises(_Interrupt):
            embed(again, trained.by_run, progress=_interrupted_after(1))
        said, counted = [], _Counting(change.pop("encoder", trained.by_run))
        embed(again, counted, say=said.append, **change)
        assert counted.files == listed
        if message:
            assert said == [
                f"{again}.partial holds an interrupted embedding with {message}; "
                "starting afresh"
            ]
        else:
            assert said == []


def test_bad_input_is_one_line_and_writes_nothing(trained, tmp_path):
    folder, workdir, encoder_path = (
        trained.folder,
        trained.workdir,
        trained.encoder_path,
    )
    out = str(tmp_path / "out")

    def source():
        raise AssertionError("opened after a failed check")

    def embed(images=folder, **kwargs):
        return lambda: encoders.embed_images(images, out, source, **kwargs)

    (tmp_path / "empty").mkdir()
    processes.assert_user_error(embed(str(tmp_path / "nowhere")), "does not exist")
    processes.assert_user_error(
        embed(str(tmp_path / "empty")), "holds no images", ".png"
    )
    processes.assert_user_error(embed(taps="y,local"), "'local'", "y, fc, conv")
    processes.assert_user_error(embed(file_format="csv"), "'csv'", "npy, tfrecord")
    assert os.listdir(tmp_path) == ["empty"]
    (tmp_path / "out.tsv").write_text("kept\n")
    processes.assert_user_error(embed(), "out.tsv exists", "--overwrite")
    assert (tmp_path / "out.tsv").read_text() == "kept\n"
    assert not (tmp_path / "out.npy").exists()
    for workdir_arg, saved_model in ((None, None), (workdir, encoder_path)):
        processes.assert_user_error(
            lambda: encoders.open_encoder(workdir_arg, saved_model), "exactly one"
        )
    processes.assert_user_error(
        lambda: encoders.open_encoder(None, workdir), "cannot be loaded"
    )
    query = os.path.join(folder, "wide.jpg")
    for kwargs, fragment in (
        ({"k": 0}, "--k is 0"),
        ({"embeddings": str(tmp_path / "missing")}, "missing.npy does not exist"),
        ({"query": folder}, "is not an image file"),
    ):
        arguments = {"query": query, **kwargs}
        processes.assert_user_error(
            lambda: search.find_neighbours(source, folder, **arguments), fragment
        )


def test_tfrecord_output_and_names_that_need_escaping(tmp_path):
    # A name that is not UTF-8 (byte 0xff, as os.listdir gives it) keeps its bytes.
    names = ["a.png", "tab\there.png", "back\\slash\nline.png", "b\udcff.png"]
    y = np.arange(8, dtype=np.float32).reshape(4, 2)
    # The rows as dim-embed streams them, then written as it writes them.
    streamed = partial.Partial.open(str(tmp_path / "e.partial"), {"run": "test"})
    lines = [files.tsv_field(name) + "\n" for name in names]
    streamed.append({"y": y}, lines, len(names), [])
    streamed.close()
    out = str(tmp_path / "e.npy")
    paths = embeddings.output_paths(out, ("y",))
    assert paths == {"y": out, "names": str(tmp_path / "e.tsv")}
    files.write_streamed(streamed, paths)
    with open(paths["names"], "rb") as f:
        assert f.read().splitlines()[2:] == [b"back\\\\slash\\nline.png", b"b\xff.png"]
    back = files.read_embeddings(out)
    assert back.names == names
    np.testing.assert_array_equal(back.taps["y"], y)
    record = embeddings.output_paths(str(tmp_path / "e"), ("y",), "tfrecord")
    files.write_streamed(streamed, record)
    spec = {
        "name": tf.io.FixedLenFeature([], tf.string),
        "y": tf.io.FixedLenFeature([2], tf.float32),
    }
    parsed = [
        tf.io.parse_single_example(r, spec)
        for r in tf.data.TFRecordDataset(record["tfrecord"])
    ]
    assert [p["name"].numpy() for p in parsed] == [os.fsencode(n) for n in names]
    np.testing.assert_array_equal(np.stack([p["y"] for p in parsed]), y)
    # A .npy and .tsv that do not match are refused.
    np.save(out, y[:2])
    processes.assert_user_error(lambda: files.read_embeddings(out), "names 4 images")


def test_files_are_fitted_as_a_tfds_dataset_stores_its_images(tmp_path):
    # A digits run (stored 8x8x1, encoder 28): a picture is fitted to 8x8
    # grey first, as its SavedModel's fixed signature requires.
    pixels = np.random.default_rng(0).integers(0, 256, [30, 20, 3], np.uint8)
    path = image_folders.write_image(str(tmp_path / "p.png"), pixels)
    data = tiny_config().data
    images, _ = next(iter(eval_sets.make_files_dataset([path], data, 28, 4, (8, 8, 1))))
    decoded = image_files.decode(tf.io.read_file(path), 1)
    stored = image_files.fit(decoded, (8, 8))
    expected = model_input.raw_images_to_model_input(stored[None], 28)
    np.testing.assert_array_equal(images, expected)
    # A (height, width) target is covered, then its central window kept.
    assert image_files.fit(decoded, (6, 12)).shape == (6, 12, 1)
    assert image_files.fit(tf.zeros([2, 30, 20, 3], tf.uint8), (9, 4)).shape == (
        2,
        9,
        4,
        3,
    )


def test_the_progress_line_counts_rate_and_eta(monkeypatch):
    stream = io.StringIO()
    now = [0.0]
    monkeypatch.setattr(output.time, "monotonic", lambda: now[0])
    progress = cli.CountProgress("images", every=3.0, stream=stream)
    for now[0], done in ((0.0, 10), (2.0, 30), (4.0, 50)):
        progress(done, 50)  # At 2 s: not shown (a line every 3 s).
    progress.finish()  # The last state was shown: nothing more.
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("] 10/50 images")
    assert lines[1].endswith("] 50/50 images, 10 images/s, ETA 0s")
    assert progress.rate == 10.0


def test_bin_embed_then_bin_neighbours(trained, tmp_path):
    folder, workdir, encoder_path = (
        trained.folder,
        trained.workdir,
        trained.encoder_path,
    )
    # Checked before TensorFlow is imported.
    both = processes.run(
        [
            sys.executable,
            "bin/neighbours",
            f"--workdir={workdir}",
            f"--encoder={encoder_path}",
            f"--images={folder}",
            f"--query={folder}",
        ]
    )
    processes.assert_one_line_error(both, "exactly one of --workdir")
    out = str(tmp_path / "pictures")
    # An interrupted run (4 images in) that bin/embed resumes.
    with pytest.raises(_Interrupt):
        encoders.embed_images(
            folder,
            out,
            lambda: trained.by_export,
            "y,fc",
            batch_size=4,
            progress=_interrupted_after(1),
        )
    embedded = processes.run(
        [
            sys.executable,
            "bin/embed",
            f"--encoder={encoder_path}",
            f"--images={folder}",
            f"--out={out}",
            "--taps=y,fc",
        ]
    )
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    assert (
        f"Embedded 12 images (4 of them before) of {folder} with SavedModel"
        in embedded.stdout
    )
    assert f"{out}.fc.npy  fc, float32 [12, 1024]" in embedded.stdout
    assert f"Resuming {out}.partial: 4 of 12 images done" in embedded.stderr
    assert "12/12 images" in embedded.stderr and not os.path.exists(f"{out}.partial")
    query = os.path.join(folder, "album1", "deeper", "img001.jpg")
    grid = str(tmp_path / "grid.png")
    found = processes.run(
        [
            sys.executable,
            "bin/neighbours",
            f"--workdir={workdir}",
            f"--images={folder}",
            f"--query={query}",
            f"--embeddings={out}",
            "--k=3",
            f"--out={grid}",
        ]
    )
    assert found.returncode == 0, found.stderr[-3000:]
    lines = found.stdout.splitlines()
    assert lines[1].split() == ["rank", "similarity", "path"]
    assert lines[2].split() == ["1", "1.0000", query]
    assert len(lines) == 2 + 3 + 1 and lines[-1].endswith(grid)
    assert os.path.getsize(grid) > 0
