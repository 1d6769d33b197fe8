"""Sample quality: feature extractors, metrics, reports, best checkpoint.

Metrics work on two float64 feature arrays `(n, d)`; the feature
extractors turn images in [-1, 1] into such arrays; `quality_report` does
both for a generator and prints every number beside the real-vs-real value
at the same sample counts.
"""

from keras_dcgan.evaluation.callback import BestKIDCheckpoint
from keras_dcgan.evaluation.features import (
    EVALUATOR_WEIGHTS,
    build_fashion_mnist_evaluator,
    build_inception_feature_extractor,
    build_random_feature_extractor,
    extract_features,
    feature_model,
    load_fashion_mnist_evaluator,
)
from keras_dcgan.evaluation.metrics import (
    frechet_distance,
    frechet_distance_from_statistics,
    kernel_distance,
    memorization,
    nearest_neighbour_distances,
    precision_recall_density_coverage,
)
from keras_dcgan.evaluation.report import (
    METRIC_NAMES,
    class_agreement,
    compare_features,
    format_report,
    generate_images,
    per_class_accuracy,
    quality_report,
    split_real,
    write_report_json,
)

__all__ = [
    "BestKIDCheckpoint",
    "EVALUATOR_WEIGHTS",
    "METRIC_NAMES",
    "build_fashion_mnist_evaluator",
    "build_inception_feature_extractor",
    "build_random_feature_extractor",
    "class_agreement",
    "compare_features",
    "extract_features",
    "feature_model",
    "format_report",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "generate_images",
    "kernel_distance",
    "load_fashion_mnist_evaluator",
    "memorization",
    "nearest_neighbour_distances",
    "per_class_accuracy",
    "precision_recall_density_coverage",
    "quality_report",
    "split_real",
    "write_report_json",
]
