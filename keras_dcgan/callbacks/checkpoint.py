"""`Checkpoint`: the run folder's crash-safe checkpoint, every epoch."""

import os
import warnings

import keras

from keras_dcgan import checkpoints, validation
from keras_dcgan.callbacks.health import (
    TrainingHealthWarning,
    nonfinite_variables,
)


class Checkpoint(keras.callbacks.Callback):
    """Writes the run's checkpoint after every epoch.

    See `keras_dcgan.checkpoints.write_checkpoint`. Weights holding NaN or
    infinity are not written (with a `TrainingHealthWarning`): the last
    good checkpoint stays the run's checkpoint.

    Args:
        directory: the run folder.
        config: dict. The run's hyper-parameters, stored with the
            checkpoint so that a resume can check them.
        history: dict `{metric: [value per epoch]}` of the epochs before
            this `fit()` (when resuming). Defaults to `None`.
        epochs: int or None. The number of epochs the run aims at, recorded
            so that a resume without a new target knows it.
        keep: int. How many epoch checkpoints to keep. Defaults to `1`.

    Example:

    ```python
    checkpoint = keras_dcgan.callbacks.Checkpoint("run", config={}, keep=3)
    model.fit(dataset, epochs=40, callbacks=[checkpoint])
    ```
    """

    def __init__(self, directory, config, history=None, epochs=None, keep=1):
        super().__init__()
        self.epochs = epochs
        self.keep = validation.positive_int("keep", keep)
        self.directory = os.fspath(directory)
        self.config = config
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            values = self.history.setdefault(name, [])
            del values[epoch:]
            values.extend([float("nan")] * (epoch - len(values)))
            values.append(float(value))
        bad = nonfinite_variables(self.model)
        if bad:  # Keep the last good checkpoint (`on_nan="continue"`).
            warnings.warn(
                f"Not writing the checkpoint of epoch {epoch + 1}: "
                f"{len(bad)} variables hold NaN or infinity (such as "
                f"{bad[0]!r}); the last good checkpoint is kept.",
                TrainingHealthWarning,
                stacklevel=2,
            )
            return
        try:
            checkpoints.write_checkpoint(
                self.model,
                self.directory,
                epoch + 1,
                self.config,
                self.history,
                epochs=self.epochs,
                keep=self.keep,
            )
        except OSError as error:
            record = checkpoints.read_checkpoint(self.directory)
            kept = (
                f"the checkpoint of epoch {record['epoch']} is intact; free "
                "some space and resume it (`resume=True`, `--resume`)"
                if record
                else "no earlier checkpoint exists"
            )
            raise OSError(
                error.errno,
                f"Could not write the checkpoint of epoch {epoch + 1} in "
                f"{self.directory} ({error.strerror or error}); {kept}",
            ) from error
