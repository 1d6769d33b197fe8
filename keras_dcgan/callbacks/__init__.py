"""Callbacks for training a DCGAN: watching it, guarding it, checkpointing it.

- `ImageGrid`, `LossCurves` and `TrainingSummary` show how training goes:
  the chapter's grid of generated images, its loss curves and its summary
  line.
- `StopOnNonFinite` and `TrainingHealth` guard a long run: a NaN stop and
  warnings when the discriminator wins or the generator collapses.
- `Checkpoint` writes the run folder's crash-safe checkpoint every epoch.
- `SetEpoch` tells data whose order depends on the epoch (such as
  `EpochShuffledImages`) which epoch begins, so that a resumed run sees the
  batches of an uninterrupted one.

Two callbacks live beside what they serve: `keras_dcgan.run_report.RunReport`
(the run folder's report page) and
`keras_dcgan.evaluation.BestKIDCheckpoint` (the best-checkpoint selection).

Everything here runs on the TensorFlow, JAX and PyTorch backends. The
callbacks read the model's weights in `on_epoch_end`, after Keras has
attached the training state to the model (on JAX, `Callback.model` syncs
it), and write every file atomically (`keras_dcgan.files`), so a reader or
a killed process never leaves a half-written file behind.
"""

from keras_dcgan.callbacks.checkpoint import Checkpoint
from keras_dcgan.callbacks.curves import LossCurves
from keras_dcgan.callbacks.health import (
    NonFiniteLossError,
    StopOnNonFinite,
    TrainingHealth,
    TrainingHealthWarning,
    nonfinite_variables,
    sample_diversity,
)
from keras_dcgan.callbacks.image_grid import ImageGrid
from keras_dcgan.callbacks.set_epoch import SetEpoch
from keras_dcgan.callbacks.summary import (
    TrainingSummary,
    device_name,
    summary_line,
)

__all__ = [
    "Checkpoint",
    "ImageGrid",
    "LossCurves",
    "NonFiniteLossError",
    "SetEpoch",
    "StopOnNonFinite",
    "TrainingHealth",
    "TrainingHealthWarning",
    "TrainingSummary",
    "device_name",
    "nonfinite_variables",
    "sample_diversity",
    "summary_line",
]
