"""Variant parsing of the real-data quick-plan benchmark."""

from __future__ import annotations

import pytest

from benchmarks.bench_real_quick_plan import parse_variant


def test_variant_fields_are_typed_like_the_profile():
    assert parse_variant("quick:") == ("quick", {})
    name, overrides = parse_variant("ctx:inplane_spacing_factor=4,num_epochs=120,min_patch_coverage=none")
    assert name == "ctx" and overrides == {"inplane_spacing_factor": 4.0, "num_epochs": 120, "min_patch_coverage": None}


@pytest.mark.parametrize("text, message", [("noname", "NAME:key=value"), ("a b:x=1", "NAME:key=value"),
                                           ("v:no_such_field=1", "unknown profile field")])
def test_bad_variants_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_variant(text)


def test_bad_command_lines_are_one_line_errors(tmp_path, capsys):
    from benchmarks.bench_real_quick_plan import main

    with pytest.raises(SystemExit):
        main(["--raw", str(tmp_path), "--variant", "v:no_such_field=1"])
    assert "unknown profile field" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--raw", str(tmp_path / "missing"), "--variant", "quick:"])
    assert "is not a folder" in capsys.readouterr().err
