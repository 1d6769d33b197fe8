"""Argument checks worded the Keras way: what is wrong, what was received."""

import numbers


def positive_int(name, value):
    """Returns `value` as an int, or raises if it is not a positive integer."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value <= 0
    ):
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def one_of(name, value, choices):
    """Returns `value`, or raises if it is not one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}. "
            f"Received: {name}={value!r}"
        )
    return value


class SkippedImageWarning(UserWarning):
    """Unreadable, corrupt or oversized image files were skipped.

    The loaders skip such files with one warning. To fail instead, turn the
    warning into an error:

    ```python
    warnings.filterwarnings(
        "error", category=keras_dcgan.validation.SkippedImageWarning
    )
    ```
    """
