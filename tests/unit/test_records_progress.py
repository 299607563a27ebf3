"""Progress bars show on a terminal only, never in CI or a pipe."""

from __future__ import annotations

import io

import pytest

from records.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_progress_and_ci_or_a_pipe_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress("purging", "rows").disable
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with progress("purging", "rows") as bar:
        bar.update(5000)
    assert "purging" in terminal.getvalue()
    assert "5000" in terminal.getvalue()
    monkeypatch.setenv("CI", "true")
    assert progress("purging", "rows").disable
