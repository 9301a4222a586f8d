"""Each class of hostile model file, generated in code, through the real CLI: exit 3 with the reason
in one line, the payload never runs (its canary file is never created), a secret file is never
opened (watched with inotify, which sees opens by any thread), nothing is written.

docs/security.md lists these classes with what edgekit does about each."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgekit.cli import main
from tests import test_archive_bounds as archives
from tests.conftest import write_config
from tests.hostile import edit_config, layers, watch_opens

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def keras3_model(tmp_path_factory):
    from edgekit.tfenv import keras3

    k = keras3()
    model = k.Sequential([k.Input((28, 28, 1)), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    path = tmp_path_factory.mktemp("k3") / "model.keras"
    model.save(path)
    return path


def payload(canary: str):
    """What a hostile Lambda runs: create the canary file (self-contained code, as a saved Lambda keeps it)."""
    return eval(f"lambda x: (__import__('pathlib').Path({canary!r}).touch(), x)[1]")  # noqa: S307 - test payload


def keras3_lambda(case):
    from edgekit.tfenv import keras3

    k = keras3()
    model = k.Sequential([k.Input((28, 28, 1)), k.layers.Lambda(payload(str(case.canary))), k.layers.Flatten(),
                          k.layers.Dense(10, activation="softmax")])
    model.save(case.folder / "evil.keras")
    return case.folder / "evil.keras", "Lambda"


def tf_keras_h5_lambda(case):
    from edgekit.tfenv import keras

    k = keras()
    model = k.Sequential([k.layers.InputLayer(input_shape=(28, 28, 1)), k.layers.Lambda(payload(str(case.canary))),
                          k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    model.save(case.folder / "evil.h5")
    return case.folder / "evil.h5", "Lambda"


def tf_op_layer_writes_a_file(case):
    from edgekit.tfenv import keras, tensorflow

    k, tf = keras(), tensorflow()
    inputs = k.Input((28, 28, 1))
    outputs = k.layers.Dense(10, activation="softmax")(k.layers.Flatten()(tf.math.multiply(inputs, 2.0)))
    k.Model(inputs, outputs).save(case.folder / "ops.keras")

    def edit(config):
        layer = next(item for item in layers(config) if item["class_name"] == "TFOpLambda")
        layer["config"]["function"] = "io.write_file"
        layer["inbound_nodes"][0][3] = {"filename": str(case.canary), "contents": "pwned"}
    return edit_config(case.folder / "ops.keras", case.folder / "evil.keras", edit), "io.write_file"


def object_from_a_foreign_module(case):
    def edit(config):
        layers(config)[-1] = {"class_name": "system", "module": "os", "config": {"command": f"touch {case.canary}"}}
    return edit_config(case.keras3, case.folder / "evil.keras", edit), "not part of Keras"


def lookup_vocabulary_is_a_file(case):
    def edit(config):
        layers(config)[-1].update(class_name="StringLookup", config={"name": "lookup", "vocabulary": str(case.secret)})
    return edit_config(case.keras3, case.folder / "evil.keras", edit), "reads its vocabulary from the file"


def layer_argument_is_a_url(case):
    def edit(config):
        layers(config)[-1]["config"]["kernel_initializer"] = {"module": "keras.initializers", "class_name": "Constant",
                                                              "config": {"value": f"file://{case.secret}"}}
    return edit_config(case.keras3, case.folder / "evil.keras", edit), "names a file or URL"


def tfsm_layer_loads_a_saved_model(case):
    def edit(config):
        layers(config)[-1].update(class_name="TFSMLayer", module="keras.layers",
                                  config={"name": "tfsm", "filepath": str(case.secret.parent)})
    return edit_config(case.keras3, case.folder / "evil.keras", edit), "TFSMLayer"


def declared_dimension_too_large(case):
    def edit(config):
        layers(config)[-1]["config"]["units"] = 1 << 40
    return edit_config(case.keras3, case.folder / "evil.keras", edit), "above edgekit's limit"


def _saved_model(case, body):
    from edgekit.tfenv import tensorflow

    tf = tensorflow()

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        def __call__(self, x):
            return {"y": body(tf, x)}

    module = Module()
    tf.saved_model.save(module, str(case.folder / "sm"), signatures=module.__call__)
    return case.folder / "sm"


def saved_model_writes_a_file(case):
    def body(tf, x):
        tf.io.write_file(str(case.canary), "pwned")
        return tf.reshape(x, [-1, 784])[:, :10]
    return _saved_model(case, body), "WriteFile"


def saved_model_reads_a_secret(case):
    def body(tf, x):
        leak = tf.strings.length(tf.io.read_file(str(case.secret)))
        return tf.reshape(x, [-1, 784])[:, :10] + tf.cast(leak, tf.float32)
    return _saved_model(case, body), "ReadFile"


def saved_model_op_off_the_allowlist(case):
    def body(tf, x):
        return tf.cast(tf.strings.length(tf.strings.as_string(tf.reshape(x, [-1, 784])[:, :10])), tf.float32)
    return _saved_model(case, body), "StringLength|AsString"


def _h5(case, add):
    from edgekit.tfenv import keras

    k = keras()
    model = k.Sequential([k.layers.InputLayer(input_shape=(28, 28, 1)), k.layers.Flatten(), k.layers.Dense(10)])
    model.save(case.folder / "plain.h5")
    return archives.h5_with(case.folder / "evil.h5", case.folder / "plain.h5", add)


def h5_external_raw_storage(case):
    def add(handle, _):
        handle.create_dataset("model_weights/leak", shape=(64,), dtype="uint8", external=[(str(case.secret), 0, 64)])
    return _h5(case, add), "keeps its bytes in another file"


def h5_external_link(case):
    import h5py

    def add(handle, _):
        handle["model_weights/elsewhere"] = h5py.ExternalLink(str(case.secret), "/data")
    return _h5(case, add), "links to another file"


def h5_virtual_dataset(case):
    import h5py

    def add(handle, _):
        layout = h5py.VirtualLayout(shape=(10,), dtype="f4")
        layout[:] = h5py.VirtualSource(str(case.secret), "data", shape=(10,))
        handle.create_virtual_dataset("model_weights/virtual", layout)
    return _h5(case, add), "virtual dataset"


def h5_soft_link(case):
    return _h5(case, archives.soft_link), "soft link"


def h5_declared_size_beyond_the_file(case):
    return _h5(case, archives.huge_declared_shape), "declares"


def _archive(case, add):
    return archives.copy_with(case.keras3, case.folder / "evil.keras", add)


def archive_bomb(case):
    return _archive(case, archives.bomb), "zip bomb"


def archive_member_escapes(case):
    return _archive(case, archives.escaping), "points outside"


def archive_member_absolute(case):
    return _archive(case, archives.absolute), "points outside"


def archive_symlink_to_a_secret(case):
    import stat
    import zipfile

    def add(archive):
        info = zipfile.ZipInfo("assets/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, str(case.secret))
    return _archive(case, add), "symbolic link"


CASES = [keras3_lambda, tf_keras_h5_lambda, tf_op_layer_writes_a_file, object_from_a_foreign_module,
         lookup_vocabulary_is_a_file, layer_argument_is_a_url, tfsm_layer_loads_a_saved_model,
         declared_dimension_too_large, saved_model_writes_a_file, saved_model_reads_a_secret,
         saved_model_op_off_the_allowlist, h5_external_raw_storage, h5_external_link, h5_virtual_dataset,
         h5_soft_link, h5_declared_size_beyond_the_file, archive_bomb, archive_member_escapes,
         archive_member_absolute, archive_symlink_to_a_secret]


class Case:
    def __init__(self, folder: Path, keras3: Path):
        self.folder, self.keras3 = folder, keras3
        self.canary = folder / "canary.txt"
        self.secret = folder / "secret" / "secret.h5"
        self.secret.parent.mkdir()
        import h5py

        with h5py.File(self.secret, "w") as handle:  # an HDF5 file, so links into it would resolve
            handle["data"] = list(range(10))


@pytest.mark.parametrize("make", CASES, ids=lambda make: make.__name__)
def test_hostile_model_exits_3_without_running_its_payload_or_opening_the_secret(tmp_path, keras3_model, make,
                                                                                capsys, monkeypatch):
    case = Case(tmp_path, keras3_model)
    model, reason = make(case)
    case.canary.unlink(missing_ok=True)  # building the file in this process may have run the payload once
    config = write_config(tmp_path, model, precisions=("fp32",))
    temp = tmp_path / "temp"  # this build's own temp folder: whatever Keras or edgekit leave there shows
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    capsys.readouterr()
    with watch_opens(case.secret) as opened:
        code = main(["build", "--config", str(config), "--quiet"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert len(err.strip().splitlines()) == 1 and re.search(reason, err), err
    assert not case.canary.exists(), "the payload ran"
    assert opened == [], f"the secret was opened ({opened})"
    assert not (tmp_path / "out").exists()
    assert os.listdir(temp) == []


@pytest.mark.parametrize("make", [keras3_lambda, tf_keras_h5_lambda, lookup_vocabulary_is_a_file])
def test_control_the_watch_sees_the_payload_run_or_the_secret_opened_when_unsafe_content_is_allowed(
        tmp_path, keras3_model, make):
    """The checks above can fail: with model.allow_unsafe the same files do what they were made for."""
    from edgekit.models import load_model

    case = Case(tmp_path, keras3_model)
    model, _ = make(case)
    case.canary.unlink(missing_ok=True)
    with watch_opens(case.secret) as opened:
        try:
            load_model(model, allow_unsafe=True).predict([np.zeros((1, 28, 28, 1), np.float32)])
        except Exception:  # noqa: BLE001 - the hostile file need not be a working model
            pass
    assert case.canary.exists() or opened
