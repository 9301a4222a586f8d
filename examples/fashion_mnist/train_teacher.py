"""Train the example Fashion-MNIST teacher (tf_keras, reproducible with --seed).

    .venv/bin/python examples/fashion_mnist/train_teacher.py --epochs 15 --out examples/fashion_mnist/teacher.keras

A VGG-style net: two blocks of two 3x3 convolutions with BatchNorm, then a small dense head.
Inputs are scaled to [0, 1] exactly as `edgekit.toml` in this folder says.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from edgekit.config import DatasetSection
from edgekit.data import load_split
from edgekit.tfenv import keras, tensorflow


def build_teacher(k, num_classes: int = 10):
    layers = k.layers

    def conv_bn(filters: int):
        return [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU()]

    return k.Sequential(
        [layers.InputLayer(input_shape=(28, 28, 1), name="image")]
        + conv_bn(32) + conv_bn(32) + [layers.MaxPooling2D(), layers.Dropout(0.25)]
        + conv_bn(64) + conv_bn(64) + [layers.MaxPooling2D(), layers.Dropout(0.25)]
        + [layers.Flatten(), layers.Dense(128, use_bias=False), layers.BatchNormalization(), layers.ReLU(),
           layers.Dropout(0.4), layers.Dense(num_classes, activation="softmax", name="probs")],
        name="fashion_teacher",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="train on a subset (smoke runs)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("teacher.keras"))
    args = parser.parse_args()

    tf = tensorflow()
    k = keras()
    k.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()

    data = DatasetSection(kind="fashion_mnist")
    train = load_split(data, "train", limit=args.limit, seed=args.seed)
    test = load_split(data, "test")

    model = build_teacher(k)
    steps = args.epochs * int(np.ceil(len(train) / args.batch_size))
    schedule = k.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.01)
    model.compile(optimizer=k.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # Light augmentation: random horizontal flips and 2-pixel shifts (clothing is left/right symmetric).
    augment = k.Sequential([k.layers.RandomFlip("horizontal"), k.layers.RandomTranslation(0.07, 0.07, fill_mode="constant")])
    dataset = (
        tf.data.Dataset.from_tensor_slices((train.x, train.y))
        .shuffle(len(train), seed=args.seed)
        .batch(args.batch_size)
        .map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    start = time.time()
    model.fit(dataset, epochs=args.epochs, validation_data=(test.x, test.y), verbose=2)
    seconds = time.time() - start
    loss, accuracy = model.evaluate(test.x, test.y, verbose=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Ship weights and architecture only: a copy without the optimizer's state (a third of the size).
    inference = k.models.clone_model(model)
    inference.set_weights(model.get_weights())
    inference.save(args.out)
    info = {"test_accuracy": round(float(accuracy), 4), "params": int(model.count_params()), "epochs": args.epochs,
            "seed": args.seed, "train_seconds": round(seconds, 1)}
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
