"""What every target's build step receives: the loaded model, data, reference outputs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgekit.config import DatasetSection
from edgekit.data import Split
from edgekit.models import LoadedModel
from edgekit.progress import Reporter


@dataclass
class BuildContext:
    model: LoadedModel  # the model the converters see: the original, or the recipe's result
    eval: Split
    calibration: np.ndarray
    reference: np.ndarray  # outputs of `model` on eval.x: what parity compares against
    reference_accuracy: float  # accuracy of the original float model: what Δacc is measured from
    stage: Path
    progress: Reporter
    facts: list[dict[str, Any]] = field(default_factory=list)  # per-layer compression facts
    quantization: Optional[str] = None  # QAT scheme when the recipe trained quantization in
    dataset: Optional[DatasetSection] = None  # how inputs were preprocessed (Core ML image inputs repeat it)
