"""edgekit from Python: an in-memory Keras 3 model and numpy arrays in, a Report out."""
import keras
import numpy as np

import edgekit
from edgekit.data import load_split
from edgekit.config import DatasetSection

# Real Fashion-MNIST from the Debian package, scaled to [0, 1] (any numpy arrays work).
train = load_split(DatasetSection(kind="fashion_mnist"), "train", limit=2000, seed=0)
test = load_split(DatasetSection(kind="fashion_mnist"), "test", limit=300, seed=0)

model = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
    keras.layers.Flatten(),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(train.x, train.y, epochs=2, batch_size=64, verbose=0)

report = edgekit.build(
    {"targets": {"android": {"precisions": ["fp32", "int8"], "budgets": {"max_size": "100 KB"}}}},
    model=model, data=((train.x, train.y), (test.x, test.y)), out="build/python_api")
print(report)                                    # in a notebook: the Markdown report
int8 = report.artifact("android/model_int8.tflite")
print(f"int8: {int8.bytes:,} bytes, accuracy {int8.accuracy:.3f}, parity {int8.parity.status}")

strict = edgekit.check(report, budgets={"android": {"max_size": "10 KB"}})
print("with a 10 KB budget:", "passed" if strict.passed else f"failed (exit {strict.exit_code})")
