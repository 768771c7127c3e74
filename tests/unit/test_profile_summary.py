from pathlib import Path

from tests.perf.profile_summary import load, summary


def test_the_summary_counts_self_and_inclusive_samples_per_function(tmp_path: Path) -> None:
    raw = tmp_path / "operator.txt"
    raw.write_text("main (app.py:1);handle (hooks.py:10);verify (sig.py:5) 6\n"
                   "main (app.py:1);handle (hooks.py:12) 3\n"
                   "main (app.py:2);idle (loop.py:9) 1\nnot a stack line\n")
    text = summary(load(raw))
    assert text.startswith("10 samples")
    own, inclusive = text.split("inclusive:")
    assert "60.0%  verify (sig.py)" in own and "30.0%  handle (hooks.py)" in own
    assert "100.0%  main (app.py)" in inclusive and "90.0%  handle (hooks.py)" in inclusive
