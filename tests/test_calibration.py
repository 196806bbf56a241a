"lsfix.calibration: the fitted temperature against a grid search of the NLL, and the two forms of the ECE."
import numpy as np
import pytest

from lsfix.calibration import TemperatureScaler, ece, ece_from_confidence, nll, softmax


def test_calibration_against_grid_and_ece_forms():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(800, 4)) * 4
    y = np.where(rng.random(800) < 0.7, logits.argmax(1), rng.integers(0, 4, 800))  # informative logits: finite optimum
    t = TemperatureScaler().fit(logits, y).temperature
    grid = np.linspace(0.2, 20, 20001)
    best = grid[np.argmin([nll(logits / g, y) for g in grid])]
    assert t == pytest.approx(best, abs=2e-3)
    p = softmax(logits)
    assert ece(p, y) == pytest.approx(ece_from_confidence(p.max(1), p.argmax(1) == y), abs=1e-15)
