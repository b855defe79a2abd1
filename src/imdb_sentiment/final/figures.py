"""The final model's figures, drawn without pyplot's global state.

The confusion matrix, ROC, precision-recall and calibration curves are scikit-learn's displays drawn on our
axes; the training curves (the final fit has no validation split, so the epoch count is marked) and the
test probabilities by true class are drawn here, as no library draws them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn import metrics
from sklearn.calibration import CalibrationDisplay

from imdb_sentiment.runtime.outputs import write_png

CLASS_NAMES = ("negative", "positive")
CLASS_COLOURS = ("tab:red", "tab:blue")
CALIBRATION_BINS = 10


def learning_curve_figure(history: dict[str, list[float]], loss_name: str) -> Figure:
    """Loss and accuracy per epoch of the final training, the last (saved) epoch marked."""
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    epochs = np.arange(1, len(history["loss"]) + 1)
    panels = zip(figure.subplots(1, 2), ("loss", "accuracy"), (f"Loss ({loss_name})", "Accuracy"), strict=True)
    for axes, key, label in panels:
        axes.plot(epochs, history[key], "o-", label=f"Training {key}")
        axes.axvline(epochs[-1], color="grey", linestyle="--", linewidth=1, label=f"Saved model: epoch {epochs[-1]}")
        axes.set_xticks(epochs)
        axes.set_xlabel("Epoch")
        axes.set_ylabel(label)
        axes.set_title(f"Final training {key}")
        axes.legend(loc="upper right" if key == "loss" else "lower right")
    figure.suptitle(f"Final model: {len(epochs)} epochs (compare's median best epoch), no validation split")
    return figure


def confusion_figure(y: np.ndarray, predicted: np.ndarray) -> Figure:
    """Counts of [[TN, FP], [FN, TP]] on the test reviews."""
    figure = Figure(figsize=(4.8, 4.2), layout="constrained")
    axes = figure.subplots()
    display = metrics.ConfusionMatrixDisplay.from_predictions(
        y, predicted, display_labels=list(CLASS_NAMES), cmap="Blues", values_format=",", ax=axes, colorbar=False
    )
    figure.colorbar(display.im_, ax=axes, label="Reviews")
    axes.set_title("Confusion matrix (test)")
    return figure


def roc_figure(y: np.ndarray, prob: np.ndarray) -> Figure:
    figure = Figure(figsize=(5, 5), layout="constrained")
    axes = figure.subplots()
    metrics.RocCurveDisplay.from_predictions(y, prob, name="final model", ax=axes, plot_chance_level=True)
    axes.set_title("ROC curve (test)")
    axes.legend(loc="lower right")
    return figure


def pr_figure(y: np.ndarray, prob: np.ndarray, threshold: float) -> Figure:
    """Precision against recall at every threshold, the chance level and the stage's threshold marked."""
    predicted = prob >= threshold
    at_precision = metrics.precision_score(y, predicted, zero_division=0.0)
    at_recall = metrics.recall_score(y, predicted, zero_division=0.0)
    figure = Figure(figsize=(5, 5), layout="constrained")
    axes = figure.subplots()
    metrics.PrecisionRecallDisplay.from_predictions(y, prob, name="final model", ax=axes, plot_chance_level=True)
    axes.plot(
        at_recall,
        at_precision,
        "o",
        color="tab:orange",
        label=f"threshold {threshold:g}: P {at_precision:.3f}, R {at_recall:.3f}",
    )
    axes.set(xlim=(0, 1.02), ylim=(0, 1.02))
    axes.set_title("Precision-recall curve (test)")
    axes.legend(loc="lower left")
    return figure


def probability_histogram_figure(y: np.ndarray, prob: np.ndarray, threshold: float) -> Figure:
    """Two overlaid histograms of the predicted probability, one per true class, on a log count scale."""
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    axes = figure.subplots()
    bins = np.linspace(0, 1, 41)
    for label, (name, colour) in enumerate(zip(CLASS_NAMES, CLASS_COLOURS, strict=True)):
        values = prob[y == label]
        axes.hist(
            values,
            bins=bins,
            histtype="stepfilled",
            alpha=0.4,
            color=colour,
            edgecolor=colour,
            label=f"truly {name} ({len(values):,})",
        )
    axes.axvline(threshold, color="k", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set(yscale="log", xlim=(0, 1), xlabel="Predicted probability of a positive review")
    axes.set(ylabel="Test reviews (log scale)", title="Predicted probabilities by true class (test)")
    axes.legend(loc="upper center")
    return figure


def calibration_figure(y: np.ndarray, prob: np.ndarray) -> Figure:
    """Observed positive rate against the mean predicted probability per bin, the reviews per bin behind."""
    figure = Figure(figsize=(6.4, 5.2), layout="constrained")
    curve = figure.subplots()
    counts = curve.twinx()
    heights, _, _ = counts.hist(prob, bins=np.linspace(0, 1, CALIBRATION_BINS + 1), color="grey", alpha=0.25)
    counts.set_ylim(0, 1.6 * heights.max())  # the bars stay below the legend
    counts.yaxis.set_major_formatter("{x:,.0f}")
    counts.set_ylabel("Reviews per bin (grey bars)")
    curve.set_zorder(counts.get_zorder() + 1)  # the curve over the bars, its background transparent
    curve.patch.set_visible(False)
    name = f"final model (Brier score {metrics.brier_score_loss(y, prob):.4f})"
    CalibrationDisplay.from_predictions(y, prob, n_bins=CALIBRATION_BINS, strategy="uniform", name=name, ax=curve)
    curve.set(xlim=(0, 1), ylim=(0, 1))
    curve.set_xlabel("Mean predicted probability of a positive review")
    curve.set_ylabel("Fraction of positive reviews")
    curve.set_title(f"Calibration curve (test, {CALIBRATION_BINS} equal-width bins)")
    curve.legend(loc="upper left")
    return figure


def final_figures(
    history: dict[str, list[float]], y: np.ndarray, prob: np.ndarray, threshold: float, loss_name: str
) -> dict[str, Figure]:
    """The figures keyed by their file name in ``reports/final/plots/``."""
    y = np.asarray(y).astype(int)
    return {
        "confusion_matrix.png": confusion_figure(y, (prob >= threshold).astype(int)),
        "roc_curve.png": roc_figure(y, prob),
        "learning_curve.png": learning_curve_figure(history, loss_name),
        "pr_curve.png": pr_figure(y, prob, threshold),
        "probability_histogram.png": probability_histogram_figure(y, prob, threshold),
        "calibration_curve.png": calibration_figure(y, prob),
    }


def write_final_figures(
    plots_dir: Path, history: dict[str, list[float]], y: np.ndarray, prob: np.ndarray, threshold: float, loss_name: str
) -> None:
    for name, figure in final_figures(history, y, prob, threshold, loss_name).items():
        write_png(figure, Path(plots_dir) / name)
