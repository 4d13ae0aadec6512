"""Shared by the examples: the Fahrenheit/Celsius data and PNG plots (matplotlib is optional)."""
from __future__ import annotations

import os

# The seed data: readings on an unknown scale (X, Fahrenheit-like) and in Celsius (Y).
X = [35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4]
Y = [0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0]


def save_plots(name: str, w: float, b: float, losses: list[float], out_dir: str = ".") -> list[str]:
    """Write <name>_fit.png (data and the line w*x+b) and <name>_loss.png; returns the paths
    written, or [] with a message when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots written (pip install matplotlib to get them)")
        return []
    os.makedirs(out_dir, exist_ok=True)
    fit_path = os.path.join(out_dir, f"{name}_fit.png")
    fig, ax = plt.subplots()
    ax.plot(X, Y, "o", label="data")
    xs = [min(X), max(X)]
    ax.plot(xs, [w * x + b for x in xs], "-", label=f"fit: {w:.4f} x + {b:.4f}")
    ax.set_xlabel("unknown scale (X)")
    ax.set_ylabel("Celsius (Y)")
    ax.legend()
    fig.savefig(fit_path)
    plt.close(fig)
    loss_path = os.path.join(out_dir, f"{name}_loss.png")
    fig, ax = plt.subplots()
    ax.plot(range(1, len(losses) + 1), losses)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss")
    ax.set_yscale("log")
    fig.savefig(loss_path)
    plt.close(fig)
    print(f"wrote {fit_path} and {loss_path}")
    return [fit_path, loss_path]
