"""The bundled example: the committed teacher and its configs."""
import json
from pathlib import Path

import numpy as np

from edgekit.config import DatasetSection, load_config
from edgekit.data import load_split
from edgekit.models import load_model

EXAMPLE = Path(__file__).parents[1] / "examples" / "fashion_mnist"


def test_committed_teacher_loads_safely_and_reaches_93_percent_on_the_full_test_set():
    teacher = load_model(EXAMPLE / "teacher.keras")
    test = load_split(DatasetSection(kind="fashion_mnist"), "test")
    accuracy = float(np.mean(teacher.predict([test.x])[0].argmax(-1) == test.y))
    assert accuracy >= 0.93
    recorded = json.loads((EXAMPLE / "teacher.json").read_text())
    assert abs(recorded["test_accuracy"] - accuracy) < 1e-3 and recorded["params"] == teacher.params


def test_example_configs_are_valid():
    for name in ("edgekit.toml", "search.toml"):
        config = load_config(EXAMPLE / name)
        assert config.model.path == EXAMPLE / "teacher.keras"
        assert config.targets.android is not None
