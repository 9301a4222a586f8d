"""What every target's build step receives: the loaded model, data, reference outputs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.data import Split
from edgekit.models import LoadedModel
from edgekit.progress import Reporter


@dataclass
class BuildContext:
    model: LoadedModel
    eval: Split
    calibration: np.ndarray
    reference: np.ndarray  # reference (Keras) outputs on eval.x
    reference_accuracy: float
    stage: Path
    progress: Reporter
