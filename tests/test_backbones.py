"""The model matrix: keras.applications backbones saved by Keras 3 and by tf_keras, trained a few
steps on real data, through `edgekit build --target all` from the command line.

Every run keeps one Keras 3 and one tf_keras backbone (MobileNetV3Small: `hard_silu` and its own
Rescaling in Keras 3, TFOpLambda hard-swish in tf_keras). The full matrix (8 backbones x 2 Keras
versions, about an hour on 2 cores) is marked `matrix` and left out of the default run:
`pytest -m matrix`, or `benchmarks/backbones.py`, which also writes its table for BENCHMARKS.md.
"""
import pytest

from tests.backbones import BACKBONES, run_case

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CHANCE = 1 / 3


def check_row(row: dict) -> None:
    """Every target built and every artifact matches the Keras model, or the CLI said why in one line."""
    if row["exit"] != 0:  # only a model no converter can take may stop the build: exit 3, naming the layer or op
        lines = row["stderr"].splitlines()
        assert row["exit"] == 3 and len(lines) == 1 and "Traceback" not in row["stderr"], row
        assert "layer" in lines[0] or " op" in lines[0], row
        return
    assert row["reference_accuracy"] > CHANCE + 0.2, row  # the model learned something: outputs mean something
    targets = {a["target"] for a in row["artifacts"]}
    assert targets == {"android", "ios", "web"}, row
    for artifact in row["artifacts"]:
        assert artifact["parity"] in ("passed", "not_verified"), artifact
        assert artifact["parity"] == "passed" or artifact["target"] == "ios", artifact
        assert not artifact["checks_failed"], artifact


@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
def test_mobilenetv3small_builds_every_target_from_the_command_line(tmp_path, flavor):
    row = run_case("MobileNetV3Small", flavor, tmp_path, size=64, fast=True)
    assert row["exit"] == 0, row["stderr"]
    check_row(row)


@pytest.mark.matrix
@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_matrix_builds_every_target_or_says_why(tmp_path, name, flavor):
    check_row(run_case(name, flavor, tmp_path, size=64))


@pytest.mark.matrix
@pytest.mark.parametrize("name", ["MobileNetV2", "EfficientNetB0"])
def test_prune_cluster_qat_recipe_on_keras3_backbones_builds_every_target_and_matches(tmp_path, name):
    """Prune + cluster + QAT on a Keras 3 backbone trained well first: the coverage lists what each
    step took and what it left with the reason, and every artifact matches the Keras model it came from."""
    from tests.backbones import RECIPE

    row = run_case(name, "keras3", tmp_path, size=64, recipe=RECIPE, epochs=8, train_images=1500)
    assert row["exit"] == 0, row["stderr"]
    check_row(row)
    coverage = row["recipe"]["coverage"]
    assert set(coverage) == {"prune", "cluster", "qat"}
    for step in coverage.values():
        assert step.get("applied", 0) > 0
        assert all(reason for reason in step["reasons"])  # every layer left as it is says why
