"""Data-parallel training on each backend's engine, in worker processes.

Each test starts fresh processes (device counts and process groups are
fixed at start-up) that bind only to 127.0.0.1 and are killed on timeout.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.distributed

COMMON = """
import json, os, sys
import keras, numpy as np
import keras_dcgan

def build(**kw):
    keras.utils.set_random_seed(0)
    return keras_dcgan.DCGAN(
        keras_dcgan.build_generator(8, (16, 16, 3), filters=4, **kw),
        keras_dcgan.build_discriminator((16, 16, 3), filters=4, **kw),
        latent_dim=8, seed=0, ema_decay=0.9)

def weights(model):
    return [keras.ops.convert_to_numpy(v).tolist() for v in model.weights]

IMAGES = np.random.default_rng(0).uniform(-1, 1, (24, 16, 16, 3))
IMAGES = IMAGES.astype("float32")
"""

TF_MIRRORED = (
    COMMON
    + """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

single = build(synchronized_batch_norm=True)
single.compile()
initial = single.get_weights()
single_logs = single.fit(IMAGES, batch_size=8, shuffle=False, verbose=0)

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored = build(synchronized_batch_norm=True)
    mirrored.compile()
    mirrored.set_weights(initial)
data = tf.data.Dataset.from_tensor_slices(IMAGES).batch(8)
mirrored_logs = mirrored.fit(data, verbose=0)
noise = strategy.run(lambda: mirrored._noise(4))
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "single": weights(single), "mirrored": weights(mirrored),
    "single_logs": single_logs.history, "mirrored_logs": mirrored_logs.history,
    "noise": [keras.ops.convert_to_numpy(n).tolist()
              for n in strategy.experimental_local_results(noise)],
}))
"""
)

TF_MULTI_WORKER = (
    COMMON
    + """
import tensorflow as tf
from keras_dcgan import distribution
with distribution.distribute("auto"):
    model = build(synchronized_batch_norm=True)
    model.compile()
model.fit(tf.data.Dataset.from_tensor_slices(IMAGES[:16]).batch(8), verbose=0)
print(json.dumps({"weights": weights(model)}))
"""
)

JAX_DATA_PARALLEL = (
    COMMON
    + """
import jax
from keras_dcgan import distribution
single = build()
single.compile()
initial = single.get_weights()
single_logs = single.fit(IMAGES, batch_size=8, shuffle=False, verbose=0)
with distribution.distribute("auto"):
    parallel = build()
    parallel.compile()
    parallel.set_weights(initial)
parallel_logs = parallel.fit(IMAGES, batch_size=8, shuffle=False, verbose=0)
print(json.dumps({
    "devices": len(jax.devices()),
    "distribution": type(keras.distribution.distribution()).__name__,
    "single": weights(single), "mirrored": weights(parallel),
    "single_logs": single_logs.history, "mirrored_logs": parallel_logs.history,
}))
"""
)

TORCH_DDP = (
    COMMON
    + """
import tensorflow as tf
import torch.distributed as dist
from keras_dcgan import distribution
with distribution.distribute("torch-ddp"):
    model = build()
    model.compile()
model._sync_replicas = os.environ["SYNC"] == "1"
rank, world_size = distribution.rank_and_world_size()
data = distribution.shard(tf.data.Dataset.from_tensor_slices(IMAGES).batch(4))
logs = model.fit(data, verbose=0).history
noise = keras.ops.convert_to_numpy(model._noise(4)).tolist()
print(json.dumps({"rank": rank, "world_size": world_size, "logs": logs,
                  "weights": weights(model), "noise": noise}))
dist.destroy_process_group()
"""
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_workers(code, envs, timeout=240):
    """Runs one process per env; returns their JSON reports, in order."""
    procs = []
    for env in envs:
        full = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env)
        full.setdefault("KERAS_BACKEND", keras.backend.backend())
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=full,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    reports = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err[-3000:]
            reports.append(json.loads(out.splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return reports


def assert_same_training(report, rtol, atol):
    for a, b in zip(report["single"], report["mirrored"]):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol)
    for name, values in report["single_logs"].items():
        np.testing.assert_allclose(
            report["mirrored_logs"][name], values, rtol=rtol, err_msg=name
        )


def only_on(backend):
    return pytest.mark.skipif(
        keras.backend.backend() != backend, reason=f"{backend} engine"
    )


@only_on("tensorflow")
def test_mirrored_strategy_matches_single_device():
    (report,) = run_workers(TF_MIRRORED, [{}])
    assert report["replicas"] == 2
    # Same global batches, same noise, synchronised BatchNorm: the same
    # three steps up to float summation order.
    assert_same_training(report, rtol=1e-4, atol=1e-6)
    first, second = (np.array(n) for n in report["noise"])
    assert first.shape == second.shape == (4, 1, 1, 8)
    assert not np.allclose(first, second)


@only_on("tensorflow")
def test_multi_worker_mirrored_keeps_workers_identical():
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    envs = [
        {
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": i}}
            )
        }
        for i in range(2)
    ]
    first, second = run_workers(TF_MULTI_WORKER, envs)
    # Kernels, BatchNorm parameters and (synchronised) moving statistics.
    for a, b in zip(first["weights"], second["weights"]):
        np.testing.assert_array_equal(a, b)


@only_on("jax")
def test_jax_data_parallel_matches_single_device():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    (report,) = run_workers(JAX_DATA_PARALLEL, [env])
    assert report["devices"] == 2
    assert report["distribution"] == "DataParallel"
    # Sharded reductions sum in another order; Adam's normalised steps turn
    # that into differences of up to about 1e-5 on weights of about 0.02.
    assert_same_training(report, rtol=1e-4, atol=2e-5)


@only_on("torch")
@pytest.mark.parametrize("sync", [True, False])
def test_torch_ddp_keeps_ranks_identical(sync):
    port = str(free_port())
    envs = [
        {
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "SYNC": "1" if sync else "0",
        }
        for rank in range(2)
    ]
    first, second = run_workers(TORCH_DDP, envs)
    assert (first["rank"], second["rank"]) == (0, 1)
    assert not np.allclose(first["noise"], second["noise"])
    same = all(
        np.array_equal(a, b)
        for a, b in zip(first["weights"], second["weights"])
    )
    # With averaging off the ranks see different shards and drift apart:
    # the test can fail.
    assert same == sync
    if sync:
        assert first["logs"] == second["logs"]


EXAMPLE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "examples",
    "distributed.py",
)
LAUNCHES = {
    "tensorflow": ([sys.executable, EXAMPLE, "--distribute=mirrored"], {}),
    "jax": (
        [sys.executable, EXAMPLE, "--distribute=data-parallel"],
        {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    ),
    "torch": (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node=2",
            "--master-addr=127.0.0.1",
            f"--master-port={free_port()}",
            EXAMPLE,
            "--distribute=torch-ddp",
        ],
        {},
    ),
}


def test_example_launch_command(tmp_path):
    command, env = LAUNCHES[keras.backend.backend()]
    result = subprocess.run(
        command + ["--dry-run", f"--output={tmp_path / 'model.keras'}"],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    world_size = 2 if keras.backend.backend() == "torch" else 1
    assert f"world_size={world_size}" in result.stdout
    assert (tmp_path / "model.keras").exists()
