"""A bad line holds back no good row, and gzip files load: the real file path, end to end.

GCS emulator + the provider's GCSHook → streaming validation → per-file load into the real
local warehouse (DuckDB) → ``10_append_raw.sql`` → staging → quality checks; and the gcp load
job configuration for the same files, compared whole.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
from collections.abc import Callable

import pandas as pd
import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.ingestion.landed_files import BadLineLimits, _field_count, check_landing_csv
from fraud_mlops.landing_schema import LANDING_COLUMNS, bigquery_load_schema
from fraud_mlops.settings import settings_from_env
from fraud_mlops.warehouse.bigquery_jobs import append_raw_parameters, load_job_configuration
from tests.sql_chain import ingest_landed, transform

GCP_ENV = {"MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-project"}


@pytest.fixture(scope="module")
def landing() -> pd.DataFrame:
    return generate(GeneratorConfig(rows=2_000, fraud_rate=0.02, seed=21, rows_per_card=20)).landing


def with_broken_lines(
    landing: pd.DataFrame, at: tuple[int, int, int] = (10, 500, 1501)
) -> tuple[bytes, dict[int, str]]:
    """The landing CSV with three lines broken in place; returns it and {line number: reason}."""
    lines = landing.to_csv(index=False).splitlines(keepends=True)
    broken = {
        at[0]: ("wrong_field_count", lambda line: line.replace(",", ";", 3)),  # 33 fields
        at[1]: ("broken_quoting", lambda line: line.replace(",", ',"', 1)),  # quote never closed
        at[2]: ("wrong_field_count", lambda line: line.rstrip("\n") + ",extra\n"),  # 37 fields
    }
    for line_no, (_, breaking) in broken.items():
        lines[line_no - 1] = breaking(lines[line_no - 1])
    return "".join(lines).encode(), {n: reason for n, (reason, _) in broken.items()}


def _records(warehouse, sql: str) -> list[tuple]:
    return [tuple(r) for r in warehouse.records(sql)]


def test_broken_lines_are_rejected_with_line_numbers_and_good_rows_load(
    gcs_hook, local_settings, landing
) -> None:
    from fraud_mlops import targets

    data, broken = with_broken_lines(landing)
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "day1.csv", data=data)
    (landed,), quarantined = ingest_landed(gcs_hook, s, run_id="r1")
    assert quarantined == [] and (landed.rows, landed.bad_lines) == (1_997, 3)

    warehouse = targets.warehouse(s)
    # the checks run before publishing; dq_rows_accounted: staging + rejected = raw rows + rejected lines
    transform(warehouse.hook(), s, check=True)
    rejected = _records(
        warehouse,
        "SELECT line_number, reason, _file_name FROM `fraud.rejected_rows` "
        "WHERE line_number IS NOT NULL ORDER BY line_number",
    )
    assert rejected == [(n, reason, landed.uri) for n, reason in sorted(broken.items())]
    assert _records(warehouse, "SELECT COUNT(*) FROM `fraud.stg_transactions`") == [(1_997,)]
    good_ids = set(landing["transaction_id"]) - {landing["transaction_id"].iloc[n - 2] for n in broken}
    assert {
        r[0] for r in warehouse.records("SELECT transaction_id FROM `fraud.stg_transactions`")
    } == good_ids
    # rejected lines keep at most the card's last four digits
    card_numbers = set(landing["card_number"].astype(str))
    for (last4,) in warehouse.records("SELECT card_last4 FROM `fraud.rejected_lines`"):
        assert last4 is None or (len(last4) <= 4 and last4 not in card_numbers)


def test_the_same_file_again_rejects_its_lines_once(gcs_hook, local_settings, landing) -> None:
    from fraud_mlops import targets

    data, _ = with_broken_lines(landing)
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "day1.csv", data=data)
    ingest_landed(gcs_hook, s, run_id="r1")
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "day1_again.csv", data=data)
    ingest_landed(gcs_hook, s, run_id="r2")
    warehouse = targets.warehouse(s)
    assert _records(warehouse, "SELECT COUNT(*) FROM `fraud.rejected_lines`") == [(3,)]
    assert _records(warehouse, "SELECT COUNT(*) FROM `fraud_raw.raw_transactions`") == [(1_997,)]


def test_too_many_bad_lines_quarantine_the_file_with_the_count(gcs_hook, local_settings, landing) -> None:
    data, _ = with_broken_lines(landing.head(200), at=(10, 100, 150))  # 3 bad of 200 lines = 1.5 % > 1 %
    check = check_landing_csv(data)
    assert (check.ok, check.reason) == (False, "too_many_bad_lines")
    assert check.detail is not None and check.detail.startswith("3 of 200 data lines cannot be parsed")
    assert check_landing_csv(data, BadLineLimits(max_share=0.02)).ok  # the limit is a setting
    # a share exactly at the limit passes, for every limit (0.29 * 100 is 28.999999999999996 in
    # floating point: the product does not decide)
    assert check_landing_csv(data, BadLineLimits(max_share=0.015)).ok
    lines = landing.head(100).to_csv(index=False).splitlines(keepends=True)
    for line_no in range(2, 2 + 29):  # 29 of the 100 data lines lose three fields
        lines[line_no - 1] = lines[line_no - 1].replace(",", ";", 3)
    data_29 = "".join(lines).encode()
    assert check_landing_csv(data_29, BadLineLimits(max_share=0.29)).ok
    assert not check_landing_csv(data_29, BadLineLimits(max_share=0.28)).ok
    assert not check_landing_csv(data, BadLineLimits(max_share=0.02, max_count=2)).ok
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "bad.csv", data=data)
    good, quarantined = ingest_landed(gcs_hook, s)
    assert good == [] and quarantined[0]["reason"] == "too_many_bad_lines"


def test_a_gzip_file_loads_the_same_rows_locally(gcs_hook, local_settings, landing) -> None:
    from fraud_mlops import targets

    data, broken = with_broken_lines(landing)
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "day1.csv.gz", data=gzip.compress(data))
    (landed,), quarantined = ingest_landed(gcs_hook, s)
    assert (
        quarantined == [] and landed.compression == "gzip" and (landed.rows, landed.bad_lines) == (1_997, 3)
    )
    assert landed.md5 != check_landing_csv(data).md5  # identity is the stored object's bytes
    warehouse = targets.warehouse(s)
    transform(warehouse.hook(), s)
    assert _records(warehouse, "SELECT COUNT(*) FROM `fraud.stg_transactions`") == [(1_997,)]
    assert _records(
        warehouse, "SELECT line_number FROM `fraud.rejected_rows` WHERE line_number IS NOT NULL ORDER BY 1"
    ) == [(n,) for n in sorted(broken)]
    assert _records(warehouse, "SELECT file_name, status, row_count FROM `fraud.ingestion_log`") == [
        (landed.uri, "loaded", 1_997)
    ]


def _gzip_member(data: bytes, flags: int, padding: bytes = b"") -> bytes:
    """One gzip member as RFC 1952 lays it out, with header ``flags`` (FTEXT 1, FHCRC 2,
    FCOMMENT 16), then ``padding``; Python's gzip module reads every one of them."""
    import struct
    import zlib

    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflate.compress(data) + deflate.flush()
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\x00\x00\x00\x00\x00\xff"
    if flags & 16:
        header += b"exported by the card network\x00"
    if flags & 2:
        header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    member = header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF) + padding
    assert gzip.decompress(member) == data
    return member


@pytest.mark.parametrize(
    ("flags", "padding"),
    [(1, b""), (2, b""), (16, b""), (0, b"\x00" * 512)],
    ids=["ftext", "fhcrc", "fcomment", "padded"],
)
def test_a_gzip_file_duckdb_cannot_decompress_loads_its_rows_locally(
    gcs_hook, local_settings, landing, flags: int, padding: bytes
) -> None:
    """DuckDB's gzip reader refuses these valid streams with an I/O error ("Unsupported GZIP
    archive"), which the load took for a failure of the worker: retried, failed on every run,
    and every other file's append waited behind it. A file with no bad line is the case: one
    with bad lines is read from a copy without them, which Python decompresses."""
    from fraud_mlops import targets

    s = local_settings
    data = landing.to_csv(index=False).encode()
    gcs_hook.upload(
        s.landing_bucket, s.landing_prefix + "day1.csv.gz", data=_gzip_member(data, flags, padding)
    )
    (landed,), quarantined = ingest_landed(gcs_hook, s)
    assert quarantined == [] and (landed.rows, landed.bad_lines) == (2_000, 0)
    warehouse = targets.warehouse(s)
    assert _records(warehouse, "SELECT status, row_count FROM `fraud.ingestion_log`") == [("loaded", 2_000)]
    transform(warehouse.hook(), s)
    assert _records(warehouse, "SELECT transaction_id FROM `fraud.stg_transactions` ORDER BY 1") == [
        (t,) for t in sorted(landing["transaction_id"])
    ]


def test_a_control_character_in_a_field_loads_and_staging_rejects_the_row(
    gcs_hook, local_settings, landing
) -> None:
    """A NUL inside a field is a well-formed CSV line: both loads keep it in the string (the gcp
    load job sets preserveAsciiControlCharacters, as DuckDB's reader does), and staging rejects
    the row with the rule it breaks, so every line is accounted for."""
    from fraud_mlops import targets

    lines = landing.to_csv(index=False).encode().splitlines(keepends=True)
    bad_id = landing["transaction_id"].iloc[4]
    lines[5] = lines[5].replace(b",2026-", b",\x002026-", 1)  # line 6 = row 5: its event time
    assert b"\x00" in lines[5]
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "nul.csv", data=b"".join(lines))
    (landed,), quarantined = ingest_landed(gcs_hook, s)
    assert quarantined == [] and (landed.rows, landed.bad_lines) == (2_000, 0)
    warehouse = targets.warehouse(s)
    transform(warehouse.hook(), s, check=True)
    assert _records(warehouse, "SELECT transaction_id, reason FROM `fraud.rejected_rows`") == [
        (bad_id, "bad_event_time")
    ]
    assert _records(warehouse, "SELECT COUNT(*) FROM `fraud.stg_transactions`") == [(1_999,)]


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_file_with_a_byte_order_mark_loads_its_rows(gcs_hook, local_settings, landing, compress) -> None:
    """Excel's "CSV UTF-8" starts with a BOM. It sits in the header line, which both loads skip
    (skipLeadingRows=1 on BigQuery, header=true in DuckDB): the file loads, with its bad lines
    rejected as in any other file."""
    from fraud_mlops import targets

    data, broken = with_broken_lines(landing)
    data = b"\xef\xbb\xbf" + data
    s = local_settings
    gcs_hook.upload(
        s.landing_bucket, s.landing_prefix + "excel.csv", data=gzip.compress(data) if compress else data
    )
    (landed,), quarantined = ingest_landed(gcs_hook, s)
    assert quarantined == [] and (landed.rows, landed.bad_lines) == (1_997, 3)
    warehouse = targets.warehouse(s)
    ids = {r[0] for r in warehouse.records("SELECT transaction_id FROM `fraud_raw.raw_transactions`")}
    assert ids == set(landing["transaction_id"]) - {landing["transaction_id"].iloc[n - 2] for n in broken}


def test_a_gzip_file_bigquery_would_refuse_is_quarantined_before_it_is_read(
    gcs_hook, local_settings, landing, monkeypatch
) -> None:
    """BigQuery loads gzip files of at most 4 GB; a bigger one is quarantined on both targets
    with what to do, not handed to a load that fails (the limit is lowered here)."""
    from fraud_mlops.ingestion import landed_files

    data = landing.to_csv(index=False).encode()
    packed = gzip.compress(data)
    monkeypatch.setattr(landed_files, "GZIP_MAX_BYTES", len(packed) - 1)
    s = local_settings
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "huge.csv.gz", data=packed)
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "plain.csv", data=data)  # no limit uncompressed
    good, quarantined = ingest_landed(gcs_hook, s)
    assert [g.name for g in good] == [s.landing_prefix + "plain.csv"]
    (q,) = quarantined
    assert q["reason"] == "gzip_too_large" and q["detail"].startswith(f"{len(packed):,} bytes of gzip")


def test_the_gcp_load_job_reads_the_gzip_object_as_it_is_and_skips_exactly_the_bad_lines(landing) -> None:
    data, _ = with_broken_lines(landing)
    check = check_landing_csv(gzip.compress(data))
    file = {
        "bucket": "fraud-landing", "name": "incoming/day1.csv.gz", "generation": "17", "md5": check.md5,
        "size": check.size, "rows": check.rows, "bad_lines": len(check.bad_lines),
        "compression": check.compression, "run_id": "manual__x",
    }  # fmt: skip
    assert load_job_configuration(file, settings_from_env(GCP_ENV)) == {
        "load": {
            "sourceUris": ["gs://fraud-landing/incoming/day1.csv.gz"],
            "destinationTable": {
                "projectId": "fraud-project",
                "datasetId": "fraud_raw",
                # named by content and object (uri#generation): LandedFile.table_key
                "tableId": f"raw_load_{check.md5[:16]}_{hashlib.sha256(b'gs://fraud-landing/incoming/day1.csv.gz#17').hexdigest()[:8]}",
            },
            "schema": {"fields": bigquery_load_schema()},
            "sourceFormat": "CSV",
            "skipLeadingRows": 1,
            "encoding": "UTF-8",
            "maxBadRecords": 3,
            "allowJaggedRows": False,
            "allowQuotedNewlines": False,
            "preserveAsciiControlCharacters": True,
            "createDisposition": "CREATE_IF_NEEDED",
            "writeDisposition": "WRITE_TRUNCATE",
        },
        "labels": {"app": "fraud-mlops"},
    }
    assert append_raw_parameters(file)["expected_rows"] == "1997"
    assert len(bigquery_load_schema()) == len(LANDING_COLUMNS)


def test_validation_counts_fields_as_the_csv_module_splits_them() -> None:
    """Validation counts a line's fields without building them (a fast path for lines whose
    quotes delimit whole fields); on every line of up to nine characters from ``a , "`` it gives
    the csv module's count, or its broken-quoting error."""

    def outcome(count: Callable[[str], int], line: str) -> int | str:
        try:
            return count(line)
        except csv.Error:
            return "broken_quoting"

    def csv_module(line: str) -> int:
        return len(next(csv.reader([line], strict=True)))

    lines = ["".join(chars) for n in range(1, 10) for chars in itertools.product('a,"', repeat=n)]
    differing = [line for line in lines if outcome(_field_count, line) != outcome(csv_module, line)]
    assert len(lines) == 29_523 and differing == []
    assert {outcome(csv_module, line) for line in lines} >= {1, 9, "broken_quoting"}


def test_bad_lines_of_a_file_that_counted_none_are_refused(local_settings) -> None:
    """Its reject table has no name: recording them anyway would lose them without a word."""
    from fraud_mlops import targets
    from fraud_mlops.ingestion.landed_files import BadLine, record_bad_lines
    from fraud_mlops.landing_schema import LandedFile

    landed = LandedFile(
        bucket="landing", name="incoming/a.csv", generation="1", md5="ab" * 16, size=10, rows=1
    )
    bad = BadLine(line=2, reason="wrong_field_count", detail="3 fields", transaction_id=None, card_last4=None)
    with pytest.raises(ValueError, match="1 bad line"):
        record_bad_lines(targets.warehouse(local_settings), landed, [bad])


def test_a_line_duckdb_refuses_is_reported_without_card_numbers(tmp_path) -> None:
    """Validation leaves out every line it cannot parse; if DuckDB ever refuses one anyway, its
    error quotes the line and the lines after it ("Original Line: …"), card numbers included.
    The local load's error keeps the line number and only the cards' last four digits."""
    import duckdb

    from fraud_mlops.landing_schema import redact_card_numbers
    from fraud_mlops.warehouse.duckdb_load import CsvLoadError, load_csv_into_table

    rows = [",".join(["0"] * len(LANDING_COLUMNS))] * 3000
    card = LANDING_COLUMNS.index("card_number")
    lines = [",".join(LANDING_COLUMNS)]
    for i, row in enumerate(rows):
        fields = row.split(",")
        fields[card] = f"4111 1111 1111 {i % 10_000:04d}"
        lines.append(",".join(fields))
    lines[2501] = lines[2501].replace(",", ',"', 1)  # a broken quote after DuckDB's sniffing sample
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")

    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA fraud_raw")
    with pytest.raises(CsvLoadError) as raised:
        load_csv_into_table(conn, path, "fraud_raw", "load_bad")
    message = str(raised.value)
    assert "Line: 2502" in message and "…2500" in message  # the header is line 1
    assert "4111 1111" not in message and raised.value.__cause__ is None and raised.value.__suppress_context__
    assert redact_card_numbers("gen 1733400000000001 card 4111-1111-1111-1111 id 12345") == (
        "gen …0001 card …1111 id 12345"
    )


@pytest.mark.parametrize(
    "written",
    [
        "4111 - 1111 - 1111 - 1111",
        "4111--1111--1111--1111",
        "4111  1111  1111  1111",
        "4111-1111 - 1111 1111",
    ],
)
def test_every_form_staging_reads_as_a_card_is_redacted(written: str, local_settings) -> None:
    """Staging strips every space and dash from a card number before its checks, so these are
    cards to it (a real staging run says so); the redaction took one separator between digits,
    and a DuckDB error quoting such a line, or a bad line's first field, kept the card in clear."""
    from fraud_mlops import targets
    from fraud_mlops.ingestion.landed_files import _bad_line
    from fraud_mlops.landing_schema import redact_card_numbers
    from tests.sql_chain import load_landing

    frame = generate(GeneratorConfig(rows=5, seed=3)).landing.assign(card_number=written)
    warehouse = targets.warehouse(local_settings)
    load_landing(warehouse.hook(), local_settings, frame, "cards.csv")
    transform(warehouse.hook(), local_settings)
    assert _records(warehouse, "SELECT COUNT(*) FROM `fraud.rejected_rows`") == [(0,)]
    assert _records(warehouse, "SELECT COUNT(DISTINCT card_pseudonym) FROM `fraud.stg_transactions`") == [
        (1,)
    ]

    assert redact_card_numbers(f"Original Line: t1,{written}, shop") == "Original Line: t1,…1111, shop"
    bad = _bad_line(7, f"{written},x", "wrong_field_count", "2 fields")
    assert bad.transaction_id == "…1111"
    long_id = "order/" + "x" * 50 + "/4111111111111111"  # the cut at 64 fell inside the card
    assert "411111" not in (_bad_line(8, long_id + ",x", "wrong_field_count", "2").transaction_id or "")


def _rows(n: int, long_at: int | None = None) -> list[str]:
    values = ["0.1"] * (len(LANDING_COLUMNS) - 6)
    return [
        ",".join([f"t{i}", "2026-12-01 10:00:00", "4111111111111111", "x" * 3_000_000 if i == long_at else "shop", "grocery", "0", *values])
        for i in range(n)
    ]  # fmt: skip


HEADER_LINE = ",".join(LANDING_COLUMNS)


@pytest.mark.parametrize(
    "text",
    [
        HEADER_LINE + "\r\n" + "\n".join(_rows(300)) + "\n",  # a CRLF header over LF rows
        HEADER_LINE + "\r\n" + "\r\n".join(_rows(300)) + "\n",  # a CRLF file whose last line ends LF
        HEADER_LINE + "\r\r\n" + "\r\r\n".join(_rows(300)) + "\r\r\n",  # CR CRLF: a blank line after each
        HEADER_LINE + "\n" + "\n".join(_rows(10, long_at=5)) + "\n",  # a 3 MB field (DuckDB's default: 2 MB)
    ],
    ids=["crlf_header_lf_rows", "crlf_last_lf", "cr_crlf", "long_field"],
)
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_the_local_load_reads_what_validation_reads(tmp_path, text: str, compressed: bool) -> None:
    """Line endings mixed in one file and lines past 2 MB: validation (Python's universal
    newlines, lines to BigQuery's 100 MB) accepted them, then DuckDB's strict reader, which takes
    one line ending per file and 2 MB lines, refused the file, and every run failed on it. The
    local load now reads the rows validation counted, with the values Python's CSV reader reads."""
    import duckdb

    from fraud_mlops.warehouse.duckdb_load import load_csv_into_table

    data = gzip.compress(text.encode()) if compressed else text.encode()
    check = check_landing_csv(data)
    assert check.ok and not check.bad_lines, check
    path = tmp_path / "landed.csv"
    path.write_bytes(data)
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA fraud_raw")

    rows = load_csv_into_table(conn, path, "fraud_raw", "t", check.compression)

    limit = csv.field_size_limit(2**31 - 1)  # the reference reader takes the 3 MB field too
    try:
        expected = [tuple(r) for r in csv.reader(text.splitlines()[1:]) if r]
    finally:
        csv.field_size_limit(limit)
    assert rows == check.rows == len(expected)
    loaded = conn.execute('SELECT * FROM fraud_raw."t"').fetchall()
    assert sorted(loaded) == sorted(expected)


def test_bytes_that_are_not_utf8_load_as_the_replacement_character(gcs_hook, local_settings, landing) -> None:
    """A merchant name in Latin-1 among UTF-8 lines: BigQuery's load converts what it cannot
    decode to U+FFFD and loads the row (JobConfigurationLoad.encoding). The file used to be
    quarantined whole (not_utf8); its rows now load, the byte as U+FFFD, and the run says which
    line. The erasure keeps such bytes of the rows it leaves."""
    from fraud_mlops.ingestion.erasure import erase_from_files

    s = local_settings
    text = landing.head(50).to_csv(index=False)
    lines = text.encode().splitlines(keepends=True)
    at = next(i for i in range(7, 50) if b'"' not in lines[i])  # a line whose fields split at commas
    fields = lines[at].split(b",")
    merchant = LANDING_COLUMNS.index("merchant")
    fields[merchant] = "Café".encode("latin-1")  # b"Caf\xe9": not UTF-8
    lines[at] = b",".join(fields)
    data = b"".join(lines)
    check = check_landing_csv(data)
    assert (check.ok, check.rows, check.not_utf8_lines, check.first_not_utf8_line) == (True, 50, 1, at + 1)
    assert check.md5 == hashlib.md5(data).hexdigest()  # the identity is the bytes as stored

    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "latin1.csv", data=data)
    good, quarantined = ingest_landed(gcs_hook, s)
    assert quarantined == [] and [g.rows for g in good] == [50]
    from fraud_mlops import targets

    ((cafe,),) = targets.warehouse(s).records(
        f"SELECT merchant FROM `{s.raw_dataset_ref}.raw_transactions` WHERE transaction_id = '{fields[0].decode()}'"
    )
    assert cafe == "Caf\ufffd"

    other = next(i for i in range(1, 50) if i != at and b'"' not in lines[i])
    other_card = lines[other].split(b",")[LANDING_COLUMNS.index("card_number")].decode()
    removed = erase_from_files(gcs_hook.get_conn(), s.landing_bucket, s.archive_prefix, other_card)
    assert sum(removed.values()) >= 1
    (archived,) = [b for b in gcs_hook.get_conn().list_blobs(s.landing_bucket, prefix=s.archive_prefix)]
    assert (
        b"Caf\xe9" in archived.download_as_bytes() and other_card.encode() not in archived.download_as_bytes()
    )
