"""A long command's progress: a bar redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

from reliability.management.progress import Progress
from tests.clock import FakeClock


def test_without_a_terminal_a_line_every_n_items_and_at_the_end():
    lines: list[str] = []
    progress = Progress(label="replay", write=lines.append, tty=False, every=50)
    for done in range(1, 121):
        progress(done, 120, f"#{done}")
    progress.close()
    assert lines == ["replay: 50/120 (41%) #50\n", "replay: 100/120 (83%) #100\n", "replay: 120/120 (100%) #120\n"]


def test_on_a_terminal_one_line_redrawn_at_most_ten_times_a_second_and_always_at_the_end():
    clock = FakeClock()
    out: list[str] = []
    progress = Progress(label="replay", write=out.append, tty=True, clock=clock)
    for done in range(1, 101):
        clock.advance(0.01)
        progress(done, 100)
    progress.close()
    assert all(chunk.startswith("\r\x1b[2K") for chunk in out[:-1])
    assert 5 <= len(out) - 1 <= 12, len(out)
    assert out[-2].startswith("\r\x1b[2Kreplay [" + "#" * 30 + "] 100/100 100%")
    assert out[-1] == "\n"
