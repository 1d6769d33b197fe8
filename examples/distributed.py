"""
Title: Data-parallel DCGAN training on several devices or machines
Description: The chapter's DCGAN trained by the engine of the active backend.

## Introduction

`keras_dcgan.distribution.distribute(mode)` returns a context under which the
model is built and compiled; `fit()` then runs data-parallel with the same
training step. The engine follows the backend: `tf.distribute` strategies on
TensorFlow, `keras.distribution.DataParallel` on JAX, a `torch.distributed`
process group on PyTorch. `docs/scaling.md` gives the launch commands for
one machine and for several.

`--dry-run` trains two steps on random images, to check a launch.
"""

import argparse

import keras

import keras_dcgan
from keras_dcgan import datasets, distribution

"""
## Hyperparameters

The chapter's recipe. `--batch-size` is the global batch: TensorFlow and JAX
split it across devices; with torch-ddp each process reads its own shard of
`batch_size // world_size` examples per step.
"""


def parse_args():
    parser = argparse.ArgumentParser(description="Data-parallel DCGAN.")
    parser.add_argument(
        "--distribute", default="auto", choices=distribution.MODES
    )
    parser.add_argument("--data", help="Pokemon zip or folder (offline copy)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--output", default="dcgan.keras")
    parser.add_argument("--dry-run", action="store_true")
    return parser.parse_args()


"""
## Build under the engine's scope, train, save from the first process
"""


def main():
    args = parse_args()
    image_shape = (16, 16, 3) if args.dry_run else (64, 64, 3)
    with distribution.distribute(args.distribute):
        _, world_size = distribution.rank_and_world_size()
        keras.utils.set_random_seed(0)  # the same initial weights everywhere
        model = keras_dcgan.DCGAN(
            keras_dcgan.build_generator(100, image_shape),
            keras_dcgan.build_discriminator(image_shape),
            latent_dim=100,
            seed=0,
        )
        model.compile()
    batch_size = args.batch_size // world_size
    if args.dry_run:
        dataset = datasets.fake_dataset(
            num_examples=4 * world_size,
            image_shape=image_shape,
            batch_size=2,
            drop_remainder=True,
        )
    else:
        dataset = datasets.load_pokemon(
            batch_size=batch_size, path=args.data, seed=0, drop_remainder=True
        )
    history = model.fit(
        distribution.shard(dataset),
        epochs=1 if args.dry_run else args.epochs,
        verbose=2,
    )
    rank, _ = distribution.rank_and_world_size()
    if rank == 0:
        model.save(args.output)
    print(
        f"mode={distribution.resolve_mode(args.distribute)} "
        f"world_size={world_size} d_loss={history.history['d_loss'][-1]:.4f}"
    )


"""
## Conclusion

The same `DCGAN` trains on one device or many: only the context differs.
"""

if __name__ == "__main__":
    main()
