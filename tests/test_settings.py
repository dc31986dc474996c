"""Settings read from the environment: values users set by hand are checked where they are read."""

from __future__ import annotations

import pytest

from fraud_mlops.settings import MAX_DEDUP_HORIZON_DAYS, settings_from_env


@pytest.mark.parametrize(
    ("value", "days"), [(None, None), ("all", None), (" ALL ", None), ("", None), ("30", 30), ("0", 0)]
)
def test_dedup_horizon_is_all_history_unless_days_are_given(value: str | None, days: int | None) -> None:
    env = {} if value is None else {"MLOPS_DEDUP_HORIZON_DAYS": value}
    assert settings_from_env(env).dedup_horizon_days == days


@pytest.mark.parametrize("value", ["-1", str(MAX_DEDUP_HORIZON_DAYS + 1), "a week"])
def test_a_dedup_horizon_out_of_range_is_refused_when_read(value: str) -> None:
    with pytest.raises(ValueError, match="MLOPS_DEDUP_HORIZON_DAYS"):
        settings_from_env({"MLOPS_DEDUP_HORIZON_DAYS": value})


@pytest.mark.parametrize(
    ("landing", "archive"),
    [("incoming/", "incoming/processed/"), ("", "processed/"), ("data/", "data/"), ("incoming", "processed/"),
     ("in/", "/")],
)  # fmt: skip
def test_nested_or_bare_landing_prefixes_are_refused(landing: str, archive: str) -> None:
    """An archive under the landing prefix makes every archived copy a new landed file (another
    notification, another run) and archiving a file onto its own name deletes it; a landing
    prefix under the archive lets the archive's expiry rule delete files not yet ingested."""
    with pytest.raises(ValueError, match=r"MLOPS_(LANDING|ARCHIVE)_PREFIX"):
        settings_from_env({"MLOPS_LANDING_PREFIX": landing, "MLOPS_ARCHIVE_PREFIX": archive})
    assert (
        settings_from_env({"MLOPS_LANDING_PREFIX": "in/", "MLOPS_ARCHIVE_PREFIX": "done/"}).archive_prefix
        == "done/"
    )
