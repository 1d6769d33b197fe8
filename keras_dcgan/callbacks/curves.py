"""`LossCurves`: the chapter's animator, as a PNG rewritten every epoch."""

import os

import keras
import numpy as np

from keras_dcgan.files import atomic_write


class LossCurves(keras.callbacks.Callback):
    """Plots the losses per epoch to a PNG rewritten after every epoch.

    The chapter's two-panel animator: the top panel shows `d_loss` and
    `g_loss` against the epoch; the bottom panel shows the discriminator's
    mean outputs `real_prob` and `fake_prob` (when logged) or, given an
    `ImageGrid`, its latest grid. The file is written atomically with
    matplotlib's Agg canvas, without touching pyplot's global state.

    Args:
        path: the PNG file.
        image_grid: optional `ImageGrid` whose latest grid is drawn in the
            bottom panel. Defaults to `None`.
        history: optional dict `{metric: [value per epoch]}` of epochs
            trained before (when resuming). Defaults to `None`.

    Example:

    ```python
    curves = keras_dcgan.callbacks.LossCurves("run/curves.png")
    model.fit(dataset, epochs=40, callbacks=[curves])
    ```
    """

    def __init__(self, path, image_grid=None, history=None):
        super().__init__()
        self.path = os.fspath(path)
        self.image_grid = image_grid
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        num_epochs = len(self.history.get("d_loss", []))
        for name, value in logs.items():
            values = self.history.setdefault(name, [])
            values.extend([float("nan")] * (num_epochs - len(values)))
            values.append(float(value))
        self.plot()

    def plot(self):
        """Draws the curves and writes the PNG; returns its path."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        grid = getattr(self.image_grid, "last_grid", None)
        probs = [n for n in ("real_prob", "fake_prob") if n in self.history]
        panels = 2 if grid is not None or probs else 1
        figure = Figure(figsize=(5, 2.6 * panels))
        FigureCanvasAgg(figure)
        axes = figure.subplots(panels, 1, squeeze=False)[:, 0]
        labels = {"d_loss": "discriminator", "g_loss": "generator"}
        for name, label in labels.items():
            values = self.history.get(name, [])
            epochs = np.arange(1, len(values) + 1)
            axes[0].plot(epochs, values, marker=".", label=label)
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("loss")
        axes[0].legend()
        axes[0].grid(True)
        if grid is not None:
            axes[1].imshow(
                grid.squeeze(-1) if grid.shape[-1] == 1 else grid,
                cmap="gray" if grid.shape[-1] == 1 else None,
            )
            axes[1].set_axis_off()
        elif probs:
            for name in probs:
                values = self.history[name]
                axes[1].plot(
                    np.arange(1, len(values) + 1),
                    values,
                    marker=".",
                    label=name,
                )
            axes[1].set_xlabel("epoch")
            axes[1].set_ylabel("mean D output")
            axes[1].set_ylim(0, 1)
            axes[1].legend()
            axes[1].grid(True)
        figure.tight_layout()
        return atomic_write(
            self.path, lambda f: figure.savefig(f, format="png", dpi=100)
        )
