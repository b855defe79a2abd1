"""The final model's reviewer figures beyond the confusion matrix and ROC curve (drawn without pyplot).

Its training curves (the final fit has no validation split, so training curves with the epoch count marked),
the precision-recall curve, the test probabilities by true class, and the calibration curve.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn import metrics
from sklearn.calibration import calibration_curve

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


def pr_figure(y: np.ndarray, prob: np.ndarray, threshold: float) -> Figure:
    """Precision against recall at every threshold, the chance level and the stage's threshold marked."""
    precision, recall, _ = metrics.precision_recall_curve(y, prob)
    predicted = prob >= threshold
    at_precision = metrics.precision_score(y, predicted, zero_division=0.0)
    at_recall = metrics.recall_score(y, predicted, zero_division=0.0)
    figure = Figure(figsize=(5, 5), layout="constrained")
    axes = figure.subplots()
    axes.plot(recall, precision, label=f"PR curve (AP {metrics.average_precision_score(y, prob):.4f})")
    axes.axhline(np.mean(y), color="k", linestyle="--", linewidth=0.8, label=f"chance ({np.mean(y):.2f})")
    axes.plot(
        at_recall,
        at_precision,
        "o",
        color="tab:orange",
        label=f"threshold {threshold:g}: P {at_precision:.3f}, R {at_recall:.3f}",
    )
    axes.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="Recall (true positive rate)", ylabel="Precision")
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
    observed, predicted = calibration_curve(y, prob, n_bins=CALIBRATION_BINS, strategy="uniform")
    figure = Figure(figsize=(6.4, 5.2), layout="constrained")
    curve = figure.subplots()
    counts = curve.twinx()
    heights, _, _ = counts.hist(prob, bins=np.linspace(0, 1, CALIBRATION_BINS + 1), color="grey", alpha=0.25)
    counts.set_ylim(0, 1.6 * heights.max())  # the bars stay below the legend
    counts.yaxis.set_major_formatter("{x:,.0f}")
    counts.set_ylabel("Reviews per bin (grey bars)")
    curve.set_zorder(counts.get_zorder() + 1)  # the curve over the bars, its background transparent
    curve.patch.set_visible(False)
    curve.plot([0, 1], [0, 1], "k--", linewidth=0.8, label="perfectly calibrated")
    curve.plot(predicted, observed, "o-", label=f"final model (Brier score {metrics.brier_score_loss(y, prob):.4f})")
    curve.set_xlim(0, 1)
    curve.set_ylim(0, 1)
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
        "learning_curve.png": learning_curve_figure(history, loss_name),
        "pr_curve.png": pr_figure(y, prob, threshold),
        "probability_histogram.png": probability_histogram_figure(y, prob, threshold),
        "calibration_curve.png": calibration_figure(y, prob),
    }


def write_final_figures(
    plots_dir: Path, history: dict[str, list[float]], y: np.ndarray, prob: np.ndarray, threshold: float, loss_name: str
) -> None:
    for name, figure in final_figures(history, y, prob, threshold, loss_name).items():
        figure.savefig(Path(plots_dir) / name, dpi=100)
