"""The student search on a tiny teacher: budgets drop candidates before training, Optuna's successive-halving
pruner stops trials, several workers share one study (local journal file, and a real PostgreSQL server)."""
import json

import numpy as np

from edgekit.cli import main
from edgekit.config import Budgets, load_config
from edgekit.recipe import SearchSection
from edgekit.search import _measure, candidates, pareto_front

from conftest import write_config

SEARCH = """
[search]
alphas = [0.25, 0.5, 1.0]
depths = [2]
proxy_epochs = 1
proxy_samples = 400
validation_samples = 200
eta = 2
finalists = 1
final_epochs = 1
"""


def test_search_drops_over_budget_students_before_training_and_stops_at_the_finalists(tmp_path, tiny_model_path,
                                                                                       keras_module, fashion_subset):
    teacher = keras_module.models.load_model(tiny_model_path)
    sizes = {spec.name(): _measure(spec, teacher, fashion_subset[0][:32], Budgets())["bytes"]
             for spec in candidates(SearchSection(alphas=[0.25, 0.5, 1.0], depths=[2]))}
    limit = sorted(sizes.values())[1]  # the two smaller students fit, the largest does not
    config = write_config(tmp_path, tiny_model_path, precisions=("int8",), budgets=f"max_size = {limit}")
    text = config.read_text().replace("calibration_samples = 64", "calibration_samples = 64\ntrain_samples = 900")
    config.write_text(text + SEARCH)

    assert main(["search", "--config", str(config), "--quiet"]) == 0
    result = json.loads((tmp_path / "out" / "search.json").read_text())
    rows = {r["name"]: r for r in result["candidates"]}
    assert {name: r["feasible"] for name, r in rows.items()} == {name: size <= limit for name, size in sizes.items()}
    largest = max(sizes, key=sizes.get)
    assert "proxy" not in rows[largest] and rows[largest]["over_budget"] == ["max_size"]
    trained = [r for r in rows.values() if r.get("proxy")]
    assert len(trained) == 2
    finalists = [r for r in rows.values() if "final" in r]
    assert len(finalists) == 1 and len(finalists[0]["proxy"]) == 2  # the survivor trained a second, longer rung
    assert finalists[0]["proxy"][1]["epochs"] == 2 and finalists[0]["proxy"][1]["epochs_trained"] == 1
    assert result["winner"] == finalists[0]["name"] and finalists[0]["final"]["bytes"] <= limit
    # the first trial to report always goes on (asynchronous halving); the second only if it beat it at rung 1
    second = next(r for r in trained if r is not finalists[0])
    assert second["trial"]["state"] in ("pruned", "complete")
    assert result["cost"]["proxy_epochs"] == 2 + len(second["proxy"]) and result["cost"]["final_builds"] == 1
    assert result["study"]["trials"] == 2 and sum(result["study"]["trials_by_worker"].values()) == 2
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["search"]["winner"] == result["winner"] and report["passed"] is True
    assert "Pareto front" in (tmp_path / "out" / "search.md").read_text()


def test_search_with_an_impossible_budget_exits_1_without_training(tmp_path, tiny_model_path):
    config = write_config(tmp_path, tiny_model_path, precisions=("int8",), budgets='max_size = "1 KB"')
    config.write_text(config.read_text() + SEARCH)
    assert main(["search", "--config", str(config), "--quiet"]) == 1
    result = json.loads((tmp_path / "out" / "search.json").read_text())
    assert result["winner"] is None and result["cost"]["proxy_epochs"] == 0
    assert not any(r["feasible"] for r in result["candidates"])


def test_pareto_front_keeps_only_undominated_points():
    rows = [
        {"name": "a", "gzip_bytes": 10, "p50_ms": 1, "proxy": [{"accuracy": 0.80}]},
        {"name": "b", "gzip_bytes": 20, "p50_ms": 1, "proxy": [{"accuracy": 0.70}]},  # dominated by a
        {"name": "c", "gzip_bytes": 30, "p50_ms": 1, "proxy": [{"accuracy": 0.90}]},
        {"name": "d", "gzip_bytes": 5, "p50_ms": 1},  # never trained: no accuracy, not on the front
    ]
    assert [p["name"] for p in pareto_front(rows)] == ["a", "c"]


def test_compressed_candidates_have_the_structure_and_the_smaller_download(keras_module, tiny_model_path,
                                                                          fashion_subset):
    from edgekit.compress.students import StudentSpec, build_student
    from edgekit.search import _like_trained, variants
    from edgekit.search_compress import compress_weights

    space = variants(SearchSection(alphas=[0.5], depths=[2], sparsities=[0, 0.75], clusters=[0, 8]))
    assert sorted(space) == ["separable-a0.5-d2-rfull", "separable-a0.5-d2-rfull-c8", "separable-a0.5-d2-rfull-p75",
                             "separable-a0.5-d2-rfull-p75-c8"]
    student = build_student(StudentSpec(alpha=0.5, depth=2), input_shape=(28, 28, 1), classes=10)
    _like_trained(student)
    depthwise_before = [layer.get_weights()[0].copy() for layer in student.layers
                        if type(layer).__name__ == "DepthwiseConv2D"]
    structure = compress_weights(student, sparsity=0.75, clusters=8)
    for layer in student.layers:
        if type(layer).__name__ in ("Conv2D", "Dense"):  # what TFMOT prunes and clusters
            kernel = layer.get_weights()[0]
            assert abs(np.mean(kernel == 0) - 0.75) < 0.01 and len(np.unique(kernel)) <= 8
    depthwise_after = [layer.get_weights()[0] for layer in student.layers if type(layer).__name__ == "DepthwiseConv2D"]
    assert all(np.array_equal(a, b) for a, b in zip(depthwise_before, depthwise_after))  # TFMOT leaves them dense
    dense = next(layer for layer in student.layers if type(layer).__name__ == "Dense")
    dense.kernel.assign(dense.kernel.numpy() + 0.01)  # a training step moves every weight
    structure.project()
    kernel = dense.kernel.numpy()
    assert abs(np.mean(kernel == 0) - 0.75) < 0.01 and len(np.unique(kernel)) <= 8
    teacher = keras_module.models.load_model(tiny_model_path)
    rows = {name: _measure(spec, teacher, fashion_subset[0][:32], Budgets(), sparsity=s, clusters=k)
            for name, (spec, s, k) in space.items()}
    dense, both = rows["separable-a0.5-d2-rfull"], rows["separable-a0.5-d2-rfull-p75-c8"]
    assert both["gzip_bytes"] < 0.85 * dense["gzip_bytes"] and both["params"] == dense["params"]  # 0.77x measured
