"""Never lose finished work: one target's failure is recorded while the others are written, and a
build of one target keeps the others from the previous build of the same model."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def all_targets(folder: Path, model: Path, *, ios: str = "") -> Path:
    config = write_config(folder, model, precisions=("fp32",), eval_samples=200)
    config.write_text(config.read_text() + textwrap.dedent(f"""
        [targets.ios]
        variants = ["fp16"]
        {ios}

        [targets.web]
        node_backends = ["wasm"]
        parity_samples = 100
        profile_browser = false
        litertjs = false
        """))
    return config


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def report_of(folder: Path) -> dict:
    return json.loads((folder / "out" / "report.json").read_text())


def test_a_target_failing_mid_build_keeps_the_others_and_exits_with_its_code(tmp_path, tiny_model_path):
    """iOS activation quantization needs macOS: it fails after conversion started; Android and web are written."""
    config = all_targets(tmp_path, tiny_model_path, ios="activation_quantization = true")
    result = cli("build", "--config", str(config), "--target", "all")
    assert result.returncode == 4, result.stderr  # the documented code of the worst failure: environment
    report = report_of(tmp_path)
    assert report["target_status"]["ios"]["status"] == "failed" and report["target_status"]["ios"]["exit_code"] == 4
    assert "macOS" in report["target_status"]["ios"]["reason"]
    assert {a["target"] for a in report["artifacts"]} == {"android", "web"} and not report["passed"]
    assert (tmp_path / "out/android/model_fp32.tflite").is_file() and (tmp_path / "out/web/tfjs/model.json").is_file()
    assert not (tmp_path / "out/ios").exists()  # nothing half-written
    assert "ios" in (tmp_path / "out/report.md").read_text()
    assert cli("check", str(tmp_path / "out/report.json")).returncode == 4  # check agrees with the build


def test_target_android_after_all_keeps_ios_and_web_then_a_new_model_drops_them(tmp_path, tiny_model_path):
    config = all_targets(tmp_path, tiny_model_path)
    assert cli("build", "--config", str(config), "--target", "all").returncode == 0
    first = report_of(tmp_path)
    result = cli("build", "--config", str(config), "--target", "android")
    assert result.returncode == 0, result.stderr
    second = report_of(tmp_path)
    assert second["targets"] == ["android", "ios", "web"]
    assert second["target_status"]["ios"]["kept_from"] == first["created"]
    assert [a["path"] for a in second["artifacts"]] == [a["path"] for a in first["artifacts"]]
    assert (tmp_path / "out/ios/model_fp16.mlpackage").is_dir() and (tmp_path / "out/web/samples.json").is_file()
    assert "ios/model_fp16.mlpackage" in (tmp_path / "out/report.html").read_text()
    # `edgekit profile --target ios` still finds its packages after an Android-only build
    profile = cli("profile", "--target", "ios", "--config", str(config))
    assert profile.returncode == 4 and "needs macOS" in profile.stderr
    # another model file: what the old build made for iOS and web no longer describes it
    other = tmp_path / "other.keras"
    shutil.copy(tiny_model_path, other)
    with open(other, "ab") as handle:
        handle.write(b"\0")  # same model, different bytes: a different file as far as provenance goes
    config.write_text(config.read_text().replace(str(tiny_model_path), str(other)))
    assert cli("build", "--config", str(config), "--target", "android").returncode == 0
    third = report_of(tmp_path)
    assert third["targets"] == ["android"] and not (tmp_path / "out/ios").exists()
    assert any("dropped" in note for note in third["notes"])


def test_a_missing_tool_is_named_before_the_model_loads_and_the_rest_builds(tmp_path, tiny_model_path):
    config = all_targets(tmp_path, tiny_model_path)
    text = config.read_text().replace("profile_browser = false", "profile_browser = true")
    config.write_text(text.replace("[targets.ios]\nvariants = [\"fp16\"]", ""))
    result = cli("build", "--config", str(config), "--target", "all", env={"EDGEKIT_CHROMIUM": "/no/such/chromium"})
    assert result.returncode == 4, result.stderr
    assert result.stderr.index("web cannot be built here") < result.stderr.index("model loaded")
    report = report_of(tmp_path)
    assert report["target_status"]["web"]["status"] == "failed" and "EDGEKIT_CHROMIUM" in report["target_status"]["web"]["reason"]
    assert [a["target"] for a in report["artifacts"]] == ["android"]


def test_previous_targets_that_failed_or_whose_settings_changed_are_not_kept(tmp_path, tiny_model_path):
    config = all_targets(tmp_path, tiny_model_path, ios="activation_quantization = true")
    assert cli("build", "--config", str(config), "--target", "all").returncode == 4  # iOS needs macOS for that
    result = cli("build", "--config", str(config), "--target", "android")
    assert result.returncode == 0, result.stderr  # the old iOS failure is not carried forward
    report = report_of(tmp_path)
    assert report["targets"] == ["android", "web"] and "ios" not in report["target_status"]
    assert any("previous ios artifacts dropped: it had failed" in note for note in report["notes"])
    config.write_text(config.read_text().replace('node_backends = ["wasm"]', 'node_backends = ["wasm"]\nquantize = "float16"'))
    assert cli("build", "--config", str(config), "--target", "android").returncode == 0
    report = report_of(tmp_path)
    assert report["targets"] == ["android"] and not (tmp_path / "out/web").exists()
    assert any("[targets.web] settings changed" in note for note in report["notes"])


def test_a_failing_rebuild_of_one_target_leaves_the_previous_build_untouched(tmp_path, tiny_model_path):
    config = all_targets(tmp_path, tiny_model_path)
    assert cli("build", "--config", str(config), "--target", "all").returncode == 0
    before = report_of(tmp_path)
    config.write_text(config.read_text().replace('variants = ["fp16"]', 'variants = ["fp16"]\nactivation_quantization = true'))
    result = cli("build", "--config", str(config), "--target", "ios")
    assert result.returncode == 4 and "macOS" in result.stderr
    assert report_of(tmp_path) == before and (tmp_path / "out/ios/model_fp16.mlpackage").is_dir()


def test_a_second_build_into_the_same_folder_exits_4_while_the_first_runs(tmp_path, tiny_model_path):
    from edgekit.staging import output_lock

    config = write_config(tmp_path, tiny_model_path, precisions=("fp32",))
    with output_lock(tmp_path / "out"):  # what a running build holds
        result = cli("build", "--config", str(config))
    assert result.returncode == 4 and "another edgekit build is writing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    assert not (tmp_path / ".out.lock").exists()  # released with the lock


def test_an_output_folder_under_a_file_is_refused_before_the_model_loads(tmp_path, tiny_model_path):
    config = write_config(tmp_path, tiny_model_path, precisions=("fp32",))
    (tmp_path / "a-file").write_text("x")
    result = cli("build", "--config", str(config), "--out", str(tmp_path / "a-file" / "out"))
    assert result.returncode == 2 and "not a folder" in result.stderr and "model loaded" not in result.stderr


def test_simulated_full_disk_is_refused_before_the_model_loads(tmp_path, tiny_model_path, monkeypatch, capsys):
    """Mocked: shutil.disk_usage reports 1 MiB free (a really full disk cannot be made here safely)."""
    import collections

    from edgekit.cli import main

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, (1 << 30) - (1 << 20), 1 << 20))
    config = write_config(tmp_path, tiny_model_path, precisions=("fp32",))
    assert main(["build", "--config", str(config)]) == 4
    captured = capsys.readouterr()
    assert "only 1 MiB free" in captured.err and not (tmp_path / "out").exists()
    assert "model loaded" not in captured.out + captured.err


def test_an_immutable_output_folder_is_refused_before_the_model_loads(tmp_path, tiny_model_path):
    """chattr +i makes the folder unwritable even for root; skipped where the file system lacks it."""
    config = write_config(tmp_path, tiny_model_path, precisions=("fp32",))
    locked = tmp_path / "locked"
    locked.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(locked)]).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        result = cli("build", "--config", str(config), "--out", str(locked / "out"))
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert result.returncode == 4 and "cannot write the build" in result.stderr, result.stderr
    assert "model loaded" not in result.stdout + result.stderr and list(locked.iterdir()) == []


def test_an_immutable_previous_build_is_refused_before_the_model_loads(tmp_path, tiny_model_path):
    config = write_config(tmp_path, tiny_model_path, precisions=("fp32",))
    assert cli("build", "--config", str(config)).returncode == 0
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(tmp_path / "out")]).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        result = cli("build", "--config", str(config))
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "out")], check=True)
    assert result.returncode == 4 and "cannot replace the previous build" in result.stderr, result.stderr
    assert "model loaded" not in result.stdout + result.stderr


def test_a_refused_model_leaves_no_folders_created_for_the_output(tmp_path):
    (tmp_path / "broken.keras").write_text("not a zip")
    config = write_config(tmp_path, tmp_path / "broken.keras", precisions=("fp32",))
    result = cli("build", "--config", str(config), "--out", str(tmp_path / "new" / "deeper" / "out"))
    assert result.returncode == 2 and "not a readable .keras archive" in result.stderr, result.stderr
    assert not (tmp_path / "new").exists()
