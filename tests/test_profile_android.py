"""`edgekit profile --target android`: command construction, environment errors, and the whole
push / run / pull / parse / merge flow against a FAKE adb (a script standing in for a phone)."""
import json
import sys
import textwrap

import pytest


from edgekit.cli import main
from edgekit.config import AndroidDevice
from edgekit.targets.android.harness import benchmark_command

from conftest import full_report, write_config
from test_benchmark_model_parser import WITH_PROFILE

FAKE_ADB = textwrap.dedent('''\
    #!{python}
    """FAKE adb for tests: a folder stands in for the phone's file system; no device is involved."""
    import json, os, re, shutil, sys
    from pathlib import Path

    root = Path(os.environ["FAKE_ADB_ROOT"])
    args = sys.argv[1:]
    with open(os.environ["FAKE_ADB_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    if args[:1] == ["-s"]:
        args = args[2:]
    on_phone = lambda remote: root / remote.lstrip("/")
    if args == ["devices"]:
        print("List of devices attached")
        print(os.environ.get("FAKE_ADB_DEVICES", ""))
    elif args[:2] == ["shell", "getprop"]:
        print({{"ro.product.model": "Fake Pixel", "ro.build.version.sdk": "34"}}[args[2]])
    elif args[:3] == ["shell", "mkdir", "-p"]:
        on_phone(args[3]).mkdir(parents=True, exist_ok=True)
    elif args[:2] == ["shell", "chmod"]:
        pass
    elif args[0] == "push":
        shutil.copy(args[1], on_phone(args[2]))
    elif args[0] == "pull":
        shutil.copy(on_phone(args[1]), args[2])
    elif args[0] == "shell" and "benchmark_model" in args[1]:
        target = re.search(r"> (\\S+) 2>&1", args[1]).group(1)
        gpu_fails = "--use_gpu=true" in args[1]
        text = "ERROR: Failed to apply GPU delegate.\\nBenchmarking failed.\\n" if gpu_fails else \\
            Path(os.environ["FAKE_BENCHMARK_OUTPUT"]).read_text()
        on_phone(target).write_text(text)
        sys.exit(1 if gpu_fails else 0)
    elif args[0] == "shell" and args[1].startswith("test -e "):
        sys.exit(0 if on_phone(args[1].split()[-1].strip("'")).exists() else 1)
    elif args[0] == "shell" and args[1].startswith("rm -rf"):
        shutil.rmtree(on_phone(args[1].split()[-1]), ignore_errors=True)
    else:
        sys.exit("fake adb: unexpected " + " ".join(args))
''')


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    script = tmp_path / "fake_adb"
    script.write_text(FAKE_ADB.format(python=sys.executable))
    script.chmod(0o755)
    (tmp_path / "phone").mkdir()
    (tmp_path / "benchmark.txt").write_text(WITH_PROFILE)
    monkeypatch.setenv("FAKE_ADB_ROOT", str(tmp_path / "phone"))
    monkeypatch.setenv("FAKE_ADB_LOG", str(tmp_path / "adb.log"))
    monkeypatch.setenv("FAKE_BENCHMARK_OUTPUT", str(tmp_path / "benchmark.txt"))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "FAKE123\tdevice")
    return script


def _built(tmp_path, *, adb, latency_budget="2 ms", benchmark_model=True):
    """A config and a report.json as `edgekit build` leaves them (host latency only)."""
    binary = tmp_path / "benchmark_model"
    if benchmark_model:
        binary.write_bytes(b"\x7fELF fake")
    device = (f'[targets.android.device]\nadb = "{adb}"\ncooldown_s = 0\ndelegates = ["xnnpack", "gpu"]\n'
              + (f'benchmark_model = "{binary}"\n' if benchmark_model else ""))
    config = write_config(tmp_path, tmp_path / "model.keras", precisions=("int8",), extra=device,
                          budgets=f'max_latency_p50 = "{latency_budget}"')
    out = tmp_path / "out"
    (out / "android").mkdir(parents=True)
    (out / "android" / "model_int8.tflite").write_bytes(b"TFL3 fake model")
    artifact = {"target": "android", "format": "tflite", "precision": "int8", "path": "android/model_int8.tflite",
                "bytes": 15, "gzip_bytes": 30, "accuracy": 0.9, "accuracy_drop": 0.1, "parity": {"status": "passed"},
                "latency": [{"where": "host", "runtime": "litert", "threads": 1, "p50_ms": 0.5, "p90_ms": 0.6, "runs": 20}],
                "budgets": [{"name": "max_latency_p50", "limit": float(latency_budget.split()[0]), "actual": 0.5,
                             "unit": "ms", "passed": True, "where": "host"}], "shipped": True}
    (out / "report.json").write_text(json.dumps(full_report([artifact])))
    return config, out


def test_benchmark_command_carries_the_configured_options():
    device = AndroidDevice(threads=2, warmup_runs=5, runs=50, pin_cores="f0", op_profiling=True, peak_memory=True)
    command = benchmark_command(device, binary="/data/local/tmp/edgekit/benchmark_model",
                                model="/data/local/tmp/edgekit/model_int8.tflite", delegate="gpu",
                                output="/data/local/tmp/edgekit/out.txt")
    assert command.startswith("taskset f0 /data/local/tmp/edgekit/benchmark_model --graph=/data/local/tmp/edgekit/model_int8.tflite")
    for flag in ("--num_threads=2", "--warmup_runs=5", "--num_runs=50", "--min_secs=0", "--use_gpu=true",
                 "--enable_op_profiling=true", "--report_peak_memory_footprint=true"):
        assert flag in command.split()
    assert command.endswith("> /data/local/tmp/edgekit/out.txt 2>&1")
    plain = benchmark_command(AndroidDevice(op_profiling=False, peak_memory=False), binary="b", model="m",
                              delegate="cpu", output="o")
    assert plain.split()[0] == "b" and "--use_xnnpack=false" in plain and "--enable_op_profiling" not in plain


def test_profile_exits_4_when_adb_is_missing(tmp_path, capsys):
    config, _ = _built(tmp_path, adb=tmp_path / "no-such-adb")
    assert main(["profile", "--target", "android", "--config", str(config), "--quiet"]) == 4
    err = capsys.readouterr().err.strip()
    assert "adb not found" in err and "platform-tools" in err and len(err.splitlines()) == 1


def test_profile_with_fake_adb_and_no_device_exits_4(tmp_path, fake_adb, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_ADB_DEVICES", "")
    config, _ = _built(tmp_path, adb=fake_adb)
    assert main(["profile", "--target", "android", "--config", str(config), "--quiet"]) == 4
    assert "no Android device connected" in capsys.readouterr().err


def test_profile_with_fake_adb_unknown_serial_exits_4_and_lists_devices(tmp_path, fake_adb, capsys):
    config, _ = _built(tmp_path, adb=fake_adb)
    assert main(["profile", "--target", "android", "--config", str(config), "--device", "OTHER", "--quiet"]) == 4
    assert "device OTHER not found (adb devices lists: FAKE123 (device))" in capsys.readouterr().err


def test_profile_without_benchmark_model_is_a_config_error(tmp_path, capsys):
    config, _ = _built(tmp_path, adb="adb", benchmark_model=False)
    assert main(["profile", "--target", "android", "--config", str(config), "--quiet"]) == 2
    assert "benchmark_model is not set" in capsys.readouterr().err


def test_profile_with_fake_adb_merges_device_numbers_and_budgets_read_them(tmp_path, fake_adb, capsys):
    config, out = _built(tmp_path, adb=fake_adb, latency_budget="1 ms")
    code = main(["profile", "--target", "android", "--config", str(config), "--device", "FAKE123", "--quiet"])
    assert code == 1  # host p50 0.5 ms met the budget; the phone's 1.399 ms does not
    report = json.loads((out / "report.json").read_text())
    latency = report["artifacts"][0]["latency"]
    assert [e["where"] for e in latency] == ["host", "device", "device"]
    xnnpack, gpu = latency[1], latency[2]
    assert xnnpack["runtime"] == "litert-benchmark_model" and xnnpack["delegate"] == "xnnpack"
    assert xnnpack["device"] == "Fake Pixel (FAKE123)" and xnnpack["p50_ms"] == 1.399 and xnnpack["p90_ms"] is None
    assert "no p90" in xnnpack["note"] and xnnpack["peak_memory_mb"] == 11.6562 and len(xnnpack["ops"]) == 2
    assert gpu["status"] == "failed" and "Failed to apply GPU delegate" in gpu["note"] and gpu["p50_ms"] is None
    budget = report["artifacts"][0]["budgets"][0]
    assert budget["where"] == "device" and budget["actual"] == 1.399 and budget["passed"] is False
    assert (out / "device" / "android" / "FAKE123" / "model_int8.xnnpack.txt").read_text() == WITH_PROFILE
    assert not [p for p in out.iterdir() if p.name.startswith(".device-")]
    markdown = (out / "report.md").read_text()
    assert "### On a device" in markdown and "### On the build host" in markdown
    assert "1.399 ms device · 0.500 ms host" in markdown
    calls = [json.loads(line) for line in (tmp_path / "adb.log").read_text().splitlines()]
    commands = [c[3] for c in calls if c[:3] == ["-s", "FAKE123", "shell"] and len(c) == 4]
    assert any("--use_xnnpack=true" in c for c in commands) and commands[-1].startswith("rm -rf /data/local/tmp/edgekit")
    assert not any((tmp_path / "phone").rglob("*.tflite"))  # nothing left on the phone


def test_device_entry_for_nnapi_on_android_15_notes_the_deprecation():
    from edgekit.targets.android.harness import latency_entry
    from edgekit.targets.android.benchmark_model import parse

    entry = latency_entry(parse(WITH_PROFILE), device=AndroidDevice(), delegate="nnapi", name="Pixel 9 (X)",
                          android_api=35)
    assert entry["android_api"] == 35 and "NNAPI is deprecated from Android 15" in entry["note"]
    assert "deprecated" not in latency_entry(parse(WITH_PROFILE), device=AndroidDevice(), delegate="gpu",
                                             name="Pixel 9 (X)", android_api=35)["note"]


def test_benchmark_command_quotes_paths_and_fits_both_phases_in_the_timeout():
    import shlex

    device = AndroidDevice(timeout_s=600)
    command = benchmark_command(device, binary="/data/local/tmp/edgekit/benchmark_model",
                                model="/data/local/tmp/edgekit/my model's.tflite", delegate="xnnpack",
                                output="/data/local/tmp/edgekit/out file.txt")
    words = shlex.split(command)  # what the phone's sh sees
    assert "--graph=/data/local/tmp/edgekit/my model's.tflite" in words
    assert words[-3:] == [">", "/data/local/tmp/edgekit/out file.txt", "2>&1"]
    assert "--max_secs=300" in words  # warm-up and timed runs are capped separately


def test_a_run_that_exits_non_zero_is_failed_even_with_timings():
    from edgekit.targets.android.harness import _entry

    text = WITH_PROFILE + "ERROR: Node number 3 (CONV_2D) failed to invoke.\nBenchmarking failed.\n"
    entry = _entry(text, 1, device=AndroidDevice(), delegate="gpu", name="Pixel (X)", android_api=34)
    assert entry["status"] == "failed" and entry["p50_ms"] is None
    assert "exit status 1" in entry["note"] and "failed to invoke" in entry["note"]
    ok = _entry(WITH_PROFILE, 0, device=AndroidDevice(), delegate="xnnpack", name="Pixel (X)", android_api=34)
    assert "status" not in ok and ok["p50_ms"] == 1.399


def test_profile_with_fake_adb_refuses_a_remote_folder_that_already_exists(tmp_path, fake_adb, capsys):
    config, out = _built(tmp_path, adb=fake_adb)
    kept = tmp_path / "phone" / "data" / "local" / "tmp" / "edgekit" / "user_file.txt"
    kept.parent.mkdir(parents=True)
    kept.write_text("not edgekit's")
    code = main(["profile", "--target", "android", "--config", str(config), "--device", "FAKE123", "--quiet"])
    assert code == 2
    assert "already exists on Fake Pixel (FAKE123)" in capsys.readouterr().err
    assert kept.read_text() == "not edgekit's"
