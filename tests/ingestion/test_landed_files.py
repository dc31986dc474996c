"""File-level validation, quarantine and archive, through the real GCSHook and GCS emulator."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops import targets
from fraud_mlops.ingestion.landed_files import archive, check_landing_csv, validate_landed
from fraud_mlops.landing_schema import LANDING_COLUMNS
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from tests.sql_chain import ingest_landed

HEADER = ",".join(LANDING_COLUMNS)
NOW = datetime.now(UTC)  # a run's start: the archive's retry looks from there on


@pytest.fixture(scope="module")
def good_csv() -> bytes:
    return generate(GeneratorConfig(rows=300, seed=5)).landing.to_csv(index=False).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"   \n", "empty_file"),
        (b"\xef\xbb\xbf", "empty_file"),  # a byte order mark alone
        (b"\xef\xbb\xbf\r\n", "empty_file"),
        (b"\xef\xbb\xbf\n" + HEADER.encode() + b"\n1,2\n", "wrong_header"),  # a mark, then a blank line
        (b"\xff\xfe" + HEADER.encode(), "not_utf8"),
        (b"a,b,c\n1,2,3\n", "wrong_header"),
        ((",".join(reversed(LANDING_COLUMNS)) + "\n").encode(), "wrong_header"),
        ((HEADER + "\n").encode(), "no_data_rows"),
        ((HEADER + "\nx,y,z\n").encode(), "too_many_bad_lines"),
        ((HEADER + '\n"unterminated,' + "1," * 30 + "\n").encode(), "too_many_bad_lines"),
        (b"\x1f\x8b\x08\x00broken", "bad_compression"),
        (b"PK\x03\x04\x00\x00binary", "binary_file"),
    ],
)
def test_bad_files_are_named_by_reason(data: bytes, reason: str) -> None:
    check = check_landing_csv(data)
    assert not check.ok and check.reason == reason and check.detail


def test_a_gzip_whose_compressed_body_is_damaged_is_quarantined_as_bad_compression(good_csv: bytes) -> None:
    """A byte flipped inside the deflate data makes gzip raise zlib.error, no OSError: it crashed
    the validation task (and held back the good files listed with it) instead of quarantining
    the file, which the erasure names as unreadable and tells a person will be quarantined."""
    import gzip

    damaged = bytearray(gzip.compress(good_csv, mtime=0))
    damaged[20] ^= 0xFF
    check = check_landing_csv(bytes(damaged))
    assert not check.ok and check.reason == "bad_compression" and "Error -3" in check.detail


def test_a_broken_gzip_stream_says_how_far_the_count_got_not_where_the_break_is(good_csv: bytes) -> None:
    """Bytes after a whole gzip member break the stream before the first line is counted (it is
    decompressed ahead of the lines): "broken after line 0" named a place in a file whose every
    line was fine. A stream cut in the middle breaks once lines were read."""
    import gzip

    trailing = check_landing_csv(gzip.compress(good_csv) + b"garbage")
    assert trailing.reason == "bad_compression"
    assert "no line had been read yet" in trailing.detail and "bytes after the end" in trailing.detail
    assert "after line" not in trailing.detail

    big = generate(GeneratorConfig(rows=60_000, seed=5)).landing.to_csv(index=False).encode()
    compressed = gzip.compress(big)
    cut = check_landing_csv(compressed[: len(compressed) // 2])
    assert cut.reason == "bad_compression" and 0 < cut.rows < 60_000
    assert f"{cut.rows + 1:,} line(s) had been read" in cut.detail  # the header counts as a line


def test_good_file_counts_rows(good_csv: bytes) -> None:
    check = check_landing_csv(good_csv)
    assert check.ok and check.rows == 300 and check.reason is None


def test_a_field_longer_than_the_csv_modules_default_limit_is_a_good_line() -> None:
    """A line with a quote inside an unquoted field goes to the csv module, whose default field
    limit (131,072 characters) made a longer field "broken quoting": a good row rejected, which
    both loads read (BigQuery takes rows to 100 MB)."""
    frame = generate(GeneratorConfig(rows=3, seed=5)).landing
    frame.loc[1, "merchant"] = "LONG_MERCHANT"
    data = frame.to_csv(index=False).replace("LONG_MERCHANT", "x" * 200_000 + 'a"b').encode()
    check = check_landing_csv(data)
    assert check.ok and check.rows == 3 and check.bad_lines == ()


def test_rows_ended_by_a_lone_cr_after_a_header_ended_by_lf_are_read_line_by_line(
    good_csv: bytes, monkeypatch
) -> None:
    """A block without a line feed was taken for part of one long line: rows ended by a lone
    carriage return after a header ended by a line feed were read on, the whole file into
    memory, and the file was quarantined as line_too_long (here with the limit lowered to
    1 MiB, so that 1.2 MB of rows shows it). They are read line by line, as when the header
    ends the same way."""
    from fraud_mlops.ingestion import landed_files

    monkeypatch.setattr(landed_files, "MAX_LINE_BYTES", 1 << 20)
    header, rows = good_csv.split(b"\n", 1)
    body = b"\r".join([rows.rstrip(b"\n").replace(b"\n", b"\r")] * 10) + b"\r"
    assert len(body) > 1 << 20
    for data in (header + b"\n" + body, header + b"\r" + body):
        check = check_landing_csv(data)
        assert (check.ok, check.reason, check.rows, check.bad_lines) == (True, None, 3_000, ())


def test_wrong_order_is_reported_as_such() -> None:
    swapped = list(LANDING_COLUMNS)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    check = check_landing_csv((",".join(swapped) + "\n" + "1," * 35 + "1\n").encode())
    assert check.reason == "wrong_header" and "wrong order" in (check.detail or "")


def test_reasons_and_rejected_lines_hold_no_card_number(good_csv: bytes) -> None:
    """A file without its header (its first row read as one) and a line whose first field is a
    card number: the reason and the rejected line keep at most its last four digits."""
    card = "4111111111111111"
    rows = good_csv.decode().split("\n", 1)[1]
    headerless = check_landing_csv(f"{card},{rows}".encode())
    assert headerless.reason == "wrong_header" and "no header line" in (headerless.detail or "")
    assert card not in (headerless.detail or "")
    typo = check_landing_csv((HEADER.replace("merchant,", f"{card},", 1) + "\n" + rows).encode())
    assert typo.reason == "wrong_header" and "'merchant'" in (typo.detail or "")  # still names what is wrong
    assert card not in (typo.detail or "") and "…1111" in (typo.detail or "")
    bad = check_landing_csv((HEADER + "\n" + rows + f"{card},merchant,grocery\n").encode())
    assert bad.ok and [b.transaction_id for b in bad.bad_lines] == ["…1111"]


def test_corrupt_file_is_quarantined_and_good_one_kept(gcs_hook, local_settings, good_csv: bytes) -> None:
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "good.csv", data=good_csv)
    gcs_hook.upload(
        s.landing_bucket, s.landing_prefix + "bad.csv", data=(HEADER + "\nonly,three,fields\n").encode()
    )
    good, quarantined = validate_landed(gcs_hook, s, run_id="manual__t")
    assert [g.name for g in good] == [s.landing_prefix + "good.csv"] and good[0].rows == 300
    assert len(quarantined) == 1 and quarantined[0]["reason"] == "too_many_bad_lines"
    assert "1 of 1 data lines" in quarantined[0]["detail"]
    assert gcs_hook.list(s.landing_bucket, prefix=s.landing_prefix) == [s.landing_prefix + "good.csv"]
    moved = sorted(gcs_hook.list(s.quarantine_bucket))
    assert len(moved) == 2 and moved[0].endswith("bad.csv") and moved[1].endswith("bad.csv.reason.json")
    reason = json.loads(gcs_hook.download(s.quarantine_bucket, moved[1]))
    assert (
        reason["reason"] == "too_many_bad_lines"
        and reason["source"].endswith("bad.csv")
        and reason["run_id"] == "manual__t"
    )
    assert gcs_hook.download(s.quarantine_bucket, moved[0]).startswith(HEADER.encode())  # nothing lost


def test_a_name_with_a_wildcard_is_quarantined_unread_and_its_neighbours_load(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """A BigQuery load reads '*' in a source URI as a wildcard: ``incoming/tx*.csv`` would load
    ``tx1.csv`` too, under this file's identity. Cloud Storage takes the name; no load can take
    that object alone, so it is quarantined with a reason a person can act on, bytes intact."""
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "tx1.csv", data=good_csv)
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "tx*.csv", data=good_csv)

    good, quarantined = validate_landed(gcs_hook, s, run_id="manual__w")

    assert [g.name for g in good] == [s.landing_prefix + "tx1.csv"]
    assert [(q["file"], q["reason"]) for q in quarantined] == [
        (s.landing_prefix + "tx*.csv", "wildcard_in_name")
    ]
    assert "rename the file" in quarantined[0]["detail"]
    moved = sorted(gcs_hook.list(s.quarantine_bucket))
    assert [m.rsplit("/", 1)[1] for m in moved] == ["tx*.csv", "tx*.csv.reason.json"]
    assert gcs_hook.download(s.quarantine_bucket, moved[0]) == good_csv  # nothing lost
    assert json.loads(gcs_hook.download(s.quarantine_bucket, moved[1]))["reason"] == "wildcard_in_name"


def test_archive_moves_out_of_the_watched_prefix_and_is_rerunnable(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "a.csv", data=good_csv)
    (landed,), _ = validate_landed(gcs_hook, s, run_id="r")
    uri = archive(gcs_hook, s, landed, NOW)
    assert gcs_hook.list(s.landing_bucket, prefix=s.landing_prefix) == []
    assert uri.startswith(f"gs://{s.landing_bucket}/{s.archive_prefix}") and uri.endswith("/a.csv")
    assert archive(gcs_hook, s, landed, NOW) == uri  # a retry after a partial failure does not fail


def test_a_retried_archive_finds_where_its_earlier_try_moved_the_file(
    gcs_hook, local_settings, good_csv: bytes, caplog
) -> None:
    """A task that archived a file and died is retried on a name no longer landed. The retry
    answered today's archive name whatever had happened: after midnight UTC a folder that
    does not exist, for a file a person deleted an archive that never was, and for a file
    re-sent since "overwritten since loaded". It now finds the earlier try's move, in its
    generation's folder on any day since the run's start, or says the file is gone."""
    from fraud_mlops.ingestion.landed_files import moved_name

    s = local_settings
    name = s.landing_prefix + "a.csv"
    gcs_hook.upload(s.landing_bucket, name, data=good_csv)
    (landed,), _ = validate_landed(gcs_hook, s, run_id="r")
    yesterday = NOW - timedelta(days=1)
    earlier = moved_name(s.archive_prefix, yesterday, landed.generation, name)  # the try before midnight
    gcs_hook.copy(s.landing_bucket, name, s.landing_bucket, earlier)
    gcs_hook.delete(s.landing_bucket, name)

    assert archive(gcs_hook, s, landed, NOW) is None  # not before the run's start
    assert archive(gcs_hook, s, landed, yesterday) == f"gs://{s.landing_bucket}/{earlier}"
    gcs_hook.upload(s.landing_bucket, name, data=good_csv + b"")  # re-sent since: a new generation
    assert archive(gcs_hook, s, landed, yesterday) == f"gs://{s.landing_bucket}/{earlier}"
    assert gcs_hook.list(s.landing_bucket, prefix=s.landing_prefix) == [name]  # it stays for the next run
    assert gcs_hook.list(s.landing_bucket, prefix=s.archive_prefix) == [earlier]

    gcs_hook.delete(s.landing_bucket, earlier)  # a person deleted the archived file
    gcs_hook.delete(s.landing_bucket, name)
    caplog.clear()
    assert archive(gcs_hook, s, landed, yesterday) is None
    assert "neither landed nor archived" in caplog.text
    assert gcs_hook.list(s.landing_bucket) == []  # nothing made up


def test_a_file_overwritten_between_the_copy_and_the_delete_moves_and_the_new_one_stays(
    gcs_hook, local_settings, good_csv: bytes, monkeypatch
) -> None:
    """The producer re-sends the name while the move copies it: the delete holds only for the
    generation copied and is refused. That generation is then in its new place and nowhere
    else, so it has moved; before, the move answered "not moved", and a quarantine deleted the
    reason of the file it had copied (a quarantined file without its reason)."""
    from google.api_core.exceptions import PreconditionFailed
    from google.cloud.storage import Blob, Bucket

    from fraud_mlops.ingestion.landed_files import quarantine

    s = local_settings
    name = s.landing_prefix + "a.csv"
    newer = good_csv + good_csv.split(b"\n", 1)[1]
    copy_blob, delete = Bucket.copy_blob, Blob.delete

    def copy_then_resend(self: Bucket, *args, **kwargs):  # the real copy, then the producer's upload
        copied = copy_blob(self, *args, **kwargs)
        gcs_hook.upload(s.landing_bucket, name, data=newer)
        return copied

    def delete_if_generation_matches(self: Blob, *args, if_generation_match=None, **kwargs):
        """Cloud Storage refuses a delete whose ``ifGenerationMatch`` is not the live generation
        (412, https://cloud.google.com/storage/docs/request-preconditions); the emulator ignores
        the precondition, so it is checked here against the emulator's live object first."""
        live = self.bucket.get_blob(self.name)
        if if_generation_match is not None and (live is None or live.generation != if_generation_match):
            raise PreconditionFailed("At least one of the pre-conditions you specified did not hold.")
        return delete(self, *args, if_generation_match=if_generation_match, **kwargs)

    monkeypatch.setattr(Bucket, "copy_blob", copy_then_resend)
    monkeypatch.setattr(Blob, "delete", delete_if_generation_matches)
    gcs_hook.upload(s.landing_bucket, name, data=good_csv)
    (landed,), _ = validate_landed(gcs_hook, s, run_id="r")
    uri = archive(gcs_hook, s, landed, NOW)
    assert uri is not None and gcs_hook.download(s.landing_bucket, uri.split("/", 3)[3]) == good_csv
    assert gcs_hook.download(s.landing_bucket, name) == newer  # the new generation stays landed

    generation = str(gcs_hook.get_conn().bucket(s.landing_bucket).get_blob(name).generation)
    moved = quarantine(
        gcs_hook, s, name, generation, reason="load_refused", detail="d", md5=None, run_id="r2"
    )
    assert moved is not None
    target = moved.split("/", 3)[3]
    assert gcs_hook.download(s.quarantine_bucket, target) == newer
    assert (
        json.loads(gcs_hook.download(s.quarantine_bucket, target + ".reason.json"))["reason"]
        == "load_refused"
    )


def test_files_of_one_base_name_moved_on_one_day_keep_apart_in_quarantine_and_archive(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """Two landing folders, or one name landed again after its first file was moved: each file
    lies in its generation's folder. Both used to be copied to ``<day>/<base name>``, the
    second over the first: a quarantined file (kept for a person to read) or an archived one
    was lost, and so was the first quarantine's reason."""
    s = local_settings
    broken = (HEADER + "\nonly,three,fields\n").encode()
    for folder in ("north/", "south/"):
        gcs_hook.upload(
            s.landing_bucket, s.landing_prefix + folder + "day.csv", data=broken + folder.encode()
        )
    _, first = validate_landed(gcs_hook, s, run_id="r1")
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "north/day.csv", data=broken + b"again")  # re-sent
    _, second = validate_landed(gcs_hook, s, run_id="r2")
    moved = [q["moved_to"] for q in first + second]
    assert len(set(moved)) == 3 and all(m.endswith("/day.csv") for m in moved)
    kept = {n: gcs_hook.download(s.quarantine_bucket, n) for n in gcs_hook.list(s.quarantine_bucket)}
    assert sorted(v for n, v in kept.items() if not n.endswith(".json")) == sorted(
        [broken + b"north/", broken + b"south/", broken + b"again"]
    )  # every file, whole
    assert sum(n.endswith(".reason.json") for n in kept) == 3

    for folder in ("north/", "south/"):
        gcs_hook.upload(s.landing_bucket, s.landing_prefix + folder + "day.csv", data=good_csv)
    good, _ = validate_landed(gcs_hook, s, run_id="r3")
    archived = {archive(gcs_hook, s, landed, NOW) for landed in good}
    assert len(archived) == 2 and len(gcs_hook.list(s.landing_bucket, prefix=s.archive_prefix)) == 2


def test_a_file_overwritten_after_its_load_stays_landed_as_the_new_file(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """A producer uploads the same name again while a run works on it: Cloud Storage keeps the
    name for a new generation and notifies it. Archiving by name would carry the new, unread
    generation away (its own notification then found nothing landed): only the loaded
    generation moves, and the new one stays for the next run."""
    s = local_settings
    name = s.landing_prefix + "a.csv"
    gcs_hook.upload(s.landing_bucket, name, data=good_csv)
    (landed,), _ = validate_landed(gcs_hook, s, run_id="r")
    newer = good_csv + good_csv.split(b"\n", 1)[1]  # the producer's corrected file, more rows
    gcs_hook.upload(s.landing_bucket, name, data=newer)

    assert archive(gcs_hook, s, landed, NOW) is None
    assert gcs_hook.list(s.landing_bucket, prefix=s.archive_prefix) == []
    assert gcs_hook.download(s.landing_bucket, name) == newer
    (again,), _ = validate_landed(gcs_hook, s, run_id="r2")  # the next run loads the new file
    assert again.generation != landed.generation and again.rows == 2 * landed.rows
    assert archive(gcs_hook, s, again, NOW) is not None
    assert gcs_hook.list(s.landing_bucket, prefix=s.landing_prefix) == []


def test_a_folder_placeholder_does_not_keep_the_sensor_firing(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """The console's "Create folder" leaves a zero-byte ``incoming/`` object. The sensor DAG's
    prefix check (the provider's sensor, on the emulator) counts it, so every @continuous run
    found it and started the next with nothing to ingest. A sensor or daily run deletes it."""
    from airflow.providers.google.cloud.sensors.gcs import GCSObjectsWithPrefixExistenceSensor

    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix, data=b"")
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "a.csv", data=good_csv)
    sensor = GCSObjectsWithPrefixExistenceSensor(
        task_id="wait", bucket=s.landing_bucket, prefix=s.landing_prefix, google_cloud_conn_id=s.gcp_conn_id
    )
    (landed,), _ = validate_landed(gcs_hook, s, run_id="r")
    assert gcs_hook.list(s.landing_bucket, prefix=s.landing_prefix) == [s.landing_prefix + "a.csv"]
    archive(gcs_hook, s, landed, NOW)
    assert not sensor.poke({})  # nothing left for the next run to wake on

    gcs_hook.upload(s.landing_bucket, s.landing_prefix, data=b"")
    assert sensor.poke({})  # the placeholder alone wakes the sensor...
    assert validate_landed(gcs_hook, s, run_id="r2") == ([], [])
    assert not sensor.poke({})  # ...once
    # an event run names its objects: it touches nothing else
    gcs_hook.upload(s.landing_bucket, s.landing_prefix, data=b"")
    validate_landed(gcs_hook, s, run_id="r3", only_objects=[])
    assert gcs_hook.list(s.landing_bucket, prefix=s.landing_prefix) == [s.landing_prefix]


def test_a_backlog_is_taken_a_batch_at_a_time(
    gcs_hook, local_settings, good_csv: bytes, monkeypatch, caplog
) -> None:
    """Airflow maps at most max_map_length (1,024) tasks over one list, and the load and append map
    over the good files: a run takes MAX_FILES_PER_RUN of a backlog, the next run the rest. An
    event run's files are the ones its notifications name, which no later event run names
    again: its log sends the rest to the DAGs that list the prefix."""
    from fraud_mlops.ingestion import landed_files

    assert landed_files.MAX_FILES_PER_RUN < 1024
    monkeypatch.setattr(landed_files, "MAX_FILES_PER_RUN", 2)
    s = local_settings
    names = [s.landing_prefix + name for name in ("a.csv", "b.csv", "c.csv")]
    for name in names:
        gcs_hook.upload(s.landing_bucket, name, data=good_csv)
    with caplog.at_level(logging.WARNING, logger=landed_files.__name__):
        validate_landed(gcs_hook, s, run_id="e1", only_objects=list(reversed(names)))
        first, _ = validate_landed(gcs_hook, s, run_id="r1")
    event_run, listing_run = [r.getMessage() for r in caplog.records if "files to check" in r.getMessage()]
    assert event_run.endswith(
        f"the rest ({names[0]}, …) stay landed for fraud_ingest_daily or fraud_ingest_sensor"
    )
    assert listing_run.endswith(f"the rest ({names[2]}, …) stay landed for the next run")
    assert [f.base_name for f in first] == ["a.csv", "b.csv"]
    for landed in first:
        archive(gcs_hook, s, landed, NOW)
    second, _ = validate_landed(gcs_hook, s, run_id="r2")
    assert [f.base_name for f in second] == ["c.csv"]


def test_a_landed_file_keeps_the_generation_it_was_listed_with(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """The generation raw rows and ingestion_log record (lineage to the exact object). Reading
    the stream used to replace it with the download's header, which the emulator does not send:
    every local file was generation "None"."""
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "a.csv", data=good_csv)
    listed = gcs_hook.get_conn().bucket(s.landing_bucket).get_blob(s.landing_prefix + "a.csv")
    (landed,), _ = validate_landed(gcs_hook, s, run_id="r")
    assert listed.generation and landed.generation == str(listed.generation)


def test_identity_is_content_not_name(gcs_hook, local_settings, good_csv: bytes) -> None:
    """The same content landed under two names in one run: one identity, each file its own load
    table (every load runs before the appends, and an append drops its table), so both append,
    and the second logs the content as a duplicate, adding no rows."""
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "one.csv", data=good_csv)
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "two.csv", data=good_csv + b"x,broken\n")
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "three.csv", data=good_csv + b"x,broken\n")
    good, _ = ingest_landed(gcs_hook, s)
    assert len({g.md5 for g in good}) == 2 and len({g.load_table for g in good}) == 3
    assert len({g.reject_table for g in good if g.bad_lines}) == 2
    warehouse = targets.warehouse(s)
    logged = warehouse.records(
        f"SELECT status, COUNT(*) FROM `{s.dataset_ref}.ingestion_log` GROUP BY status"
    )
    assert sorted(logged) == [("duplicate", 1), ("loaded", 2)]
    ((raw,),) = warehouse.records(f"SELECT COUNT(*) FROM `{s.raw_dataset_ref}.raw_transactions`")
    assert raw == 2 * 300  # each content once
    ((rejected,),) = warehouse.records(f"SELECT COUNT(*) FROM `{s.dataset_ref}.rejected_lines`")
    assert rejected == 1  # the duplicate's bad line is not counted again


def test_a_file_overwritten_after_validation_is_not_loaded_as_validated(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """The local load reads the object by name, as BigQuery's load job does: a producer's
    overwrite between validation and load would load other bytes under the validated identity."""
    from fraud_mlops.storage import ObjectChanged
    from fraud_mlops.warehouse.duckdb_load import load_into_warehouse

    s = local_settings
    targets.warehouse(s).execute(render_sql(SQL_FILES["setup"], s))
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "a.csv", data=good_csv)
    (landed,), _ = validate_landed(gcs_hook, s, run_id="r")
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "a.csv", data=good_csv + good_csv.split(b"\n", 1)[1])
    with pytest.raises(ObjectChanged, match="overwritten"):
        load_into_warehouse({**landed.to_xcom(), "run_id": "r"}, s)
    assert (
        load_into_warehouse({**validate_landed(gcs_hook, s, run_id="r2")[0][0].to_xcom(), "run_id": "r2"}, s)
        == 600
    )


def test_named_objects_restrict_validation_and_gone_ones_are_skipped(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """An event-driven run checks only the notified files; one already archived is a no-op."""
    s = local_settings
    for name in ("a.csv", "b.csv", "c.csv"):
        gcs_hook.upload(s.landing_bucket, s.landing_prefix + name, data=good_csv)
    wanted = [s.landing_prefix + "c.csv", s.landing_prefix + "a.csv", s.landing_prefix + "archived.csv"]
    good, quarantined = validate_landed(gcs_hook, s, run_id="r", only_objects=wanted)
    assert [g.name for g in good] == wanted[:2] and quarantined == []
    assert validate_landed(gcs_hook, s, run_id="r", only_objects=[]) == ([], [])
    everything, _ = validate_landed(gcs_hook, s, run_id="r")
    assert [g.name for g in everything] == [s.landing_prefix + n for n in ("a.csv", "b.csv", "c.csv")]


def test_a_file_duckdb_refuses_after_validation_is_refused_with_where_and_no_load_table(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """Validation reads `` "The" Shop`` as text, DuckDB's strict reader refuses the file: the
    local load raises the refusal the load task quarantines on (not a failure it would retry),
    keeps no load table, and says that DuckDB's line numbers skip the bad lines it left out."""
    from fraud_mlops.ingestion.landed_files import record_bad_lines
    from fraud_mlops.landing_schema import LoadRefused
    from fraud_mlops.warehouse.duckdb_load import load_into_warehouse

    s = local_settings
    warehouse = targets.warehouse(s)
    warehouse.execute(render_sql(SQL_FILES["setup"], s))
    header, *rows = good_csv.decode().splitlines()
    merchant = LANDING_COLUMNS.index("merchant")
    plain = next(i for i in range(len(rows) - 1, 0, -1) if len(rows[i].split(",")) == len(LANDING_COLUMNS))
    shop = rows.pop(plain).split(",")  # a row without a quoted comma
    shop[merchant] = ' "The" Shop'
    data = "\n".join([header, *rows[:5], "x,broken", *rows[5:], ",".join(shop)]) + "\n"
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "shop.csv", data=data.encode())
    (landed,), _ = validate_landed(
        gcs_hook, s, run_id="r", on_bad_lines=lambda f, bad: record_bad_lines(warehouse, f, bad)
    )
    assert (landed.rows, landed.bad_lines) == (300, 1)  # validation takes the shop's line as good

    with pytest.raises(LoadRefused) as refused:
        load_into_warehouse({**landed.to_xcom(), "run_id": "r"}, s)
    assert refused.value.reason == "load_refused"
    assert refused.value.detail.startswith("DuckDB's strict CSV reader refused the file that validation read")
    assert refused.value.detail.endswith("DuckDB's line numbers count the file without its 1 bad line(s)")
    assert not warehouse.table_exists(f"{s.raw_dataset_ref}.{landed.load_table}")
    # the reject table stays for a retry of a try that dies before the quarantine (it reads it
    # again); the lease's teardown drops it, as its append will not
    assert warehouse.drop_leftover_load_tables() == [f"{s.dataset}.{landed.reject_table}"]


def test_a_local_load_that_reads_other_than_validations_rows_is_the_same_refusal_as_on_gcp(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """Where the two parsers disagree about a file's records without an error, the row count
    shows it: the local load raises the gcp load's ``LoadMismatchError`` (reason
    ``load_mismatch``), which the load task quarantines on, and keeps no load table. Here the
    file's XCom counts one row more than the file holds, as such a validation would."""
    from fraud_mlops.landing_schema import LoadMismatchError
    from fraud_mlops.warehouse.duckdb_load import load_into_warehouse

    s = local_settings
    warehouse = targets.warehouse(s)
    warehouse.execute(render_sql(SQL_FILES["setup"], s))
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "day.csv", data=good_csv)
    (landed,), _ = validate_landed(gcs_hook, s, run_id="r")

    with pytest.raises(LoadMismatchError) as refused:
        load_into_warehouse({**landed.to_xcom(), "rows": landed.rows + 1, "run_id": "r"}, s)
    assert refused.value.reason == "load_mismatch"
    assert refused.value.detail == (
        f"the load read {landed.rows} rows, validation counted {landed.rows + 1} good rows and 0 bad lines"
    )
    assert not warehouse.table_exists(f"{s.raw_dataset_ref}.{landed.load_table}")


def test_a_quarantine_of_a_generation_since_replaced_moves_nothing_and_leaves_no_reason(
    gcs_hook, local_settings, good_csv: bytes
) -> None:
    """The reason is written before the move (a retried task never finds a quarantined file
    without one); when the move finds a newer generation, the reason goes too and the new file
    stays landed for the next run."""
    from fraud_mlops.ingestion.landed_files import quarantine

    s = local_settings
    name = s.landing_prefix + "late.csv"
    gcs_hook.upload(s.landing_bucket, name, data=good_csv)
    checked = str(gcs_hook.get_conn().bucket(s.landing_bucket).get_blob(name).generation)
    gcs_hook.upload(s.landing_bucket, name, data=good_csv + b"\n")  # the producer writes it again
    moved = quarantine(gcs_hook, s, name, checked, reason="load_refused", detail="d", md5="m", run_id="r")
    assert moved is None
    assert gcs_hook.list(s.quarantine_bucket) == []
    assert gcs_hook.exists(s.landing_bucket, name)

    current = str(gcs_hook.get_conn().bucket(s.landing_bucket).get_blob(name).generation)
    moved = quarantine(gcs_hook, s, name, current, reason="load_refused", detail="d", md5="m", run_id="r")
    assert moved is not None and not gcs_hook.exists(s.landing_bucket, name)
    target = moved.removeprefix(f"gs://{s.quarantine_bucket}/")
    assert sorted(gcs_hook.list(s.quarantine_bucket)) == [target, target + ".reason.json"]
    assert json.loads(gcs_hook.download(s.quarantine_bucket, target + ".reason.json"))["run_id"] == "r"
