"""Progress display on stderr: a line per stage with its time, bars for long loops on a terminal."""
from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Reporter:
    def __init__(self, *, quiet: bool = False, console: Console | None = None):
        self.console = console or Console(stderr=True, highlight=False)
        self.quiet = quiet

    def say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    @contextlib.contextmanager
    def stage(self, text: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.say(f"[green]✓[/] {text} [dim]({time.perf_counter() - start:.1f} s)[/]")

    @contextlib.contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """Yield `advance(n)`; draws a bar only when stderr is a terminal."""
        if self.quiet or not self.console.is_terminal:
            yield lambda n: None
            return
        columns = (TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n: progress.advance(task, n)
