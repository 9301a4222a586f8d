"""iOS target: Core ML packages from tiny in-code models, checked without macOS.

Core ML prediction cannot run on Linux: these tests check the packages (read back, interface,
weights decompressed and compared) and that parity stays `not_verified`. The Mac latency harness
is exercised with a fake Core ML loader, named as such.
"""
import json
import textwrap

import numpy as np
import pytest

from edgekit.config import load_config, parse_config
from edgekit.errors import ConfigError, EnvironmentProblem
from edgekit.pipeline import build
from edgekit.progress import Reporter
from tests.conftest import write_config
from tests.test_cli_build import run_cli

QUIET = Reporter(quiet=True)


def ios_config(tmp_path, model, *, ios: str, recipe: str = "", out: str = "out", precisions=("fp32",)):
    path = write_config(tmp_path, model, precisions=precisions, eval_samples=200)
    text = path.read_text().replace("calibration_samples = 64", "calibration_samples = 64\ntrain_samples = 600")
    text = text.replace('out = "out"', f'out = "{out}"')
    path.write_text(recipe + text + "\n[targets.ios]\n" + textwrap.dedent(ios))
    return load_config(path)


PRUNE_AND_CLUSTER = ('[[recipe]]\nstep = "prune"\nfinal_sparsity = 0.5\nschedule = "constant"\nepochs = 1\nfrequency = 5\n'
                     '[[recipe]]\nstep = "cluster"\nclusters = 8\nepochs = 1\n')


@pytest.fixture(scope="module")
def clustered_build(tmp_path_factory, tiny_model_path):
    folder = tmp_path_factory.mktemp("ios_clustered")
    config = ios_config(folder, tiny_model_path, recipe=PRUNE_AND_CLUSTER,
                        ios='variants = ["fp16", "palettized", "int8"]\nminimum_deployment_target = "iOS18"\n')
    report = build(config, target="ios", progress=QUIET)
    return config, report


def by_variant(report):
    return {a["precision"]: a for a in report["artifacts"] if a["target"] == "ios"}


def test_learned_clusters_become_lossless_luts_and_pruned_zeros_sparse_tensors(clustered_build):
    _, report = clustered_build
    palettized = by_variant(report)["palettized"]
    layers = palettized["coreml"]["layers"]
    clustered = [fact["layer"] for fact in report["recipe"]["layers"] if fact["clustered"]]
    assert clustered and set(clustered) <= set(layers)
    for name in clustered:
        layer = layers[name]
        assert layer["source"] == "learned clusters"
        assert set(layer["stored"].split("+")) == {"lut", "sparse"}, layer
        assert layer["lossless"] is True
        assert layer["unique_per_channel_max"] <= 8 + 1  # 8 centroids, plus the pruned zeros
    checks = {c["name"]: c["status"] for c in palettized["checks"]}
    assert all(checks[f"clusters of {name} carried losslessly"] == "passed" for name in clustered)
    assert all(checks[f"pruned zeros of {name} kept"] == "passed" for name in clustered)
    assert "failed" not in checks.values()


def test_palettized_package_is_smaller_and_parity_is_never_passed_on_linux(clustered_build):
    config, report = clustered_build
    variants = by_variant(report)
    assert variants["palettized"]["bytes"] < variants["int8"]["bytes"] < variants["fp16"]["bytes"]
    assert (config.build.out / "report.html").read_text().count("<circle cx=") >= len(variants)
    for artifact in variants.values():
        assert artifact["parity"]["status"] == "not_verified"
        assert artifact["accuracy"] is None and artifact["gzip_bytes"] < artifact["bytes"]
        assert (config.build.out / artifact["path"] / "Manifest.json").is_file()
        statuses = {c["name"]: c["status"] for c in artifact["checks"]}
        assert statuses["package reads back"] == statuses["input"] == statuses["class labels"] == "passed"
        assert statuses["prediction (parity, accuracy)"] == "not_verified"
        assert "failed" not in statuses.values(), artifact["checks"]


def test_lossless_check_fails_when_the_package_differs_from_the_converted_weights(clustered_build):
    from edgekit.targets.ios.build import input_specs, output_specs
    from edgekit.targets.ios.weights import check_package

    config, report = clustered_build
    artifact = by_variant(report)["palettized"]
    layers_report = artifact["coreml"]["layers"]
    name = next(n for n, layer in layers_report.items() if layer["source"] == "learned clusters")
    plan = {n: {"format": "lut", "source": layer["source"], "op": layer["op"], "sparse": "sparse" in layer["planned"]}
            for n, layer in layers_report.items() if layer["source"] == "learned clusters"}
    from edgekit.converters import coreml
    import coremltools as ct

    package = config.build.out / artifact["path"]
    decompressed = coreml.dense_weights(ct.models.MLModel(str(package), skip_model_load=True))
    before = {op: value.copy() for op, (_, value) in decompressed.items()}
    op = layers_report[name]["op"]
    before[op].flat[np.flatnonzero(before[op])[0]] += 0.5  # what a lossy re-clustering would do

    from types import SimpleNamespace

    from edgekit.models import load_model
    from edgekit.targets.ios.weights import layer_weights

    loaded = load_model(config.model.path)
    ctx = SimpleNamespace(dataset=config.dataset, label_index=0, eval=SimpleNamespace(class_names=["a"] * 10))
    specs = input_specs(ctx, config.targets.ios, loaded)
    outputs, classify, labels, _ = output_specs(ctx, config.targets.ios, loaded, [np.eye(10)])
    checks, _ = check_package(package, specs=specs, outputs=outputs, classify=classify, labels=None,
                              cfg=config.targets.ios, layers=layer_weights(loaded.keras_model, report["recipe"]["layers"]),
                              plan=plan, before=before, fp16=True)
    statuses = {c["name"]: c["status"] for c in checks}
    assert statuses[f"clusters of {name} carried losslessly"] == "failed"


def test_post_training_palettization_and_int8_on_ios16_without_a_recipe(tmp_path, tiny_model_path):
    config = ios_config(tmp_path, tiny_model_path, ios='variants = ["palettized", "int8"]\n'
                        'minimum_deployment_target = "iOS16"\n[targets.ios.palettize]\nnbits = 4\n')
    report = build(config, target="ios", progress=QUIET)
    variants = by_variant(report)
    palettized = variants["palettized"]
    assert any("post-training palettization" in note for note in palettized["notes"])
    assert {layer["stored"] for layer in palettized["coreml"]["layers"].values()} == {"lut"}
    assert {layer["nbits"] for layer in palettized["coreml"]["layers"].values()} == {4}
    assert {layer["stored"] for layer in variants["int8"]["coreml"]["layers"].values()} == {"int8"}
    checks = {c["name"]: c for c in palettized["checks"]}
    assert checks["deployment target"]["status"] == "passed" and "spec version 7" in checks["deployment target"]["detail"]


def test_tensor_input_without_class_labels(tmp_path, tiny_model_path):
    config = ios_config(tmp_path, tiny_model_path, ios='variants = ["fp32"]\ninput = "tensor"\nclass_labels = false\n'
                        'output_name = "probabilities"\n')
    artifact = by_variant(build(config, target="ios", progress=QUIET))["fp32"]
    assert artifact["coreml"]["input"]["kind"] == "tensor" and artifact["coreml"]["outputs"] == ["probabilities"]
    assert artifact["coreml"]["compute_precision"] == "fp32"
    assert {c["name"]: c["status"] for c in artifact["checks"]}["input"] == "passed"
    assert all(layer["lossless"] for layer in artifact["coreml"]["layers"].values())


def test_qat_weights_go_to_core_ml_on_their_int8_grid(tmp_path, tiny_model_path):
    config = ios_config(tmp_path, tiny_model_path, recipe='[[recipe]]\nstep = "qat"\nepochs = 1\n',
                        ios='variants = ["int8"]\n', precisions=("int8",))
    artifact = by_variant(build(config, target="ios", progress=QUIET))["int8"]
    assert any("activation ranges are not carried" in note for note in artifact["notes"])
    layers = artifact["coreml"]["layers"]
    assert {layer["source"] for layer in layers.values()} == {"QAT weights (already on the int8 grid)"}
    assert all(layer["stored"] == "int8" for layer in layers.values())
    # Core ML re-derives int8 scales from the QAT grid: close to the trained weights, not bit-exact
    assert all(layer["max_abs_error_vs_keras"] < 0.01 for layer in layers.values())
    assert "failed" not in {c["status"] for c in artifact["checks"]}


@pytest.mark.parametrize("ios, needed", [
    ('variants = ["int4"]\nminimum_deployment_target = "iOS17"', "iOS18"),
    ('variants = ["int8"]\nminimum_deployment_target = "iOS15"', "iOS16"),
    ('variants = ["palettized"]\nminimum_deployment_target = "iOS16"\n[targets.ios.palettize]\ngranularity = "per_channel"', "iOS18"),
    ('variants = ["fp16"]\nminimum_deployment_target = "iOS16"\nactivation_quantization = true', "iOS17"),
])
def test_options_the_deployment_target_lacks_are_errors_naming_the_target_that_has_them(ios, needed):
    import tomllib

    raw = {"model": {"path": "m.keras"}, "dataset": {"kind": "fashion_mnist"}, "targets": {"ios": {}}}
    raw["targets"]["ios"] = tomllib.loads(ios.replace("[targets.ios.palettize]", "[palettize]"))
    with pytest.raises(ConfigError, match=f'minimum_deployment_target = "{needed}"'):
        parse_config(raw)


def test_cli_rejects_int4_on_ios16_in_one_line(tmp_path, tiny_model_path):
    config = write_config(tmp_path, tiny_model_path)
    config.write_text(config.read_text() + '\n[targets.ios]\nvariants = ["int4"]\nminimum_deployment_target = "iOS16"\n')
    result = run_cli("build", "--config", str(config), "--target", "ios")
    assert result.returncode == 2
    assert 'needs minimum_deployment_target = "iOS18"' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_activation_quantization_needs_macos_and_leaves_nothing_behind(tmp_path, tiny_model_path):
    config = ios_config(tmp_path, tiny_model_path, ios='variants = ["fp16"]\nactivation_quantization = true\n')
    with pytest.raises(EnvironmentProblem, match="macOS"):
        build(config, target="ios", progress=QUIET)
    assert not (config.build.out / "ios").exists()


def test_profile_on_linux_writes_the_mac_script_and_exits_4(clustered_build, tmp_path):
    config, report = clustered_build
    config_path = config.build.out.parent / "edgekit.toml"
    result = run_cli("profile", "--target", "ios", "--config", str(config_path))
    assert result.returncode == 4 and "needs macOS" in result.stderr
    script = config.build.out / "ios" / "profile_coreml.py"
    namespace = {}
    exec(compile(script.read_text(), str(script), "exec"), namespace)  # noqa: S102 - our own generated script
    assert [a["path"] for a in namespace["ARTIFACTS"]] == [a["path"] for a in by_variant(report).values()]
    assert namespace["ARTIFACTS"][0]["inputs"][0]["kind"] == "image"


def test_mac_harness_timing_and_merge_with_fake_coreml_loader(clustered_build, tmp_path):
    from edgekit.targets.ios import coreml_harness

    config, report = clustered_build
    calls = []

    class FakeCoreMLModel:  # stands in for coremltools.models.MLModel, which needs macOS
        def __init__(self, path, unit):
            assert path.is_dir()
            self.unit = unit

        def predict(self, feed):
            calls.append(self.unit)
            return {"probabilities": {}}

    artifacts = [{"path": a["path"], "inputs": a["coreml"]["inputs"]} for a in by_variant(report).values()]
    results = coreml_harness.measure_all(config.build.out, artifacts, runs=5, warmup=2, units=["CPU_ONLY", "ALL"],
                                         load=FakeCoreMLModel, inputs_for=lambda spec: np.zeros(spec["shape"]),
                                         log=lambda text: None)
    assert len(calls) == len(artifacts) * 2 * (1 + 2 + 5)
    entry = results[0]["latency"][0]
    assert entry["where"] == "device" and entry["compute_units"] == "cpu_only" and entry["runs"] == 5
    assert 0 <= entry["p50_ms"] <= entry["p90_ms"]
    merged = tmp_path / "ios_latency.json"
    merged.write_text(json.dumps({"schema": "edgekit.latency/v1", "target": "ios", "results": results}))
    result = run_cli("profile", "--target", "ios", "--config", str(config.build.out.parent / "edgekit.toml"),
                     "--merge", str(merged))
    assert result.returncode == 0, result.stderr
    after = json.loads((config.build.out / "report.json").read_text())
    latency = by_variant(after)["fp16"]["latency"]
    assert {e["compute_units"] for e in latency} == {"cpu_only", "all"}
    page = (config.build.out / "report.html").read_text()  # rewritten with the merged numbers
    assert "coreml / cpu_only" in page and "<svg" in page


def test_a_savedmodel_builds_for_ios_with_post_training_formats_on_every_weight(tmp_path, tiny_model_path, keras_module):
    """No Keras layers to match: every weight op still gets the variant's format, names come from the signature."""
    exported = tmp_path / "exported"
    keras_module.models.load_model(tiny_model_path).save(exported, save_format="tf")
    config = ios_config(tmp_path, exported, ios='variants = ["palettized"]\n')
    artifact = by_variant(build(config, target="ios", progress=QUIET))["palettized"]
    statuses = {c["name"]: c["status"] for c in artifact["checks"]}
    assert "failed" not in statuses.values(), artifact["checks"]
    assert artifact["coreml"]["layers"] and {layer["stored"] for layer in artifact["coreml"]["layers"].values()} == {"lut"}


def test_delegate_budgets_are_refused_outside_android():
    raw = {"model": {"path": "m.keras"}, "dataset": {"kind": "fashion_mnist"},
           "targets": {"ios": {"budgets": {"min_delegated_fraction": {"gpu": 1.0}}}}}
    with pytest.raises(ConfigError, match="applies to the android target only"):
        parse_config(raw)


def test_clusters_needing_per_channel_luts_on_ios16_are_an_error_naming_ios18(tmp_path, tiny_model_path):
    # per-channel clusters: each of the second conv's 16 filters has its own 64 centroids (> 256 values per tensor)
    recipe = '[[recipe]]\nstep = "cluster"\nclusters = 64\nper_channel = true\nepochs = 1\n'
    config = ios_config(tmp_path, tiny_model_path, recipe=recipe,
                        ios='variants = ["palettized"]\nminimum_deployment_target = "iOS16"\n')
    with pytest.raises(ConfigError, match='holds more than 256 distinct weights.*needs minimum_deployment_target = "iOS18"'):
        build(config, target="ios", progress=QUIET)
