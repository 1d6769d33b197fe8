"""Data-parallel training on the engine of the active Keras backend.

One switch, `distribute(mode)`, returns a context under which to build and
compile the model; `fit()` then trains on several devices or machines with
no change to the training step:

| mode | backend | engine |
| --- | --- | --- |
| `"mirrored"` | tensorflow | `tf.distribute.MirroredStrategy` (one machine) |
| `"multi-worker"` | tensorflow | `tf.distribute.MultiWorkerMirroredStrategy` |
| `"data-parallel"` | jax | `keras.distribution.DataParallel` |
| `"torch-ddp"` | torch | a `torch.distributed` process group |
| `"none"` | any | one device |

`"auto"` picks the active backend's engine when there is more than one
device or process to use (a `TF_CONFIG` variable, several GPUs, several JAX
devices, or `WORLD_SIZE > 1` from `torchrun`), else `"none"`.

With TensorFlow and JAX the batch size of the data given to `fit()` is the
global batch, which they split across devices. With `torch-ddp` every
process reads its own shard (pass the dataset through `shard()`), so the
global batch is `world_size` times each process's batch.

BatchNorm statistics: JAX computes them over the global batch (the step is
one program over the sharded batch); TensorFlow per replica unless the
networks are built with `synchronized_batch_norm=True`; torch-ddp per
process, with the moving statistics averaged across processes after each
step so every process keeps identical weights.
"""

import contextlib
import json
import os

import keras

MODES = (
    "auto",
    "none",
    "mirrored",
    "multi-worker",
    "data-parallel",
    "torch-ddp",
)
_ENGINES = {
    "mirrored": "tensorflow",
    "multi-worker": "tensorflow",
    "data-parallel": "jax",
    "torch-ddp": "torch",
}


def resolve_mode(mode="auto"):
    """Returns the concrete mode for `mode` on the active backend."""
    if mode not in MODES:
        raise ValueError(
            f"`mode` must be one of {', '.join(MODES)}. Received: mode={mode!r}"
        )
    backend = keras.backend.backend()
    if mode == "auto":
        return _auto_mode(backend)
    if mode != "none" and _ENGINES[mode] != backend:
        raise ValueError(
            f"Distribution mode {mode!r} needs the {_ENGINES[mode]} backend, "
            f"but Keras runs on {backend}. Set KERAS_BACKEND="
            f"{_ENGINES[mode]} or choose another mode. Received: mode={mode!r}"
        )
    return mode


def _auto_mode(backend):
    if backend == "tensorflow":
        import tensorflow as tf

        if "TF_CONFIG" in os.environ:
            workers = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
            if len(workers.get("worker", [])) > 1:
                return "multi-worker"
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return "mirrored"
    elif backend == "jax":
        if len(keras.distribution.list_devices()) > 1:
            return "data-parallel"
    elif backend == "torch":
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return "torch-ddp"
    return "none"


def distribute(mode="auto"):
    """Returns a context under which to build and compile a model.

    Args:
        mode: one of `"auto"`, `"none"`, `"mirrored"`, `"multi-worker"`,
            `"data-parallel"` or `"torch-ddp"` (see the module docstring).

    Returns:
        A context manager. Build the networks, the `DCGAN` and call
        `compile()` inside it; call `fit()` inside or after it.

    Example:

    ```python
    with keras_dcgan.distribution.distribute("auto"):
        model = keras_dcgan.DCGAN(
            keras_dcgan.build_generator(), keras_dcgan.build_discriminator()
        )
        model.compile()
    model.fit(keras_dcgan.distribution.shard(dataset), epochs=40)
    ```
    """
    mode = resolve_mode(mode)
    if mode == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    if mode == "multi-worker":
        import tensorflow as tf

        return tf.distribute.MultiWorkerMirroredStrategy().scope()
    if mode == "data-parallel":
        if "KERAS_DISTRIBUTION_NUM_PROCESSES" in os.environ:
            # Several hosts: join them first (reads the KERAS_DISTRIBUTION_*
            # variables), so DataParallel spans every host's devices.
            keras.distribution.initialize()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    elif mode == "torch-ddp":
        _init_process_group()
    return contextlib.nullcontext()


def _init_process_group():
    """Joins the process group described by torchrun's variables."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    missing = [
        name
        for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
        if name not in os.environ
    ]
    if missing:
        raise ValueError(
            "`torch-ddp` needs the variables torchrun sets; launch with "
            "`torchrun --nproc-per-node=N ...`. Missing: " + ", ".join(missing)
        )
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def rank_and_world_size():
    """`(rank, world_size)` of this process under torch-ddp, else `(0, 1)`."""
    if keras.backend.backend() == "torch":
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(dataset):
    """This process's shard of a `tf.data.Dataset` under torch-ddp.

    TensorFlow and JAX split batches themselves, so there `dataset` is
    returned unchanged; under torch-ddp each process keeps every
    `world_size`-th element, starting at its rank (whole batches, if
    `dataset` is batched).
    """
    rank, world_size = rank_and_world_size()
    if world_size == 1:
        return dataset
    return dataset.shard(world_size, rank)
