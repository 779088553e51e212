"""A progress bar for compare() that works on a terminal (rich) and in
Jupyter (a display that updates in place: no ipywidgets needed)."""

from __future__ import annotations

import html
import sys
import time


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (ipykernel), where stderr is no tty but
    a display can be updated in place."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """``total`` steps; ``advance(text)`` after each, ``close(summary)`` at
    the end. On a terminal a rich bar on stderr that disappears; in Jupyter
    a line of text updated in place that ends as the summary."""

    def __init__(self, total: int, title: str = "measuring"):
        self.total, self.done, self.title = total, 0, title
        self.t0 = time.perf_counter()
        self._rich = self._display = None
        if in_jupyter():
            from IPython.display import HTML, display

            self._html = HTML
            self._display = display(HTML(self._line("starting")), display_id=True)
        else:
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(transient=True)
            self._rich.start()
            self._task = self._rich.add_task(title, total=total)

    def _line(self, text: str) -> str:
        width = 30
        full = int(width * self.done / self.total) if self.total else width
        bar = "█" * full + "░" * (width - full)
        return (
            f"<pre>{html.escape(self.title)} {self.done}/{self.total} {bar} "
            f"{time.perf_counter() - self.t0:.1f} s  {html.escape(text)}</pre>"
        )

    def step(self, text: str) -> None:
        """Say what is being measured now (before it runs)."""
        if self._display is not None:
            self._display.update(self._html(self._line(text)))
        elif self._rich is not None:
            self._rich.update(self._task, description=f"{self.title}: {text}")

    def advance(self) -> None:
        """One step done."""
        self.done += 1
        if self._display is not None:
            self._display.update(self._html(self._line("")))
        elif self._rich is not None:
            self._rich.advance(self._task)

    def close(self, summary: str) -> None:
        """End the bar: the summary stays in a notebook, the terminal bar
        disappears."""
        if self._display is not None:
            self._display.update(self._html(f"<pre>{html.escape(summary)}</pre>"))
        elif self._rich is not None:
            self._rich.stop()
