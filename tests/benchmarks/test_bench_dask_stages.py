"""Pure helpers of the Dask stage benchmark (the timing itself runs as a script, not a test)."""

from __future__ import annotations

import pytest

from benchmarks.bench_dask_stages import alternate, main, summary


def test_summary_takes_the_fastest_repeat_and_the_ratio_of_those():
    out = summary({1: [10.0, 8.0], 2: [5.0, 4.5]}, n_cases=4)
    assert out["seconds_workers1"] == 8.0 and out["seconds_workers2"] == 4.5
    assert out["speedup_workers2"] == pytest.approx(8.0 / 4.5, abs=1e-3)
    assert out["seconds_per_case_workers1"] == 2.0 and out["all_seconds_workers1"] == [10.0, 8.0]


def test_alternate_interleaves_the_settings_and_keeps_the_last_output():
    calls = []
    seconds, outputs = alternate({1: lambda: calls.append(1) or "a", 2: lambda: calls.append(2) or "b"}, repeats=2)
    assert calls == [1, 2, 1, 2]
    assert outputs == {1: "a", 2: "b"} and all(len(v) == 2 for v in seconds.values())


def test_a_work_folder_without_models_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--study-work", str(tmp_path)])
    assert "no nnUNet_results folder" in capsys.readouterr().err
