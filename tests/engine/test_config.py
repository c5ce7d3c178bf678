"""Settings: validated once, at construction, naming the setting; parsed from text."""

from __future__ import annotations

import pytest

from photostyle.engine.config import TransferConfig, parse_setting, parse_settings, preset_config
from photostyle.errors import ConfigError


def test_defaults_are_valid_and_replace_validates_again() -> None:
    config = TransferConfig()
    assert config.replace(size=256).size == 256
    with pytest.raises(ConfigError, match="size"):
        config.replace(size=-3)
    with pytest.raises(ConfigError, match="lr"):
        TransferConfig(lr=float("nan"))
    with pytest.raises(ConfigError, match="relu9_9"):
        TransferConfig(style_layers=("relu9_9",))
    with pytest.raises(ConfigError, match="colour_match: must be at most 1"):
        TransferConfig(colour_match=1.5)
    with pytest.raises(ConfigError, match="colour_match_gain: must be at least 1"):
        TransferConfig(colour_match_gain=0.5)
    for regions in (0, 7):
        with pytest.raises(ConfigError, match="seg_regions"):
            TransferConfig(seg_regions=regions)
    with pytest.raises(ConfigError, match="seg_inside_weight"):
        TransferConfig(seg_inside_weight=-1.0)


def test_settings_are_parsed_as_their_fields_types() -> None:
    assert parse_setting("size", "256") == 256
    assert parse_setting("style_layers", "relu1_1+relu2_1") == ("relu1_1", "relu2_1")
    assert parse_settings(["size=128", "segment=none"]) == {"size": 128, "segment": "none"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_settings(["size"])
    with pytest.raises(ConfigError):
        parse_setting("no_such_setting", "1")
    # a schedule, level by level: "+" as in --vary, or "," as in transfer --iterations
    assert parse_setting("iterations", "80+40") == (80, 40)
    assert parse_setting("iterations", "40,40") == (40, 40)
    assert parse_setting("iterations", "none") is None
    with pytest.raises(ConfigError, match=r"iterations: cannot read 'many' as .*80\+40"):
        parse_setting("iterations", "many")


def test_presets_fill_what_is_not_given() -> None:
    preview = preset_config("preview")
    assert not any(preview.iterations_per_level())  # no network at all
    assert preset_config("preview", size=200).size == 200
    with pytest.raises(ConfigError, match="preset"):
        preset_config("no-such-preset")


@pytest.mark.parametrize("preset", ["default", "strong", "preview", "quality", "paper",
                                    "artistic"])
def test_from_dict_reads_back_what_to_dict_wrote(preset: str) -> None:
    import json

    config = preset_config(preset, seed=7, style_layers=("relu1_1", "relu2_1"))
    again = TransferConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.to_dict() == config.to_dict()
    # a schedule written out level by level that is not the default one stays as given
    odd = TransferConfig(iterations=(5, 3))
    assert TransferConfig.from_dict(odd.to_dict()).iterations == (5, 3)


def test_from_dict_names_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="colour_boost: unknown setting"):
        TransferConfig.from_dict({"size": 64, "colour_boost": 1})
    with pytest.raises(ConfigError, match="size: expected an integer"):
        TransferConfig.from_dict({"size": "64"})
    with pytest.raises(ConfigError, match="expected a dictionary"):
        TransferConfig.from_dict([("size", 64)])  # type: ignore[arg-type]
    assert TransferConfig.from_dict({}) == TransferConfig()


def test_device_names() -> None:
    from photostyle.engine.config import check_device

    for name in ("auto", "cpu", "cuda", "cuda:0", "cuda:3", "mps"):
        assert TransferConfig(device=name).device == name
    for bad in ("gpu", "cuda:", "cuda:-1", "cuda:x", "CUDA", "", 0):
        with pytest.raises(ConfigError, match="device: must be auto, cpu, cuda, cuda:N"):
            check_device(bad)


def test_a_report_from_before_a_setting_existed_is_repeated_without_it(tmp_path) -> None:
    """A report's record holds every setting of its version: one it lacks did not exist
    then, and the run is repeated as that version ran (the colour match off, two automatic
    regions), while a file of a few settings takes today's defaults for the rest."""
    import json

    from photostyle.engine.config import BEFORE_ADDED
    from photostyle.runs.repeat import read_run

    old = TransferConfig().to_dict()
    for name in BEFORE_ADDED:
        old.pop(name)
    report = tmp_path / "old.json"
    report.write_text(json.dumps({"status": "completed", "config": old}))
    assert read_run(report).config.colour_match == 0.0
    assert read_run(report).config.seg_regions == 2
    assert read_run(report).config.seg_inside_weight == 0.0
    assert TransferConfig.from_dict(old, recorded=True).colour_match == 0.0
    between = {**old, "colour_match": 0.5}  # written after the colour match, before regions
    assert TransferConfig.from_dict(between, recorded=True).seg_regions == 2
    assert TransferConfig.from_dict(between, recorded=True).colour_match == 0.5
    settings = tmp_path / "few.json"
    settings.write_text(json.dumps({"size": 300}))
    assert read_run(settings).config.colour_match == TransferConfig().colour_match == 0.5
    assert read_run(settings).config.seg_regions == TransferConfig().seg_regions == 3
    assert read_run(settings).config.seg_inside_weight == 2.0
    current = tmp_path / "new.json"
    current.write_text(json.dumps({"status": "completed",
                                   "config": TransferConfig(colour_match=0.3).to_dict()}))
    assert read_run(current).config.colour_match == 0.3
