"""Throughput of the keras-dcgan data pipeline on the Pokemon stand-in.

Measures the first pass (read, decode, composite, resize, cache) and later
epochs served from the decoded `uint8` cache, in images per second.

Usage:

```
python benchmarks/data_pipeline.py [--path ../shared/data/pokemon/pokemon.zip]
    [--batch-size 256] [--image-size 64] [--epochs 3] [--cache-file F.npy]
```
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def default_path():
    shared = os.environ.get("KERAS_DCGAN_SHARED_DATA") or (
        Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    return str(Path(shared) / "pokemon" / "pokemon.zip")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=default_path())
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
        path=args.path,
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
