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


def tf_keras_weights_as_a_pickle(case):
    """tf_keras reads a `model.weights.npz` member with allow_pickle=True: a pickle in it runs code."""
    import io
    import zipfile

    import numpy as np

    from edgekit.tfenv import keras

    k = keras()
    from tf_keras.src.saving import saving_lib

    class Payload:
        def __reduce__(self):
            return (exec, (f"__import__('pathlib').Path({str(case.canary)!r}).touch()",))

    source = case.folder / "npz.keras"
    model = k.Sequential([k.layers.InputLayer(input_shape=(28, 28, 1)), k.layers.Flatten(), k.layers.Dense(10)])
    saving_lib.save_model(model, str(source), weights_format="npz")  # a format tf_keras itself writes and reads
    with zipfile.ZipFile(source) as old:
        keys = list(np.load(io.BytesIO(old.read("model.weights.npz")), allow_pickle=True).keys())
        buffer = io.BytesIO()
        np.savez(buffer, **{key: np.array([Payload()], dtype=object) for key in keys})
        target = case.folder / "evil.keras"
        with zipfile.ZipFile(target, "w") as new:
            for name in old.namelist():
                new.writestr(name, buffer.getvalue() if name == "model.weights.npz" else old.read(name))
    return target, "not part of a .keras model"


def _tf1_saved_model(case, *, evil: bool):
    """A TF1-style SavedModel (graph, Saver); `evil` adds a SaveV2 to a constant path under save/,
    wired as a control input of the restore op, so that restoring the variables writes a file."""
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    folder = case.folder / ("tf1_evil" if evil else "tf1")
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 28, 28, 1], name="x")
        w = tf.compat.v1.get_variable("w", [784, 10])
        y = tf.nn.softmax(tf.matmul(tf.reshape(x, [-1, 784]), w), name="y")
        if evil:
            tf.raw_ops.SaveV2(prefix=tf.constant(str(case.canary), name="save/evil_prefix"),
                              tensor_names=tf.constant(["a"], name="save/evil_names"),
                              shape_and_slices=tf.constant([""], name="save/evil_slices"),
                              tensors=[tf.constant(1.0, name="save/evil_t")], name="save/evil")
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(folder))
            signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature},
                                                 saver=saver)
            builder.save()
    if evil:
        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString((folder / "saved_model.pb").read_bytes())
        meta = proto.meta_graphs[0]
        restore = meta.saver_def.restore_op_name.split(":")[0]
        next(n for n in meta.graph_def.node if n.name == restore).input.append("^save/evil")
        (folder / "saved_model.pb").write_bytes(proto.SerializeToString())
    return folder


def saved_model_tf1_saver_writes_elsewhere(case):
    return _tf1_saved_model(case, evil=True), "SaveV2 in the top-level graph node save/evil"


def saved_model_serving_function_passed_off_as_the_saver(case):
    """The restore call node also names the serving function (which writes a file), so that a scan
    trusting 'whatever the saver calls' would let its SaveV2 through."""
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    class Module(tf.Module):
        def __init__(self):
            self.v = tf.Variable(1.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        def __call__(self, x):
            write = tf.raw_ops.SaveV2(prefix=str(case.canary), tensor_names=["x"], shape_and_slices=[""], tensors=[x])
            with tf.control_dependencies([write]):
                return {"y": tf.identity(tf.reshape(x, [-1, 784])[:, :10] * self.v)}

    module = Module()
    folder = case.folder / "sm"
    tf.saved_model.save(module, str(folder), signatures=module.__call__)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((folder / "saved_model.pb").read_bytes())
    meta = proto.meta_graphs[0]
    nodes = {n.name: n for n in meta.graph_def.node}
    serving = next(n for n in meta.graph_def.node if n.op == "StatefulPartitionedCall"
                   and n.name not in (meta.saver_def.save_tensor_name.split(":")[0], meta.saver_def.restore_op_name))
    nodes[meta.saver_def.restore_op_name].attr["extra"].func.name = serving.attr["f"].func.name
    (folder / "saved_model.pb").write_bytes(proto.SerializeToString())
    return folder, "SaveV2 in function"


def h5_group_loop(case):
    def add(handle, _):
        handle["model_weights/loop"] = handle["model_weights"]
    return _h5(case, add), "a loop"


def h5_weight_names_repeated(case):
    """A 2 MB compressible dataset listed 400 times in weight_names: tf_keras would read it 400 times."""
    import numpy as np

    def add(handle, _):
        group = handle["model_weights/dense"] if "model_weights/dense" in handle else \
            next(g for g in handle["model_weights"].values() if "weight_names" in g.attrs)
        group.create_dataset("big", data=np.zeros(500_000, "f4"), chunks=(50_000,), compression="gzip")
        group.attrs["weight_names"] = np.array([b"big"] * 400)
    return _h5(case, add), "more than once in weight_names"


def archive_many_small_members(case):
    """200 members just under the per-member ratio check's 1 MiB floor: caught by the archive's total."""
    def add(archive):
        block = b"\0" * ((1 << 20) - 1)
        for index in range(200):
            archive.writestr(f"assets/zeros_{index}.bin", block)
    return _archive(case, add), "inflate .* in all"


CASES = [keras3_lambda, tf_keras_h5_lambda, tf_op_layer_writes_a_file, object_from_a_foreign_module,
         lookup_vocabulary_is_a_file, layer_argument_is_a_url, tfsm_layer_loads_a_saved_model,
         declared_dimension_too_large, saved_model_writes_a_file, saved_model_reads_a_secret,
         saved_model_op_off_the_allowlist, h5_external_raw_storage, h5_external_link, h5_virtual_dataset,
         h5_soft_link, h5_declared_size_beyond_the_file, archive_bomb, archive_member_escapes,
         archive_member_absolute, archive_symlink_to_a_secret, tf_keras_weights_as_a_pickle,
         saved_model_tf1_saver_writes_elsewhere, saved_model_serving_function_passed_off_as_the_saver, h5_group_loop, h5_weight_names_repeated,
         archive_many_small_members]


class Case:
    def __init__(self, folder: Path, keras3: Path, tf_keras: Path):
        self.folder, self.keras3, self.tf_keras = folder, keras3, tf_keras
        self.canary = folder / "canary.txt"
        self.secret = folder / "secret" / "secret.h5"
        self.secret.parent.mkdir()
        import h5py

        with h5py.File(self.secret, "w") as handle:  # an HDF5 file, so links into it would resolve
            handle["data"] = list(range(10))


@pytest.mark.parametrize("make", CASES, ids=lambda make: make.__name__)
def test_hostile_model_exits_3_without_running_its_payload_or_opening_the_secret(tmp_path, keras3_model, make,
                                                                                tiny_model_path,
                                                                                capsys, monkeypatch):
    case = Case(tmp_path, keras3_model, tiny_model_path)
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
    assert not list(tmp_path.glob("canary.txt*")), "the payload ran"  # SaveV2 writes canary.txt.index etc.
    assert opened == [], f"the secret was opened ({opened})"
    assert not (tmp_path / "out").exists()
    assert os.listdir(temp) == []


@pytest.mark.parametrize("make", [keras3_lambda, tf_keras_h5_lambda, lookup_vocabulary_is_a_file])
def test_control_the_watch_sees_the_payload_run_or_the_secret_opened_when_unsafe_content_is_allowed(
        tmp_path, keras3_model, tiny_model_path, make):
    """The checks above can fail: with model.allow_unsafe the same files do what they were made for."""
    from edgekit.models import load_model

    case = Case(tmp_path, keras3_model, tiny_model_path)
    model, _ = make(case)
    case.canary.unlink(missing_ok=True)
    with watch_opens(case.secret) as opened:
        try:
            load_model(model, allow_unsafe=True).predict([np.zeros((1, 28, 28, 1), np.float32)])
        except Exception:  # noqa: BLE001 - the hostile file need not be a working model
            pass
    assert case.canary.exists() or opened


def _tf_keras_load(path):
    from edgekit.tfenv import keras

    keras().models.load_model(path, compile=False)


def _saved_model_call(path):
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    loaded = tf.saved_model.load(str(path))
    if "serving_default" in loaded.signatures:
        loaded.signatures["serving_default"](tf.zeros([1, 28, 28, 1]))


@pytest.mark.parametrize("make, loader", [(tf_keras_weights_as_a_pickle, _tf_keras_load),
                                          (saved_model_tf1_saver_writes_elsewhere, _saved_model_call),
                                          (saved_model_serving_function_passed_off_as_the_saver, _saved_model_call),
                                          (saved_model_writes_a_file, _saved_model_call)],
                         ids=lambda value: getattr(value, "__name__", ""))
def test_control_the_underlying_loader_runs_the_payload_edgekit_refuses(tmp_path, keras3_model, tiny_model_path, make,
                                                                        loader):
    """The files above are live: handed straight to tf_keras or TensorFlow they run their payload."""
    case = Case(tmp_path, keras3_model, tiny_model_path)
    model, _ = make(case)
    case.canary.unlink(missing_ok=True)
    try:
        loader(model)
    except Exception:  # noqa: BLE001 - the payload runs before the loader notices anything
        pass
    assert list(tmp_path.glob("canary.txt*")), "the payload did not run"


def test_a_plain_tf1_saved_model_is_refused_with_the_re_export_hint(tmp_path, keras3_model, tiny_model_path):
    """A TF1 saver's graph can be edited to do anything on restore; only the TF2 saver's shape is accepted."""
    from edgekit.models.safety import scan_saved_model_ops

    case = Case(tmp_path, keras3_model, tiny_model_path)
    _, risky = scan_saved_model_ops(_tf1_saved_model(case, evil=False))
    assert risky and "tf.saved_model.save (TensorFlow 2)" in risky[0]


def test_data_arguments_that_look_like_paths_or_big_numbers_are_not_refused():
    """Real configs: an IntegerLookup over large ids, a Hashing salt, a character vocabulary with '/'."""
    from edgekit.models.safety import scan_config

    layers_ = [{"class_name": "IntegerLookup", "module": "keras.layers", "name": "ids",
                "config": {"name": "ids", "vocabulary": [20_000_001, 987_654_321], "max_tokens": None}},
               {"class_name": "Hashing", "module": "keras.layers", "name": "hash",
                "config": {"name": "hash", "num_bins": 64, "salt": 123_456_789}},
               {"class_name": "StringLookup", "module": "keras.layers", "name": "chars",
                "config": {"name": "chars", "vocabulary": ["a", "/", "~", "http://"]}}]
    findings = scan_config({"class_name": "Functional", "module": "keras", "config": {"name": "m", "layers": layers_}},
                           keras3=True)
    assert findings.problems == []
    layers_[1]["config"]["num_bins"] = "4000000000"  # tf_keras would int() it
    assert "num_bins" in scan_config({"class_name": "Functional", "module": "keras",
                                      "config": {"name": "m", "layers": layers_}}, keras3=True).problems[0]
