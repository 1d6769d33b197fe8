"""Throughput of the keras-dcgan data pipeline on the Pokemon sprites.

Measures the first pass (read, decode, composite, resize, cache) and later
epochs served from the decoded `uint8` cache, in images per second.

Usage:

```
python benchmarks/data_pipeline.py [--data pokemon.zip]
    [--batch-size 256] [--image-size 64] [--epochs 3] [--cache-file F.npy]
```

Without `--data` the d2l Pokemon zip is downloaded once into the Keras
cache, as `keras_dcgan.datasets.load_pokemon` does.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", metavar="PATH", help="pokemon.zip or its folder"
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=None)
    parser.add_argument("--cache-file", default=None)
    args = parser.parse_args(argv)

    from keras_dcgan import datasets

    start = time.perf_counter()
    dataset = datasets.load_pokemon(
        batch_size=args.batch_size,
        image_size=args.image_size,
        path=args.data,
        seed=0,
        cache_file=args.cache_file,
        num_workers=args.num_workers,
    )
    first = time.perf_counter() - start
    count = len(dataset.file_paths)
    print(f"images: {count} in {len(dataset.class_names)} classes")
    print(
        f"first pass (read + decode + resize + cache): {first:.2f} s, "
        f"{count / first:,.0f} images/s"
    )
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        seen = 0
        for batch in dataset.as_numpy_iterator():
            seen += len(batch)
        elapsed = time.perf_counter() - start
        print(
            f"epoch {epoch} from cache (shuffle + batch + float32 + "
            f"to NumPy): {elapsed:.2f} s, {seen / elapsed:,.0f} images/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
