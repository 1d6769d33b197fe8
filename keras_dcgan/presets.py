"""Deprecated names of `keras_dcgan.recipes`.

Training recipes were called presets before; in Keras a preset is a trained
model (`keras_dcgan.DCGAN.from_preset`). These aliases warn and will go.
"""

import warnings

from keras_dcgan import recipes

_RENAMED = {
    "Preset": "Recipe",
    "PRESETS": "RECIPES",
    "get_preset": "get_recipe",
}


def __getattr__(name):
    if name not in _RENAMED:
        raise AttributeError(
            f"module 'keras_dcgan.presets' has no attribute {name!r}"
        )
    new_name = _RENAMED[name]
    warnings.warn(
        f"`keras_dcgan.presets.{name}` is deprecated; use "
        f"`keras_dcgan.recipes.{new_name}` instead.",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(recipes, new_name)
