from pathlib import Path

import pytest

from edgekit.config import load_config, parse_config
from edgekit.errors import ConfigError, InputError

BASE = {
    "model": {"path": "m.keras"},
    "dataset": {"kind": "fashion_mnist"},
    "targets": {"android": {"precisions": ["int8"]}},
}


def with_(**changes):
    raw = {key: dict(value) for key, value in BASE.items()}
    raw["targets"] = {"android": dict(BASE["targets"]["android"])}
    for dotted, value in changes.items():
        node = raw
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return raw


def test_config_fills_target_defaults_from_target_data_file():
    config = parse_config(with_())
    android = config.targets.android
    assert android.threads == 1 and android.runs == 200
    assert set(android.parity) >= {"fp32", "fp16", "dynamic", "int8", "int16x8"}


def test_config_typo_in_key_names_the_key_and_suggests_the_right_one():
    raw = with_(targets__android__budgets={"max_sise": "10 KB"})
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    line = info.value.one_line()
    assert "targets.android.budgets.max_sise" in line
    assert "did you mean 'max_size'" in line
    assert "example" in line and "\n" not in line


def test_config_typo_at_top_level_suggests_section():
    raw = with_()
    raw["datset"] = raw.pop("dataset")
    with pytest.raises(ConfigError, match="did you mean 'dataset'"):
        parse_config(raw)


def test_config_bad_precision_suggests_closest_value():
    with pytest.raises(ConfigError, match="did you mean 'int8'"):
        parse_config(with_(targets__android__precisions=["int08"]))


def test_config_bad_size_unit_explains_the_format():
    with pytest.raises(ConfigError, match=r"max_size.*write it like"):
        parse_config(with_(targets__android__budgets={"max_size": "12 parsecs"}))


def test_config_missing_section_is_named_with_an_example():
    raw = with_()
    del raw["dataset"]
    with pytest.raises(ConfigError, match=r"missing required key 'dataset'"):
        parse_config(raw)


def test_config_parses_human_budget_units():
    config = parse_config(with_(targets__android__budgets={
        "max_size": "64 KiB", "max_download": "50 KB", "max_latency_p50": "2 ms", "max_accuracy_drop": 0.5}))
    budgets = config.targets.android.budgets
    assert (budgets.max_size, budgets.max_download, budgets.max_latency_p50) == (65536, 50000, 2.0)


def recipe(*steps):
    raw = with_()
    raw["recipe"] = list(steps)
    return raw


def test_config_recipe_parses_steps_in_order_with_defaults():
    config = parse_config(recipe({"step": "prune", "final_sparsity": 0.75}, {"step": "cluster"}, {"step": "qat"}))
    assert [s.step for s in config.recipe] == ["prune", "cluster", "qat"]
    assert config.recipe[0].schedule == "polynomial" and config.recipe[1].clusters == 16
    assert config.has_step("qat") and config.recipe[2].epochs == 2


def test_config_recipe_step_typos_get_did_you_mean():
    with pytest.raises(ConfigError, match=r"'recipe\[0\].step' is 'prnue'.*did you mean 'prune'"):
        parse_config(recipe({"step": "prnue"}))
    with pytest.raises(ConfigError, match=r"unknown key 'recipe\[0\].final_sparsty' — did you mean 'final_sparsity'"):
        parse_config(recipe({"step": "prune", "final_sparsty": 0.7}))
    with pytest.raises(ConfigError, match="has no 'step' key"):
        parse_config(recipe({"epochs": 1}))


@pytest.mark.parametrize("steps,message", [
    (({"step": "qat"}, {"step": "prune"}), "prune -> cluster -> qat"),
    (({"step": "prune"}, {"step": "prune"}), "twice"),
    (({"step": "prune", "m_by_n": [4, 2]},), "0 < m < n"),
    (({"step": "prune", "initial_sparsity": 0.8, "final_sparsity": 0.5},), "below final_sparsity"),
    (({"step": "cluster", "clusters": 1},), "greater than or equal to 2"),
])
def test_config_recipe_rejects_impossible_recipes(steps, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(recipe(*steps))


def test_config_duplicate_precisions_are_an_error():
    with pytest.raises(ConfigError, match="repeat"):
        parse_config(with_(targets__android__precisions=["int8", "int8"]))


def test_load_config_resolves_paths_relative_to_the_file(tmp_path):
    (tmp_path / "edgekit.toml").write_text('[model]\npath = "m.keras"\n[dataset]\nkind = "fashion_mnist"\n'
                                           '[targets.android]\nprecisions = ["fp16"]\n')
    config = load_config(tmp_path / "edgekit.toml")
    assert config.model.path == tmp_path / "m.keras"
    assert config.build.out == tmp_path / "build"


def test_load_config_reports_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[model\npath=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_starter_config_written_by_init_is_valid(tmp_path):
    from edgekit.cli import main

    assert main(["init", str(tmp_path / "edgekit.toml")]) == 0
    config = load_config(tmp_path / "edgekit.toml")
    assert config.targets.android.shipped() == ["int8"]
    assert main(["init", str(tmp_path / "edgekit.toml")]) == 2  # refuses to overwrite


@pytest.mark.parametrize("search,message", [
    ({"alphas": [0]}, "greater than 0"), ({"depths": [0]}, "greater than or equal to 1"),
    ({"resolutions": [4]}, "at least 8 pixels"), ({"alphas": []}, "at least one value"),
])
def test_config_search_values_are_checked_before_any_work(search, message):
    raw = with_()
    raw["search"] = search
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


@pytest.mark.parametrize("target, table, message", [
    ("ios", {"min_delegated_fraction": {"gpu": 1.0}}, "applies to the android target only"),
    ("android", {"max_browser_p50": "3 ms"}, "applies to the web target only"),
    ("ios", {"max_first_inference": "2 s"}, "applies to the web target only"),
])
def test_a_budget_the_target_cannot_measure_is_refused(target, table, message):
    raw = {"model": {"path": "m.keras"}, "dataset": {"kind": "fashion_mnist"}, "targets": {target: {"budgets": table}}}
    if target == "android":
        raw["targets"]["android"]["precisions"] = ["int8"]
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_web_quantize_conflicts_and_tiny_shards_are_refused_when_the_config_is_read():
    base = {"model": {"path": "m.keras"}, "dataset": {"kind": "fashion_mnist"}}
    with pytest.raises(ConfigError, match="also a key of quantize_nodes"):
        parse_config({**base, "targets": {"web": {"quantize": "uint8", "quantize_nodes": {"uint8": ["*"]}}}})
    with pytest.raises(ConfigError, match="shard_size"):
        parse_config({**base, "targets": {"web": {"shard_size": "10 B"}}})


@pytest.mark.parametrize("budget", [{"max_size": 0}, {"max_download": "0 KB"}, {"max_latency_p50": "0 ms"},
                                    {"max_latency_p50": 0}])
def test_zero_budgets_are_refused_at_config_time(budget):
    with pytest.raises(ConfigError) as info:
        parse_config(with_(targets__android__budgets=budget))
    assert next(iter(budget)) in info.value.one_line() and "\n" not in info.value.one_line()
