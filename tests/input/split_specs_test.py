"""Split settings of directory datasets: TFDS's slicing and joining, parsed and resolved."""

import pytest

from dim_tf.errors import UserError
from dim_tf.input import split_specs


@pytest.mark.parametrize(
    "text, folders, part, ranges",
    [
        ("train", ("train",), None, [("train", 0, 50)]),
        ("train[:80%]", ("train",), None, [("train", 0, 40)]),
        ("train[80%:]", ("train",), None, [("train", 40, 50)]),
        ("train[10:20]", ("train",), None, [("train", 10, 20)]),
        ("train[-5:]", ("train",), None, [("train", 45, 50)]),
        ("train+extra", ("train", "extra"), None, [("train", 0, 50), ("extra", 0, 7)]),
        (
            "train[:2]+extra[-1:]",
            ("train", "extra"),
            None,
            [("train", 0, 2), ("extra", 6, 7)],
        ),
        ("train[held_out]", ("train",), "held_out", [("train", 0, 50)]),
        ("train[:50%][fit]", ("train",), "fit", [("train", 0, 25)]),
        ("my photos", ("my photos",), None, [("my photos", 0, 50)]),
    ],
)
def test_a_split_setting_names_its_folders_and_ranges(text, folders, part, ranges):
    spec = split_specs.parse(text)
    assert (spec.folders, spec.part) == (folders, part)
    assert spec.ranges({"train": 50, "extra": 7, "my photos": 50}) == ranges


def test_folders_of_several_settings_are_listed_once_in_order():
    texts = ["train[:80%]", "train[80%:]", "test+train"]
    assert split_specs.folders_of(texts) == ("train", "test")


@pytest.mark.parametrize("text", ["train[abc]", "train[:80%", "train[1:2:3]"])
def test_a_setting_that_is_not_a_split_is_a_one_line_error(text):
    with pytest.raises(UserError) as error:
        split_specs.parse(text)
    message = str(error.value)
    assert "\n" not in message
    assert repr(text) in message and "train[:80%]" in message


def test_a_slice_beyond_the_examples_is_a_one_line_error():
    spec = split_specs.parse("train[:1000]")
    with pytest.raises(UserError) as error:
        spec.ranges({"train": 45})
    message = str(error.value)
    assert "\n" not in message
    assert "'train[:1000]'" in message and "train: 45" in message
