"""`TrainingSummary`: the chapter's line of losses, speed and device."""

import platform
import time

import keras

from keras_dcgan import validation


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name():
    """Names the device the active Keras backend computes on.

    A GPU is named by its model (for example `"NVIDIA H100 80GB HBM3"`), a
    CPU as `"CPU (<processor model>)"`.

    Returns:
        A string.

    Example:

    >>> keras_dcgan.callbacks.device_name()
    'CPU (AMD EPYC)'
    """
    backend = keras.backend.backend()
    gpu = None
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            gpu = device.device_kind
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            gpu = details.get("device_name", gpus[0].name)
    if gpu:
        return gpu
    return f"CPU ({_cpu_name()})"


def summary_line(d_loss, g_loss, examples_per_sec, device=None):
    """Formats the chapter's end-of-training line.

    Args:
        d_loss: float. The discriminator's loss.
        g_loss: float. The generator's loss.
        examples_per_sec: float. Training throughput.
        device: string or None. Defaults to `device_name()`.

    Returns:
        A string such as
        `"loss_D 0.030, loss_G 6.885, 6447.8 examples/sec on CPU (...)"`.
    """
    if device is None:
        device = device_name()
    return (
        f"loss_D {float(d_loss):.3f}, loss_G {float(g_loss):.3f}, "
        f"{float(examples_per_sec):.1f} examples/sec on {device}"
    )


class TrainingSummary(keras.callbacks.Callback):
    """Prints the chapter's summary line at the end of training.

    `loss_D 0.030, loss_G 6.885, 6447.8 examples/sec on <device>`: the
    losses and throughput of the last epoch and the device of the active
    backend. The throughput counts `examples_per_epoch` over the wall time
    from the start to the end of the epoch (including the input pipeline,
    as the chapter's timer does).

    Args:
        examples_per_epoch: int. Training examples in one epoch.
        every_epoch: bool. Whether to print the line after every epoch too.
            Defaults to `False`.
        print_fn: function used to print. Defaults to `print`.

    Example:

    ```python
    summary = keras_dcgan.callbacks.TrainingSummary(examples_per_epoch=40597)
    model.fit(dataset, epochs=40, callbacks=[summary])
    print(summary.line)
    ```
    """

    def __init__(self, examples_per_epoch, every_epoch=False, print_fn=print):
        super().__init__()
        self.examples_per_epoch = validation.positive_int(
            "examples_per_epoch", examples_per_epoch
        )
        self.every_epoch = bool(every_epoch)
        self.print_fn = print_fn
        self.line = None
        self.examples_per_sec = None
        self._start = None
        self._device = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if "d_loss" not in logs or "g_loss" not in logs:
            return
        # Reading the losses waits for the epoch's computation to finish.
        d_loss, g_loss = float(logs["d_loss"]), float(logs["g_loss"])
        seconds = max(time.perf_counter() - self._start, 1e-9)
        self.examples_per_sec = self.examples_per_epoch / seconds
        if self._device is None:
            self._device = device_name()
        self.line = summary_line(
            d_loss, g_loss, self.examples_per_sec, self._device
        )
        if self.every_epoch:
            self.print_fn(self.line)

    def on_train_end(self, logs=None):
        if self.line is not None and not self.every_epoch:
            self.print_fn(self.line)
