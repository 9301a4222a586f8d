"""The `edgekit` command: argv -> a library call -> an exit code. No pipeline logic here."""
from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Sequence

from edgekit import __version__
from edgekit.errors import (EXIT_BUDGET, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ConfigError,
                            EdgekitError)
from edgekit.targets import registry

EXIT_CODES = """exit codes: 0 ok · 1 a budget or parity gate failed · 2 usage, config or input error ·
3 unsafe or unsupported model · 4 environment problem · 5 internal error · 130 interrupted"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="edgekit", description="Take a trained Keras model to phones and browsers.",
                                  epilog=EXIT_CODES)
    top.add_argument("--version", action="version", version=f"edgekit {__version__}")
    top.add_argument("--verbose", "-v", action="store_true",
                     help="show the converters' and Node's own output, and a traceback on an internal error")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")

    build = sub.add_parser("build", help="compress, convert, validate, profile and report", epilog=EXIT_CODES)
    build.add_argument("--config", "-c", type=Path, default=Path("edgekit.toml"), help="config file (default: edgekit.toml)")
    build.add_argument("--target", "-t", default="all",
                       help=f"{', '.join(registry.NAMES)} or all (default: all configured)")
    build.add_argument("--out", "-o", type=Path, help="output folder (default: build.out from the config)")
    build.add_argument("--dry-run", action="store_true",
                       help="check the config and the targets' tools (exit 4 if one is missing), print the resolved "
                            "config, and stop")
    build.add_argument("--quiet", "-q", action="store_true", help="no progress output")

    search = sub.add_parser("search", help="find the smallest distilled student that meets the budgets",
                            epilog=EXIT_CODES)
    search.add_argument("--config", "-c", type=Path, default=Path("edgekit.toml"), help="config file with [search]")
    search.add_argument("--target", "-t", default="android", help="target whose budgets drive the search (android)")
    search.add_argument("--out", "-o", type=Path, help="output folder (default: build.out from the config)")
    search.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    search.add_argument("--storage", help="where the study's trials live: postgresql://user:pw@host/db (many machines), "
                        "sqlite:///file.db, or FILE.journal (default: $EDGEKIT_SEARCH_STORAGE, else "
                        "<out>/search.journal); the variable keeps a password out of the process list")
    search.add_argument("--study", help="study name shared by every worker (default: derived from model, data, seed)")
    search.add_argument("--workers", type=int, default=1, help="local worker processes, this one included (default 1)")
    search.add_argument("--wait", type=float, default=600, metavar="SECONDS",
                        help="--worker: how long to wait for the coordinator to set up the study (0: as long as it takes)")
    search.add_argument("--worker", action="store_true",
                        help="run trials of an existing study only (another machine); the coordinator builds the finalists")

    check = sub.add_parser("check", help="re-evaluate the budgets of an existing report (no TensorFlow)",
                           epilog=EXIT_CODES)
    check.add_argument("report", type=Path, help="report.json written by edgekit build")
    check.add_argument("--budgets", type=Path, help="TOML file with budgets per target, e.g. [android] max_size = \"300 KB\"")
    check.add_argument("--baseline", type=Path, metavar="BASE_REPORT",
                       help="report.json of the base branch: show the changes and apply the budgets of change")
    check.add_argument("--verify", action="store_true",
                       help="recompute each artifact's sha256 and fail (exit 1) on a file changed since the build")
    _output_options(check)

    diff = sub.add_parser("diff", help="compare two reports artifact by artifact (no TensorFlow)", epilog=EXIT_CODES)
    diff.add_argument("base", type=Path, help="the baseline report.json (e.g. the base branch's build)")
    diff.add_argument("report", type=Path, help="the new report.json")
    diff.add_argument("--budgets", type=Path, help="budgets of change to apply (default: the new report's config)")
    _output_options(diff)

    why = sub.add_parser("why", help="which tensors cost an artifact's bytes, and what would shrink them",
                         epilog=EXIT_CODES)
    why.add_argument("artifact", type=Path, help="a .tflite file or a TF.js model.json (or its folder)")
    why.add_argument("--top", type=int, default=10, help="how many tensors to list, largest download first (10)")
    why.add_argument("--format", "-f", choices=["text", "json"], default="text")

    profile = sub.add_parser("profile", help="measure latency where the model will run and fold it into the report",
                             epilog=EXIT_CODES)
    profile.add_argument("--target", "-t", required=True, choices=registry.NAMES, help="which artifacts to profile")
    profile.add_argument("--config", "-c", type=Path, default=Path("edgekit.toml"), help="config file (default: edgekit.toml)")
    profile.add_argument("--out", "-o", type=Path, help="build folder holding report.json (default: build.out from the config)")
    profile.add_argument("--device", help="android: adb serial of the phone to measure on")
    profile.add_argument("--merge", type=Path, metavar="FILE",
                         help="fold an edgekit.latency/v1 JSON measured elsewhere (e.g. on a Mac) into the report")
    profile.add_argument("--quiet", "-q", action="store_true", help="no progress output")

    setup = sub.add_parser("setup", help="install what a target needs outside Python (web: the npm runtimes)",
                           epilog=EXIT_CODES)
    setup.add_argument("what", choices=["web"], help="web: npm ci of the pinned TF.js/LiteRT.js/playwright-core "
                       "into the per-user cache ($EDGEKIT_CACHE, default ~/.cache/edgekit) and a check for Chromium")

    serve = sub.add_parser("serve", help="serve the demo app (edgekit/demo_app) with a build's web artifacts",
                           epilog=EXIT_CODES)
    serve.add_argument("--config", "-c", type=Path, default=Path("edgekit.toml"), help="config whose build.out to serve")
    serve.add_argument("--out", "-o", type=Path, help="build folder holding web/ (default: build.out from the config)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for a phone on the LAN")
    serve.add_argument("--port", "-p", type=int, default=8000, help="port (default: 8000)")

    init = sub.add_parser("init", help="write a commented edgekit.toml (fitted to a model with --model)")
    init.add_argument("path", nargs="?", type=Path, default=Path("edgekit.toml"))
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument("--model", type=Path, help="read this model (safely): inputs, outputs, the scaling it expects")
    init.add_argument("--data", type=Path, help="an .npz, an image folder <split>/<class>/ or Fashion-MNIST IDX files")
    return top


def _output_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--format", "-f", choices=["text", "markdown", "json", "github"], default="text",
                         help="text (terminal), markdown (a PR comment), json (edgekit.check/v1), github (annotations)")
    command.add_argument("--report-url", help="link to the full report, shown in the markdown comment")
    command.add_argument("--html", type=Path, metavar="FILE",
                         help="also write the report's HTML page, with the baseline's points beside the current ones")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.verbose:
        os.environ["EDGEKIT_DEBUG"] = "1"  # read by quiet_native, the Node runner and the last-resort handler
    try:
        if args.command == "build":
            return cmd_build(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "search":
            return cmd_search(args)
        if args.command == "init":
            return cmd_init(args)
        if args.command == "profile":
            return cmd_profile(args)
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "diff":
            return cmd_diff(args)
        if args.command == "why":
            return cmd_why(args)
        if args.command == "setup":
            from edgekit.web_setup import setup_web

            return setup_web()
        parser().print_help(sys.stderr)
        return EXIT_USAGE
    except EdgekitError as err:
        print(f"edgekit: error: {' '.join(err.one_line().split())}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # output piped into `head` and the like: not an error of edgekit's
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("edgekit: interrupted; nothing was left half-written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - last line of defence: one line, exit 5
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        first = (str(err).strip().splitlines() or [""])[0][:300]
        print(f"edgekit: internal error: {type(err).__name__}: {first} (set EDGEKIT_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


def cmd_build(args: argparse.Namespace) -> int:
    from edgekit.config import load_config

    config = load_config(args.config)
    if args.out is not None:
        config.build.out = args.out.resolve()
    if args.dry_run:
        import json

        from edgekit.pipeline import resolve_targets
        from edgekit.targets import run

        names = resolve_targets(config, args.target)  # an unknown or unconfigured target: exit 2
        print(json.dumps(config.model_dump(mode="json"), indent=2))
        problems = {name: err for name in names if (err := run.preflight(name, config)) is not None}
        for name in names:
            state = f"cannot be built here: {problems[name].one_line()}" if name in problems else "ready"
            print(f"target {name}: {state}", file=sys.stderr)
        if config.recipe:
            from edgekit.distribute import read_plan

            plan = read_plan(config.build.distribute)
            print(f"recipe training: {plan.describe()}"
                  + (" (MirroredStrategy instead if the build finds several GPUs)"
                     if plan.kind == "single" and config.build.distribute == "auto" else ""), file=sys.stderr)
        return max((err.exit_code for err in problems.values()), default=EXIT_OK)
    from edgekit.pipeline import WORKER_SCHEMA, build
    from edgekit.progress import Reporter
    from edgekit.summary import print_summary

    from edgekit.report import exit_code

    report = build(config, target=args.target, progress=Reporter(quiet=args.quiet))
    if report.get("schema") == WORKER_SCHEMA:
        print(f"worker {report['worker']} of {report['workers']}: trained {', '.join(report['steps']) or 'nothing'} "
              "with the others; the chief writes the build")
        return EXIT_OK
    print_summary(report, out=config.build.out)
    return exit_code(report)


def cmd_search(args: argparse.Namespace) -> int:
    from edgekit.config import load_config

    config = load_config(args.config)
    if args.target != "android" or config.targets.android is None:
        raise ConfigError(f"search drives the android target's budgets; got --target {args.target}",
                          hint="add [targets.android] with budgets and run with --target android")
    if args.out is not None:
        config.build.out = args.out.resolve()
    from edgekit.progress import Reporter
    from edgekit.search import finish_search, run_search
    from edgekit.staging import check_output_dir

    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: at least 1", hint="e.g. --workers 2")
    from edgekit.search import STORAGE_ENV

    args.storage = args.storage or os.environ.get(STORAGE_ENV) or None
    if args.worker:
        result = run_search(config, progress=Reporter(quiet=args.quiet), storage=args.storage, study=args.study,
                            worker=True, wait_s=args.wait or None)
        print(f"search worker {result['worker']}: ran {result['trials_run']} trials of study {result['study']!r}")
        return EXIT_OK
    check_output_dir(config.build.out)
    from edgekit.staging import MARKER

    config.build.out.mkdir(parents=True, exist_ok=True)
    (config.build.out / MARKER).write_text("written by edgekit; this folder is replaced on each build\n")

    command = ["search", "--config", str(args.config.resolve()), "--target", args.target] + \
        (["--out", str(config.build.out)] if args.out is not None else [])
    result = run_search(config, progress=Reporter(quiet=args.quiet), storage=args.storage, study=args.study,
                        workers=args.workers, worker_command=command)
    finish_search(result, config.build.out)
    print(f"search: winner {result['winner'] or 'none (no finalist met every budget)'}; "
          f"{config.build.out / 'search.md'} has the Pareto table")
    return EXIT_OK if result["winner"] else EXIT_BUDGET


def cmd_check(args: argparse.Namespace) -> int:
    from edgekit.report import exit_code
    from edgekit.report_check import check_report, compare_reports, verify_artifacts

    report = check_report(args.report, budgets_file=args.budgets)
    if args.verify:
        verify_artifacts(report, args.report.parent)
    if args.baseline is None and args.format == "text" and args.html is None:
        from edgekit.summary import print_summary

        print_summary(report, out=args.report.parent)  # the build's own summary table
        return exit_code(report)
    doc = compare_reports(report, args.report, args.baseline, budgets_file=args.budgets, report_url=args.report_url)
    _write_html(args.html, report, args.baseline)
    return _print_check(doc, args.format, fallback=exit_code(report))


def cmd_diff(args: argparse.Namespace) -> int:
    from edgekit.report_check import check_report, compare_reports

    report = check_report(args.report, budgets_file=args.budgets)  # recorded (or the file's) absolute budgets
    doc = compare_reports(report, args.report, args.base, budgets_file=args.budgets, report_url=args.report_url)
    _write_html(args.html, report, args.base)
    return _print_check(doc, args.format, fallback=EXIT_OK)


def _write_html(path: Path | None, report: dict, baseline: Path | None) -> None:
    if path is None:
        return
    from edgekit.report import load_report
    from edgekit.report.html import render

    page = render(report, load_report(baseline) if baseline is not None else None)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(path)


def cmd_why(args: argparse.Namespace) -> int:
    import json

    from edgekit.why import breakdown, render

    if args.top < 1:
        raise ConfigError(f"--top {args.top}: list at least one tensor", hint="e.g. --top 10")
    result = breakdown(args.artifact, top=args.top)
    print(json.dumps(result, indent=2) if args.format == "json" else render(result))
    return EXIT_OK


def _print_check(doc: dict, fmt: str, *, fallback: int) -> int:
    from edgekit.diff_format import render

    print(render(doc, fmt))
    if fallback != EXIT_OK:
        return fallback
    return EXIT_OK if doc["passed"] else EXIT_BUDGET


def cmd_profile(args: argparse.Namespace) -> int:
    from edgekit.config import load_config
    from edgekit.profile.merge import merge_results, read_results_file
    from edgekit.progress import Reporter
    from edgekit.summary import print_summary

    config = load_config(args.config)
    out = args.out.resolve() if args.out is not None else config.build.out
    report_path = out / "report.json"
    if args.merge is not None:
        results = read_results_file(args.merge)
        source = str(args.merge)
    else:
        harness = registry.get(args.target).profiler()
        results = harness.run(config, out=out, args=args, progress=Reporter(quiet=args.quiet))
        source = f"edgekit profile --target {args.target}"
    from edgekit.report import exit_code

    report = merge_results(report_path, results, source=source)
    print_summary(report, out=out)
    return exit_code(report)


def cmd_serve(args: argparse.Namespace) -> int:
    from edgekit.serve import check_build, serve_forever

    if args.out is not None:
        out = args.out.resolve()
    else:
        from edgekit.config import load_config

        out = load_config(args.config).build.out
    check_build(out)
    return serve_forever(out, host=args.host, port=args.port)


def cmd_init(args: argparse.Namespace) -> int:
    if args.path.exists() and not args.force:
        raise ConfigError(f"{args.path} already exists", hint="pass --force to overwrite it")
    if args.data is not None and args.model is None:
        raise ConfigError("--data needs --model", hint="edgekit init --model model.keras --data data.npz")
    notes: list[str] = []
    if args.model is not None:
        from edgekit.init_config import fitted_config

        text, notes = fitted_config(args.model, args.data, args.path)
    else:
        text = resources.files("edgekit").joinpath("starter.toml").read_text(encoding="utf-8")
    args.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.path.with_name(args.path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.path)
    for note in notes:
        print(f"note: {note}")
    then = "check the budgets" if args.model is not None else "edit model.path and the budgets"
    print(f"wrote {args.path}; {then}, then run: edgekit build --config {args.path} --target all")
    return EXIT_OK
