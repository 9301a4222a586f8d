"""One error tree for edgekit. Each class carries its process exit code.

Exit codes (documented in README.md):
  0 ok, 1 a budget or gate failed, 2 usage/config/input error, 3 unsafe or unsupported model,
  4 environment (missing tool, wrong OS), 5 internal error, 130 interrupted.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_BUDGET = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_ENVIRONMENT = 4
EXIT_INTERNAL = 5
EXIT_INTERRUPTED = 130


class EdgekitError(Exception):
    """Base class. `str(err)` is the one line shown to the user; `hint` says how to fix it."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(EdgekitError):
    """The config file or a command-line argument is wrong."""

    exit_code = EXIT_USAGE


class InputError(EdgekitError):
    """A file the user pointed at is missing or malformed (model path, dataset, report)."""

    exit_code = EXIT_USAGE


class UnsafeModelError(EdgekitError):
    """The model would run arbitrary code when loaded (Lambda layers, custom classes...)."""

    exit_code = EXIT_MODEL


class UnsupportedModelError(EdgekitError):
    """The model is well-formed but edgekit cannot handle it (format, layer, converter)."""

    exit_code = EXIT_MODEL


class EnvironmentProblem(EdgekitError):
    """Something outside edgekit is missing: a package, a tool, an OS feature."""

    exit_code = EXIT_ENVIRONMENT


class ConversionError(EdgekitError):
    """A converter failed on a model it should handle."""

    exit_code = EXIT_INTERNAL


class BudgetFailed(EdgekitError):
    """At least one budget was exceeded. Raised after the report is written."""

    exit_code = EXIT_BUDGET
