"""FILE.partial/, the state dim-embed resumes from, and the files made from it."""

import io
import os

import numpy as np

from dim_tf.embeddings import files, output_paths, partial


def _ident(**changes):
    names = ["a.png", "b\tc.png", "d.png", "e.png"]
    return {
        **partial.identity("SavedModel /m 1", ("y", "fc"), "/images", names),
        **changes,
    }


def _batch(start, count):
    rows = np.arange(start * 5, (start + count) * 5, dtype=np.float32)
    return {"y": rows.reshape(count, 5)[:, :2], "fc": rows.reshape(count, 5)[:, 2:]}


def test_a_reopened_state_is_cut_back_to_its_last_chunk(tmp_path):
    directory = str(tmp_path / "out.partial")
    said = []
    state = partial.Partial.open(directory, _ident(), say=said.append)
    assert (state.rows, state.position, said) == (0, 0, [])
    lines = [files.tsv_field(n) + "\n" for n in ("a.png", "b\tc.png")]
    state.append(_batch(0, 2), lines, 3, ["x.png"])
    state.close()
    # Bytes after the last chunk, as a killed run leaves them.
    for name in ("y.f32", "fc.f32", "names.tsv"):
        with open(os.path.join(directory, name), "ab") as f:
            f.write(b"0123456789")
    resumed = partial.Partial.open(directory, _ident(), say=said.append)
    assert (resumed.rows, resumed.position, resumed.skipped) == (2, 3, ["x.png"])
    assert resumed.resumed == 2 and resumed.dims == {"y": 2, "fc": 3}
    assert said == [f"Resuming {directory}: 3 of 4 images done by an earlier run"]
    resumed.append(_batch(2, 1), ["e.png\n"], 4, [])
    resumed.close()
    paths = output_paths(str(tmp_path / "out"), ("y", "fc"))
    files.write_streamed(resumed, paths)
    expected = _batch(0, 3)
    for tap in ("y", "fc"):
        # Byte for byte what np.save writes.
        saved = io.BytesIO()
        np.save(saved, expected[tap])
        with open(paths[tap], "rb") as f:
            assert f.read() == saved.getvalue()
    back = files.read_embeddings(str(tmp_path / "out"))
    assert back.names == ["a.png", "b\tc.png", "e.png"]


def test_another_identity_or_a_damaged_state_starts_afresh(tmp_path):
    directory = str(tmp_path / "out.partial")
    state = partial.Partial.open(directory, _ident())
    state.append(_batch(0, 1), ["a.png\n"], 1, [])
    state.close()
    said = []
    other = partial.Partial.open(
        directory, _ident(encoder="SavedModel /m 2"), say=said.append
    )
    assert other.rows == 0 and os.listdir(directory) == [partial.STATE]
    assert said == [
        f"{directory} holds an interrupted embedding with another encoder; "
        "starting afresh"
    ]
    with open(os.path.join(directory, partial.STATE), "w") as f:
        f.write("{")
    said = []
    assert partial.Partial.open(directory, _ident(), say=said.append).rows == 0
    assert said == [f"{directory} holds no readable state; starting afresh"]
    for changes, what in (
        ({"taps": ["y"]}, "other taps"),
        ({"listing": "0"}, "another listing of images"),
    ):
        said = []
        partial.Partial.open(directory, _ident(), overwrite=True).close()
        partial.Partial.open(directory, _ident(**changes), say=said.append)
        assert what in said[0]
