"""The split settings of a directory dataset, sliced and joined as TFDS splits are.

TFDS's syntax (`tfds.core.ReadInstruction`): "train", "train[:80%]",
"train+extra"; a slice is a range of the split's fixed mixed order (classes
mixed). An unlabeled split's `[fit]` / `[held_out]` part comes last.
"""

import dataclasses
import re

import tensorflow_datasets as tfds

from dim_tf.errors import UserError

_PART = re.compile(r"^(.*)\[(fit|held_out)\]$")
# What a split setting may look like, for the error messages.
SYNTAX = (
    "a split folder, e.g. train, train[:80%], train[80%:], train[:1000], train+extra"
)


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """One split setting, parsed.

    Attributes:
      text: the setting as given.
      folders: the split folders (or TFRecord splits) it reads, in order.
      part: "fit", "held_out" or None (an unlabeled split's part).
      instruction: its `tfds.core.ReadInstruction`; None: a whole split.
    """

    text: str
    folders: tuple
    part: str = None
    instruction: object = None

    def ranges(self, counts):
        """The examples it reads: `[(folder, start, stop)]`, in order.

        Args:
          counts: folder -> its number of examples (each of `folders`).

        Raises:
          UserError: a slice outside a folder's examples.
        """
        if self.instruction is None:
            return [(folder, 0, counts[folder]) for folder in self.folders]
        infos = {
            folder: tfds.core.SplitInfo(
                name=folder,
                shard_lengths=[counts[folder]],
                num_bytes=0,
                filename_template=None,
            )
            for folder in self.folders
        }
        try:
            absolute = self.instruction.to_absolute(infos)
        except (ValueError, AssertionError) as error:
            found = ", ".join(f"{f}: {counts[f]}" for f in self.folders)
            raise UserError(
                f"split {self.text!r} does not fit the examples there ({found}): "
                f"{str(error).splitlines()[0]}"
            ) from None
        return [
            (
                piece.splitname,
                piece.from_ or 0,
                counts[piece.splitname] if piece.to is None else piece.to,
            )
            for piece in absolute
        ]


def parse(text):
    """`SplitSpec` of a split setting; a one-line `UserError` if it is not one."""
    match = _PART.match(text)
    rest, part = (match.group(1), match.group(2)) if match else (text, None)
    if "[" not in rest and "+" not in rest:
        return SplitSpec(text, (rest,), part)
    try:
        instruction = tfds.core.ReadInstruction.from_spec(rest)
    except (ValueError, AssertionError):
        raise UserError(f"split {text!r} cannot be read; use {SYNTAX}") from None
    folders = tuple(
        dict.fromkeys(
            re.split(r"[\[(]", piece, maxsplit=1)[0].strip()
            for piece in rest.split("+")
        )
    )
    return SplitSpec(text, folders, part, instruction)


def folders_of(texts):
    """The split folders that the split settings `texts` read, each once, in order."""
    return tuple(dict.fromkeys(f for text in texts for f in parse(text).folders))
