"""`SetEpoch`: tells the data which epoch begins."""

import keras


class SetEpoch(keras.callbacks.Callback):
    """Calls `data.set_epoch(epoch)` at the start of every epoch.

    For data whose order is a function of the epoch, such as
    `keras_dcgan.datasets.EpochShuffledImages` (as PyTorch's
    `DistributedSampler.set_epoch`): with it, a run resumed with
    `fit(initial_epoch=k)` sees the batches an uninterrupted run sees.

    Args:
        data: any object with a `set_epoch(epoch)` method.

    Example:

    ```python
    data = keras_dcgan.datasets.EpochShuffledImages(pixels, 64, seed=0)
    model.fit(data, epochs=5, callbacks=[keras_dcgan.callbacks.SetEpoch(data)])
    ```
    """

    def __init__(self, data):
        super().__init__()
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        self.data.set_epoch(epoch)
