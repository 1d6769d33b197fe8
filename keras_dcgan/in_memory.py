"""In-memory training data, without TensorFlow: `EpochShuffledImages`."""

import keras
import numpy as np

from keras_dcgan import validation


class EpochShuffledImages(keras.utils.PyDataset):
    """Images (and labels) in batches whose order depends only on
    `(seed, epoch)`.

    Every epoch visits all images in a new order, the permutation drawn by
    `numpy.random.default_rng([seed, epoch])`. Because the order does not
    depend on how many epochs this object has already served, a run resumed
    at epoch `k` sees exactly the batches an uninterrupted run sees at
    epoch `k`. Call `set_epoch(epoch)` before each epoch (as PyTorch's
    `DistributedSampler.set_epoch`), or pass
    `keras_dcgan.callbacks.SetEpoch(data)` to `fit()`, as `train_run()` does.

    Works with `fit()` on every backend, without TensorFlow.

    Args:
        images: array `(num_images, height, width, channels)`, either
            `uint8` pixels (scaled to [-1, 1] per batch) or floats already
            in [-1, 1].
        batch_size: int. Images per batch; the last batch may be smaller.
        seed: int. Seed of the shuffles. Defaults to `0`.
        shuffle: bool. Whether to shuffle. Defaults to `True`.
        labels: optional int array `(num_images,)`; batches are then
            `(images, labels)`, for a class-conditional model.

    Example:

    ```python
    data = keras_dcgan.datasets.EpochShuffledImages(pixels, 256, seed=0)
    data.set_epoch(3)
    first_batch = data[0]  # float32 in [-1, 1]
    ```
    """

    def __init__(self, images, batch_size, seed=0, shuffle=True, labels=None):
        super().__init__(workers=1, use_multiprocessing=False)
        images = np.asarray(images)
        if images.ndim != 4 or len(images) == 0:
            raise ValueError(
                "`images` must be a non-empty array (num_images, height, "
                f"width, channels). Received: images.shape={images.shape}"
            )
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(images),):
                raise ValueError(
                    "`labels` must hold one label per image. Expected: "
                    f"shape ({len(images)},). Received: labels.shape="
                    f"{labels.shape}"
                )
            labels = labels.astype("int32")
        self.images = images
        self.labels = labels
        self.batch_size = validation.positive_int("batch_size", batch_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.epoch = 0
        self._order = None

    def set_epoch(self, epoch):
        """Selects the order of epoch `epoch` (0-based)."""
        self.epoch = int(epoch)
        self._order = None

    def order(self):
        """The permutation of the image indices for the current epoch."""
        if self._order is None:
            if self.shuffle:
                rng = np.random.default_rng([self.seed, self.epoch])
                self._order = rng.permutation(len(self.images))
            else:
                self._order = np.arange(len(self.images))
        return self._order

    @property
    def num_batches(self):
        return -(-len(self.images) // self.batch_size)

    def __len__(self):
        return self.num_batches

    def __getitem__(self, index):
        if not 0 <= index < self.num_batches:
            raise IndexError(
                f"Batch index out of range [0, {self.num_batches}). "
                f"Received: index={index}"
            )
        start = index * self.batch_size
        indices = self.order()[start : start + self.batch_size]
        batch = self.images[indices]
        if batch.dtype == np.uint8:
            batch = batch.astype("float32") * (1.0 / 127.5) - 1.0
        batch = batch.astype("float32")
        if self.labels is None:
            return batch
        return batch, self.labels[indices]
