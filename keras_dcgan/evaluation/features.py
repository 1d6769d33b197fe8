"""Feature extractors: images in [-1, 1] to one feature vector per image."""

import os

import keras
import numpy as np

from keras_dcgan import validation

EVALUATOR_WEIGHTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "fashion_mnist_evaluator.weights.h5",
)
EVALUATOR_IMAGE_SHAPE = (32, 32, 1)
EVALUATOR_FEATURES = "features"
INCEPTION_WEIGHTS_FILE = (
    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
INCEPTION_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/"
    "inception_v3/" + INCEPTION_WEIGHTS_FILE
)


def build_fashion_mnist_evaluator(num_classes=10, name="evaluator"):
    """Builds the untrained Fashion-MNIST evaluator CNN.

    A small VGG-style classifier of 32x32 grayscale images in [-1, 1]:
    two 3x3 convolutions of 32 channels, pooling, two of 64, pooling, one of
    128, then global average pooling. The pooled 128 numbers, named
    `"features"`, are the features the quality metrics compare; a dropout
    and a dense layer turn them into class logits.

    Args:
        num_classes: int. Number of classes. Defaults to `10`.
        name: string. Name of the model. Defaults to `"evaluator"`.

    Returns:
        A functional `keras.Model` from `(batch, 32, 32, 1)` images to
        `(batch, num_classes)` logits.

    Example:

    ```python
    model = build_fashion_mnist_evaluator()
    logits = model(np.zeros((2, 32, 32, 1), "float32"))  # (2, 10)
    ```
    """
    inputs = keras.Input(EVALUATOR_IMAGE_SHAPE)
    x = inputs
    for i, filters in enumerate((32, 32, 64, 64, 128)):
        x = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=False, name=f"conv{i}"
        )(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        if i in (1, 3):
            x = keras.layers.MaxPooling2D(name=f"pool{i}")(x)
    features = keras.layers.GlobalAveragePooling2D(name=EVALUATOR_FEATURES)(x)
    x = keras.layers.Dropout(0.3, name="dropout")(features)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def load_fashion_mnist_evaluator(weights=None):
    """Loads the shipped Fashion-MNIST evaluator.

    The weights were trained on the 60,000 training images of Fashion-MNIST
    by `benchmarks/train_fashion_evaluator.py`; the script prints the
    accuracy on the 10,000 test images (see `docs/quality.md`).

    Args:
        weights: optional path to another `.weights.h5` file for the same
            architecture. Defaults to the file shipped with the package.

    Returns:
        A tuple `(classifier, extractor)`: the classifier maps `(batch, 32,
        32, 1)` images in [-1, 1] to 10 class logits; the extractor maps them
        to the 128 `"features"`.

    Example:

    ```python
    classifier, extractor = load_fashion_mnist_evaluator()
    features = extract_features(extractor, images)  # (n, 128) float64
    ```
    """
    weights = EVALUATOR_WEIGHTS if weights is None else os.fspath(weights)
    if not os.path.exists(weights):
        raise FileNotFoundError(
            "The Fashion-MNIST evaluator weights file was not found; train it "
            "with `python benchmarks/train_fashion_evaluator.py`. "
            f"Received: weights={weights!r}"
        )
    classifier = build_fashion_mnist_evaluator()
    classifier.load_weights(weights)
    return classifier, feature_model(classifier, EVALUATOR_FEATURES)


def feature_model(model, layer_name):
    """A model sharing `model`'s weights that outputs one layer's output.

    Args:
        model: a functional `keras.Model`.
        layer_name: string. Name of the layer whose output is the features.

    Returns:
        A functional `keras.Model` from `model`'s inputs to that layer's
        output, flattened to `(batch, features)` if needed.
    """
    output = model.get_layer(layer_name).output
    if len(output.shape) > 2:
        output = keras.layers.Flatten()(output)
    return keras.Model(model.input, output, name=f"{model.name}_features")


def build_random_feature_extractor(image_shape, seed=0, name="random_cnn"):
    """A fixed random-weight CNN: the fallback for data with no evaluator.

    For unlabeled data such as Pokemon sprites there is no classifier to
    borrow features from, and InceptionV3's ImageNet weights may not be
    available. This extractor is four stride-2 3x3 convolutions (32, 64,
    128, 256 channels, He-normal weights drawn from `seed`, ReLU), and its
    features are the global averages of every block's output, concatenated
    (480 numbers).

    Its weakness: the weights were never trained, so the features describe
    edges, colours and textures, not objects. Distances computed with it
    rank gross failures (noise, collapse, wrong colours) correctly but are
    blind to semantic errors such as a sprite with two heads, and the
    numbers are comparable only between runs that use the same
    `image_shape` and `seed`. Report them as "random-CNN FID", never as FID.

    Args:
        image_shape: tuple `(height, width, channels)` of the images.
        seed: int. Seed of the weights. Defaults to `0`.
        name: string. Name of the model.

    Returns:
        A functional `keras.Model` from images in [-1, 1] to `(batch, 480)`
        features.

    Example:

    ```python
    extractor = build_random_feature_extractor((64, 64, 3), seed=0)
    features = extract_features(extractor, images)
    ```
    """
    seed = int(seed)
    inputs = keras.Input(tuple(int(d) for d in image_shape))
    x, pooled = inputs, []
    for i, filters in enumerate((32, 64, 128, 256)):
        x = keras.layers.Conv2D(
            filters,
            3,
            strides=2,
            padding="same",
            kernel_initializer=keras.initializers.HeNormal(seed=seed + i),
            name=f"conv{i}",
        )(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        pooled.append(keras.layers.GlobalAveragePooling2D(name=f"gap{i}")(x))
    outputs = keras.layers.Concatenate(name="features")(pooled)
    return keras.Model(inputs, outputs, name=name)


def _inception_weights_path():
    cache = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return os.path.join(cache, "models", INCEPTION_WEIGHTS_FILE)


def _can_reach(url, timeout):
    import socket
    import urllib.parse

    host = urllib.parse.urlparse(url).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def build_inception_feature_extractor(
    image_shape, download=True, timeout=5.0, name="inception_v3"
):
    """Keras's ImageNet InceptionV3 pool features (FID's architecture).

    The images are resized to 299x299 (bilinear), gray images are repeated
    to three channels, and the 2,048 global-average-pooled features of
    `keras.applications.InceptionV3` with its ImageNet weights are
    returned. This is the architecture and the pool layer FID uses, but
    not its network: the published FID runs the TensorFlow FID-Inception
    graph, whose weights (and resize) differ from Keras's. A distance on
    these features is therefore not the published FID and must not be
    compared with published FID numbers; report it as an InceptionV3
    feature distance.

    Args:
        image_shape: tuple `(height, width, channels)` of the images, with 1
            or 3 channels, in [-1, 1].
        download: bool. Whether to download the weights (about 87 MB) when
            they are not cached in `~/.keras/models`. Defaults to `True`.
        timeout: float. Seconds to wait for the download server before
            giving up. Defaults to `5.0`.
        name: string. Name of the model.

    Returns:
        A functional `keras.Model` from images to `(batch, 2048)` features.

    Raises:
        ConnectionError: if the weights are not cached and cannot be
            downloaded (for example offline), with the file to copy.

    Example:

    ```python
    extractor = build_inception_feature_extractor((64, 64, 3))
    ```
    """
    height, width, channels = (int(d) for d in image_shape)
    if channels not in (1, 3):
        raise ValueError(
            "InceptionV3 takes images with 1 or 3 channels. "
            f"Received: image_shape={tuple(image_shape)}"
        )
    cached = _inception_weights_path()
    if not os.path.exists(cached) and not (
        download and _can_reach(INCEPTION_WEIGHTS_URL, timeout)
    ):
        raise ConnectionError(
            "InceptionV3's ImageNet weights are not cached and cannot be "
            "downloaded (offline?). Download "
            f"{INCEPTION_WEIGHTS_URL} on a connected machine and copy it to "
            f"{cached}, or use the Fashion-MNIST evaluator or "
            "`build_random_feature_extractor`. "
            f"Received: download={download}"
        )
    inputs = keras.Input((height, width, channels))
    x = keras.layers.Resizing(299, 299, interpolation="bilinear")(inputs)
    if channels == 1:
        x = keras.layers.Concatenate()([x, x, x])
    backbone = keras.applications.InceptionV3(
        include_top=False, weights="imagenet", pooling="avg"
    )
    # Inception's preprocessing maps [0, 255] to [-1, 1]: our images
    # already are in [-1, 1].
    return keras.Model(inputs, backbone(x), name=name)


def extract_features(extractor, images, batch_size=256):
    """Runs a feature extractor over images, batch by batch.

    Args:
        extractor: a `keras.Model` from images to `(batch, ...)` features.
        images: array `(n, height, width, channels)` of images in [-1, 1].
        batch_size: int. Images per call. Defaults to `256`.

    Returns:
        A float64 NumPy array `(n, features)`.
    """
    images = np.asarray(images, dtype="float32")
    batch_size = validation.positive_int("batch_size", batch_size)
    expected = tuple(extractor.input_shape[1:])
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise ValueError(
            "The images must have the feature extractor's input shape "
            f"(n, {', '.join(map(str, expected))}). "
            f"Received: images.shape={images.shape}"
        )
    if not len(images):
        raise ValueError("`images` must not be empty. Received: 0 images")
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        count = len(batch)
        # Pad to a power of two: few distinct shapes, so JAX and TensorFlow
        # trace (and compile) the network a few times, not once per size.
        padded = min(batch_size, 1 << (count - 1).bit_length())
        if padded > count:
            filler = np.zeros((padded - count,) + expected, "float32")
            batch = np.concatenate([batch, filler])
        out = keras.ops.convert_to_numpy(extractor.predict_on_batch(batch))
        outputs.append(out[:count].reshape(count, -1))
    return np.concatenate(outputs).astype("float64")
