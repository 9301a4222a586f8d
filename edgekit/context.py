"""What every target's build step receives: the model, data, reference outputs, and how to judge
an artifact against them (parity, accuracy, accuracy drop)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from edgekit.config import DatasetSection
from edgekit.data import Split
from edgekit.models import LoadedModel
from edgekit.progress import Reporter
from edgekit.validate import Parity, accuracy, compare


@dataclass
class BuildContext:
    model: LoadedModel  # the model the converters see: the original, or the recipe's result
    eval: Split
    calibration: list[np.ndarray]  # one array per model input
    reference: list[np.ndarray]  # outputs of `model` on eval inputs (one per output): what parity compares against
    reference_accuracy: Optional[float]  # accuracy of the original float model: what Δacc is measured from
    stage: Path
    progress: Reporter
    label_index: Optional[int] = None  # the output the labels belong to (None: no labels / not a classifier)
    facts: list[dict[str, Any]] = field(default_factory=list)  # per-layer compression facts
    quantization: Optional[str] = None  # QAT scheme when the recipe trained quantization in
    dataset: Optional[DatasetSection] = None  # how inputs were preprocessed (Core ML image inputs repeat it)
    _float: Optional[tuple[LoadedModel, list[np.ndarray]]] = None

    @property
    def labels(self) -> Optional[np.ndarray]:
        return self.eval.y if self.label_index is not None else None

    def accuracy(self, outputs: Sequence[np.ndarray]) -> Optional[float]:
        """Top-1 accuracy of an artifact's outputs on the label output (None: no labels)."""
        if self.label_index is None or self.eval.y is None:
            return None
        rows = len(outputs[self.label_index])
        return accuracy(outputs[self.label_index], self.eval.y[:rows])

    def accuracy_fields(self, outputs: Optional[Sequence[np.ndarray]]) -> dict[str, Any]:
        """`accuracy` (fraction) and `accuracy_drop` (pp below the original model) for the report."""
        acc = None if outputs is None else self.accuracy(outputs)
        if acc is None:
            reason = ("not measured" if self.label_index is not None and outputs is None
                      else "no class labels for this model's outputs")
            return {"accuracy": None, "accuracy_drop": None, "accuracy_status": reason}
        drop = None if self.reference_accuracy is None else round(100 * (self.reference_accuracy - acc), 4)
        return {"accuracy": round(acc, 6), "accuracy_drop": drop}

    def parity(self, outputs: Sequence[np.ndarray], tolerance: Any, *, samples: int,
               reference: Optional[Sequence[np.ndarray]] = None) -> Parity:
        return compare(reference if reference is not None else self.reference, outputs, tolerance,
                       names=self.model.output_names, samples=samples, label_index=self.label_index, labels=self.labels)

    def float_source(self) -> tuple[LoadedModel, list[np.ndarray]]:
        """The model float-only converters start from, and its outputs on the eval inputs.

        A QAT-trained model carries fake-quantization ops that TF.js and Core ML cannot take: they get
        its float twin (the weights on their int8 grid, activations in float), and are compared with it."""
        if self.quantization is None:
            return self.model, self.reference
        if self._float is None:
            from edgekit.compress.twin import float_twin

            twin, notes = float_twin(self.model.keras_model)
            model = self.model.replaced(keras_model=twin, notes=self.model.notes + notes)
            with self.progress.stage("float twin of the QAT model evaluated (for TF.js and Core ML)"):
                self._float = (model, model.predict(self.eval.inputs))
        return self._float
