"""Checks of single config values, each a one-line `UserError` naming the field.

The building blocks of every section's checks; TensorFlow-free.
"""

import numbers

from dim_tf.errors import UserError


def choice(field, value, allowed):
    if value not in allowed:
        raise UserError(
            f"unknown {field} {value!r}; choose one of {', '.join(allowed)}"
        )


def is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(field, value, minimum=1, optional=False, note=""):
    """Raises unless `value` is an int >= `minimum` (or None when `optional`)."""
    if optional and value is None:
        return
    if not is_int(value) or value < minimum:
        raise UserError(f"{field} must be an integer >= {minimum}{note}, got {value!r}")


def is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_number(field, value):
    if not is_real(value) or not value > 0:
        raise UserError(f"{field} must be > 0, got {value!r}")


def text(field, value, optional=False, what="a non-empty string"):
    if optional and value is None:
        return
    if not isinstance(value, str) or not value.strip():
        unset = " or leave it unset (None)" if optional else ""
        raise UserError(f"{field} is {value!r}; set it to {what}{unset}")


def flag(field, value):
    if not isinstance(value, bool):
        raise UserError(f"{field} must be True or False, got {value!r}")


def fraction(field, value, top=1.0, closed=True):
    """Raises unless `value` is a number in [0, top] ([0, top) unless `closed`)."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not number or not (0 <= value <= top if closed else 0 <= value < top):
        bracket = "]" if closed else ")"
        raise UserError(f"{field} must be in [0, {top:g}{bracket}, got {value!r}")


def parse_names(field, text, allowed):
    """`"conv, y"` -> `("conv", "y")`, in the order of `allowed`.

    Args:
      field: the config field, for the message ("eval.taps").
      text: comma-separated names (or a list / tuple of names).
      allowed: the valid names.

    Raises:
      UserError: an unknown or missing name.
    """
    names = text.split(",") if isinstance(text, str) else list(text or ())
    names = [name.strip() for name in names if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        # What was given when it names nothing (e.g. None from
        # `--config.eval.kinds=None`), else the names not allowed.
        given = f"names none ({text!r})" if not names else repr(",".join(unknown))
        raise UserError(
            f"{'unknown ' if names else ''}{field} {given}; choose one or more of "
            f"{', '.join(allowed)} (comma-separated)"
        )
    return tuple(name for name in allowed if name in names)


def parse_numbers(field, text, what, maximum=None, empty=False):
    """`"0.01, 0.1"` -> `(0.01, 0.1)`: positive numbers, sorted, without repeats.

    Args:
      field: the config field, for the message ("eval.svm.cs").
      text: comma-separated numbers.
      what: what the numbers are, for the message ("fractions in (0, 1]").
      maximum: the largest allowed value, or None.
      empty: whether "" (no numbers) is allowed.

    Raises:
      UserError: text that is not such a list.
    """
    parts = text.split(",") if isinstance(text, str) else None
    try:
        numbers_ = sorted({float(part) for part in parts if part.strip()})
    except (TypeError, ValueError):
        numbers_ = None
    bad = (
        numbers_ is None
        or (not numbers_ and not empty)
        or any(not 0 < n < float("inf") for n in numbers_)
        or (maximum is not None and any(n > maximum for n in numbers_))
    )
    if bad:
        blank = ', or "" for none' if empty else ""
        raise UserError(f"{field} is {text!r}; set it to comma-separated {what}{blank}")
    return tuple(numbers_)
