"""Right to erasure, on the real local warehouse, the GCS emulator and the local online store:
``devtools.erase_card.erase_card`` runs the ``fraud_erase_card`` DAG's steps (same SQL, same
archive rewrite, same sync)."""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.feature_store.sync import sync_local_online_store
from fraud_mlops.ingestion.erasure import ErasureRequestError, erase_from_files, without_card
from fraud_mlops.ingestion.transform_lease import Holder, claim, holder
from fraud_mlops.warehouse.duckdb import DuckDBWarehouse
from tests.sql_chain import day_counts_of, load_landing, published_day_counts, transform

TABLES = ("stg_transactions", "card_features", "training_examples", "latest_card_features")


def _pseudonym_counts(hook, pseudonym: str) -> dict[str, int]:
    return {
        t: int(
            hook.get_records(f"SELECT COUNT(*) FROM `fraud.{t}` WHERE card_pseudonym = '{pseudonym}'")[0][0]
        )
        for t in TABLES
    }


def test_erase_card_removes_it_everywhere_and_keeps_every_other_row(
    warehouse, local_settings, gcs_client, pseudonymise
):
    from devtools.erase_card import erase_card

    landing = generate(GeneratorConfig(rows=2_000, seed=21, rows_per_card=20)).landing.astype(str)
    card = landing["card_number"].value_counts().index[0]
    other = landing["card_number"].value_counts().index[1]
    spaced = landing.copy()
    mine = spaced.index[spaced["card_number"] == card]
    spaced.loc[mine[0], "card_number"] = " ".join([card[:4], card[4:8], card[8:12], card[12:]])
    spaced.loc[mine[1], "transaction_id"] = spaced.loc[mine[2], "transaction_id"]  # one copy is rejected
    load_landing(warehouse, local_settings, spaced, "a.csv")
    transform(warehouse, local_settings)
    sync_local_online_store("before", local_settings)
    card_rows = len(mine)
    assert _pseudonym_counts(warehouse, pseudonymise(card))["stg_transactions"] == card_rows - 1
    rejected = "SELECT COUNT(*) FROM `fraud.rejected_rows`"
    assert warehouse.get_records(rejected)[0][0] == 1

    bucket = gcs_client.create_bucket(local_settings.landing_bucket)
    quarantine = gcs_client.create_bucket(local_settings.quarantine_bucket)
    csv_bytes = spaced.to_csv(index=False).encode()
    bucket.blob("processed/2026/a.csv").upload_from_string(csv_bytes)
    bucket.blob("processed/2026/b.csv.gz").upload_from_string(gzip.compress(csv_bytes))
    bucket.blob("incoming/later.csv").upload_from_string(csv_bytes)  # landed, not ingested yet
    bucket.blob("elsewhere/untouched.csv").upload_from_string(csv_bytes)  # not a landed file
    quarantine.blob("incoming/bad.csv").upload_from_string(csv_bytes)  # quarantined whole
    quarantine.blob("incoming/bad.csv.reason.json").upload_from_string(b'{"reason": "too_many_bad_lines"}')
    rewritten = ("processed/2026/a.csv", "processed/2026/b.csv.gz", "incoming/later.csv")
    created = {b.name: (b.time_created, b.content_type) for b in bucket.list_blobs() if b.name in rewritten}

    # what the models answered about the card, and about another one
    from fraud_mlops.sql_templates import EARLIEST_INSTANT, render_sql

    warehouse.run(
        render_sql("97_prediction_log_incoming.sql", local_settings, batch_from=EARLIEST_INSTANT).split(
            "SELECT MIN"
        )[0]
    )  # the tables
    for table, key_column in (("prediction_log", "request_id"), ("card_predictions", "prediction_id")):
        for who in (card, other):
            warehouse.run(
                f"INSERT INTO fraud.{table} ({key_column}, card_pseudonym) VALUES ('{who[-4:]}', '{pseudonymise(who)}')"
            )

    # a load table a failed run left: the card's rows in clear, outside raw_transactions
    leftover = "raw_load_0123456789abcdef_01234567"
    warehouse.run(f"CREATE TABLE fraud_raw.{leftover} AS SELECT * FROM fraud_raw.raw_transactions")

    from fraud_mlops.ingestion.erasure import served_after_erasure

    # the check the erase DAG ends with (confirm_card_not_served): the card is served until erased
    assert served_after_erasure(local_settings, card) is not None
    result = erase_card(card, storage_client=gcs_client)
    assert result["online_store_still_serves"] is False
    assert served_after_erasure(local_settings, card) is None

    assert result["load_tables_dropped"] == [f"fraud_raw.{leftover}"]
    tables = warehouse.get_records(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'fraud_raw' ORDER BY 1"
    )
    assert [t for (t,) in tables if t.startswith("raw_load_")] == []
    raw_left = warehouse.get_records(
        "SELECT COUNT(*) FROM `fraud_raw.raw_transactions` "
        f"WHERE REGEXP_REPLACE(card_number, r'[ -]', '') = '{card}'"
    )[0][0]
    assert raw_left == 0
    assert (
        warehouse.get_records("SELECT COUNT(*) FROM `fraud_raw.raw_transactions`")[0][0]
        == len(landing) - card_rows
    )
    assert _pseudonym_counts(warehouse, pseudonymise(card)) == dict.fromkeys(TABLES, 0)
    training = warehouse.get_df("SELECT * FROM `fraud.training_examples`")
    assert published_day_counts(warehouse) == day_counts_of(training)  # counted again without the card
    assert warehouse.get_records(rejected)[0][0] == 0  # the card's rejected copy went too
    assert _pseudonym_counts(warehouse, pseudonymise(other))["latest_card_features"] == 1  # others stay
    for table in ("prediction_log", "card_predictions"):  # the models' answers about it go too
        assert warehouse.get_records(f"SELECT card_pseudonym FROM fraud.{table}") == [(pseudonymise(other),)]
    landing_uri, quarantine_uri = f"gs://{bucket.name}", f"gs://{quarantine.name}"
    assert result["files_rewritten"] == {
        f"{landing_uri}/incoming/later.csv": card_rows,
        f"{landing_uri}/processed/2026/a.csv": card_rows,
        f"{landing_uri}/processed/2026/b.csv.gz": card_rows,
        f"{quarantine_uri}/incoming/bad.csv": card_rows,
    }
    for name, data in (
        ("processed/2026/a.csv", bucket.blob("processed/2026/a.csv").download_as_bytes()),
        (
            "processed/2026/b.csv.gz",
            gzip.decompress(bucket.blob("processed/2026/b.csv.gz").download_as_bytes()),
        ),
        ("incoming/later.csv", bucket.blob("incoming/later.csv").download_as_bytes()),
        ("quarantine", quarantine.blob("incoming/bad.csv").download_as_bytes()),
    ):
        text = data.decode()
        assert card not in text.replace(" ", ""), name
        assert text.count("\n") == len(landing) + 1 - card_rows, name
    assert bucket.blob("elsewhere/untouched.csv").download_as_bytes() == csv_bytes  # not a landed file
    assert (
        quarantine.blob("incoming/bad.csv.reason.json").download_as_bytes()
        == b'{"reason": "too_many_bad_lines"}'
    )
    # a rewrite is a new object; its customTime keeps the original's creation time, from which
    # the buckets' days_since_custom_time rules expire it (an erasure extends no retention)
    for blob in (b for b in bucket.list_blobs() if b.name in rewritten):
        time_created, content_type = created[blob.name]
        assert blob.time_created > time_created, blob.name
        assert (blob.custom_time, blob.content_type) == (time_created, content_type), blob.name
    store = LocalOnlineStore(local_settings.online_store_path)
    assert store.fetch_one(pseudonymise(card)) is None
    assert store.fetch_one(pseudonymise(other)) is not None
    assert result["online_store_sync"] == store.current_sync().sync_id
    # nor in an earlier version (a sync keeps the one before), nor in the file's free pages or log
    store_files = [p for p in local_settings.online_store_path.parent.iterdir() if p.is_file()]
    assert local_settings.online_store_path in store_files
    for path in store_files:
        assert pseudonymise(card).encode() not in path.read_bytes(), path.name
    assert any(pseudonymise(other).encode() in path.read_bytes() for path in store_files)
    # it held the transform lease and gave it back
    assert holder(DuckDBWarehouse(local_settings, local_settings.warehouse_path), local_settings) is None


def test_erase_card_stops_while_an_ingestion_run_holds_the_transform_lease(
    warehouse, local_settings, gcs_client, pseudonymise
):
    """An ingestion run in flight could load or publish the card's rows again after the delete:
    the command erases nothing until no run holds the lease, and says which one does."""
    from devtools.erase_card import LeaseHeld, erase_card

    landing = generate(GeneratorConfig(rows=500, seed=5, rows_per_card=20)).landing.astype(str)
    card = landing["card_number"].iloc[0]
    load_landing(warehouse, local_settings, landing, "a.csv")
    transform(warehouse, local_settings)
    lease = DuckDBWarehouse(local_settings, local_settings.warehouse_path)
    run = Holder("fraud_ingest_events", "asset_triggered__2026-12-06T10:00:00+00:00")
    assert claim(lease, local_settings, run, lambda h: True) is None
    bucket = gcs_client.create_bucket(local_settings.landing_bucket)
    bucket.blob("incoming/later.csv").upload_from_string(landing.to_csv(index=False).encode())

    with pytest.raises(LeaseHeld, match="held by fraud_ingest_events / asset_triggered__2026-12-06T10:00"):
        erase_card(card, storage_client=gcs_client)

    assert _pseudonym_counts(warehouse, pseudonymise(card))["stg_transactions"] > 0  # nothing erased
    assert card in bucket.blob("incoming/later.csv").download_as_bytes().decode()
    assert run.same_run(holder(lease, local_settings))  # the run keeps its lease


def test_an_erasure_request_must_name_a_card_number():
    with pytest.raises(ErasureRequestError):
        erase_from_files(None, "b", "p/", "4111 1111 1111 1112")  # type: ignore[arg-type]  # bad Luhn: refused first
    from fraud_mlops.ingestion.erasure import card_digits

    assert card_digits("4111 1111-1111 1111") == "4111111111111111"
    # fullwidth digits pass str.isdigit() (and the Luhn sum), yet no stored card holds them: the
    # erasure would find nothing, and its check would find nothing served, and end green
    with pytest.raises(ErasureRequestError):
        card_digits("\uff14\uff11\uff11\uff11" * 4)
    data = b"transaction_id,card_number\n1,4111111111111111\n2,4000-0000-0000-0002\n"
    assert without_card(data, "4000000000000002") == (b"transaction_id,card_number\n1,4111111111111111\n", 1)
    assert without_card(data, "4242424242424242") == (data, 0)


def test_a_file_no_erasure_can_read_is_named_and_holds_back_no_other(gcs_client, local_settings):
    """Ingestion quarantines a gzip that does not decompress (bad_compression), and a damaged
    upload may still wait under incoming/. Such a file failed every erasure (gzip's EOFError was
    not caught) until it expired, and files listed after it kept the card, which the next run
    loaded back. Now it is named (it may hold the card: a person deletes it) and the rest are
    rewritten."""
    from fraud_mlops.ingestion.erasure import erase_from_landed_files

    card, other = "4111111111111111", "5555555555554444"
    csv_bytes = f"transaction_id,card_number\n1,{card}\n2,{other}\n".encode()
    landing = gcs_client.create_bucket(local_settings.landing_bucket)
    quarantine = gcs_client.create_bucket(local_settings.quarantine_bucket)
    prefix = local_settings.landing_prefix
    landing.blob(f"{prefix}a.csv.gz").upload_from_string(gzip.compress(csv_bytes)[:-8])  # cut short
    landing.blob(f"{prefix}b.csv").upload_from_string(csv_bytes)
    quarantine.blob("2026-12-07/x.csv.gz").upload_from_string(gzip.compress(csv_bytes)[:-8])

    unreadable: dict[str, str] = {}
    removed = erase_from_landed_files(gcs_client, local_settings, card, unreadable)

    assert removed == {f"gs://{local_settings.landing_bucket}/{prefix}b.csv": 1}
    assert (
        landing.blob(f"{prefix}b.csv").download_as_bytes()
        == f"transaction_id,card_number\n2,{other}\n".encode()
    )
    assert set(unreadable) == {
        f"gs://{local_settings.landing_bucket}/{prefix}a.csv.gz",
        f"gs://{local_settings.quarantine_bucket}/2026-12-07/x.csv.gz",
    }
    assert all(why.startswith("gzip that does not decompress (EOFError") for why in unreadable.values())


def test_the_card_is_found_in_lines_as_ingestion_reads_them():
    """A line with broken quoting (ingestion rejects it, the file's other rows load) used to make
    the erasure skip the whole file, card rows included; a file without a card_number header (as
    the quarantine keeps one) was returned as it was, and a card in another column of a line
    that parses was kept. Every line holding the card's digits as a whole run now goes, and
    every other line is kept byte for byte (its line ending, a byte that is not UTF-8), a longer
    number that holds the card's digits included."""
    card = "4111111111111111"
    data = (
        b"transaction_id,card_number,merchant\r\n"
        b"1,4111 1111 1111 1111,Shop\r\n"
        b'2,5555555555554444,"Caf\xe9"\r\n'
        b'3,4111-1111-1111-1111,"broken "quote"\r\n'
        b'4,5555555555554444,"also "broken"\r\n'
        b"5,Shop,4111111111111111\r\n"  # the card in another column
        b"6,5555555555554444,Shop,4111111111111111\r\n"  # an extra field
        b"4111111111111111\r\n"  # a short line
        b"7,4111111111111111234,Shop\r"  # another (19-digit) number: kept; a lone CR ends a line
        b"8,5555555555554444,Shop"  # no line ending at the end of the file
    )
    assert without_card(data, card) == (
        b'transaction_id,card_number,merchant\r\n2,5555555555554444,"Caf\xe9"\r\n4,5555555555554444,"also "broken"\r\n'
        b"7,4111111111111111234,Shop\r8,5555555555554444,Shop",
        5,
    )
    headerless = b"1,4111111111111111,Shop\n2,5555555555554444,Shop\n"
    assert without_card(headerless, card) == (b"2,5555555555554444,Shop\n", 1)


def test_a_field_longer_than_the_csv_modules_default_limit_is_no_reason_to_skip_a_file():
    """The erasure parsed files with the csv module, whose field limit (131,072 characters) only
    ingestion's import raised: in the erase task a file with one long field failed to parse and
    was skipped whole, card rows and all. Lines are searched, not parsed, now."""
    card = "4111111111111111"
    data = f'transaction_id,card_number,merchant\n1,{card},"{"x" * 200_000}"\n2,5555555555554444,Shop\n'
    assert without_card(data.encode(), card) == (
        b"transaction_id,card_number,merchant\n2,5555555555554444,Shop\n",
        1,
    )


def test_a_gzip_file_stored_with_content_encoding_gzip_is_rewritten_as_stored(gcs_client, monkeypatch):
    """Cloud Storage serves an object stored with ``Content-Encoding: gzip`` decompressed unless
    the client asks for the stored bytes (decompressive transcoding,
    https://cloud.google.com/storage/docs/transcoding; google-cloud-storage's ``raw_download``).
    The emulator does not transcode, so the download does here what the service does; ingestion
    reads such a file as stored, and so must the erasure, and keep its encoding."""
    from google.cloud.storage.blob import Blob

    download = Blob.download_as_bytes

    def served(self: Blob, *args, raw_download: bool = False, **kwargs) -> bytes:
        encoding = self.content_encoding
        data = download(self, *args, raw_download=raw_download, **kwargs)
        # the client sets content_encoding from the response's header, which the service sends
        # and the emulator does not
        self.content_encoding = encoding
        return gzip.decompress(data) if encoding == "gzip" and not raw_download else data

    monkeypatch.setattr(Blob, "download_as_bytes", served)
    card, other = "4111111111111111", "5555555555554444"
    csv_bytes = f"transaction_id,card_number\n1,{card}\n2,{other}\n".encode()
    bucket = gcs_client.create_bucket("landing")
    stored = bucket.blob("processed/a.csv.gz")
    stored.content_encoding = "gzip"
    stored.upload_from_string(gzip.compress(csv_bytes), content_type="text/csv")

    assert erase_from_files(gcs_client, "landing", "processed/", card) == {"processed/a.csv.gz": 1}

    rewritten = bucket.get_blob("processed/a.csv.gz")
    assert rewritten.content_encoding == "gzip"  # still served as the loads read it
    assert (
        gzip.decompress(rewritten.download_as_bytes(raw_download=True))
        == f"transaction_id,card_number\n2,{other}\n".encode()
    )


@pytest.fixture
def emulator_process_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A client of gcp-storage-emulator run as its own process (in memory): the objects it
    stores are not allocations of this process, which tracemalloc would count."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.storage import Client

    from devtools.stack.config import HOST, free_port

    port = free_port()
    cli = Path(sys.executable).with_name("gcp-storage-emulator")
    server = subprocess.Popen([str(cli), "start", "--host", HOST, "--port", str(port), "-q", "--in-memory"])
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex((HOST, port)) != 0:
            assert time.monotonic() < deadline and server.poll() is None, "the emulator did not start"
            time.sleep(0.1)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{HOST}:{port}")
        yield Client(project="test-project", credentials=AnonymousCredentials())
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("compressed", [False, True], ids=["csv", "gzip"])
def test_an_erasure_streams_a_file_larger_than_its_memory_budget(
    emulator_process_client, local_settings, compressed
):
    """A card network's daily export runs to gigabytes: the erasure read a landed file whole into
    the worker's memory (and its decompressed text, and the kept lines again). It now streams it
    as validation does (tests/ingestion/test_streaming_validation.py, whose measurement this is:
    tracemalloc, every Python allocation), and the rewrite is the file without the card's lines."""
    gcs_client = emulator_process_client
    from fraud_mlops.ingestion.erasure import erase_from_landed_files
    from fraud_mlops.ingestion.landed_files import READ_CHUNK_BYTES
    from tests.ingestion.test_streaming_validation import peak_traced

    budget = 4 * READ_CHUNK_BYTES
    card, other = "4111111111111111", "5555555555554444"
    padding = "x" * 150
    lines = [f"t{i},{card if i % 1000 == 7 else other},Corner Shop,{padding}\r\n" for i in range(10_000)]
    block = "".join(lines).encode()
    repeats = 3 * budget // len(block) + 1
    data = b"transaction_id,card_number,merchant,note\r\n" + block * repeats
    kept = "".join(line for line in lines if card not in line).encode()
    expected = b"transaction_id,card_number,merchant,note\r\n" + kept * repeats
    landing = gcs_client.create_bucket(local_settings.landing_bucket)
    gcs_client.create_bucket(local_settings.quarantine_bucket)
    name = local_settings.landing_prefix + ("big.csv.gz" if compressed else "big.csv")
    landing.blob(name).upload_from_string(gzip.compress(data, compresslevel=1) if compressed else data)
    del block, kept

    removed, peak = peak_traced(lambda: erase_from_landed_files(gcs_client, local_settings, card))

    assert removed == {f"gs://{local_settings.landing_bucket}/{name}": 10 * repeats}
    stored = landing.blob(name).download_as_bytes(raw_download=True)
    assert (gzip.decompress(stored) if compressed else stored) == expected
    print(f"erasure peak {peak / 2**20:.1f} MiB for a {len(data) / 2**20:.0f} MiB file")
    assert len(data) > 3 * budget and peak < budget, (
        f"held {peak / 2**20:.1f} MiB of {len(data) / 2**20:.0f} MiB"
    )
    _, whole_file_peak = peak_traced(lambda: landing.blob(name).download_as_bytes(raw_download=True))
    assert compressed or whole_file_peak > budget  # the old way: the whole file in memory


def test_only_a_file_that_holds_the_card_is_copied_to_the_workers_disk(
    gcs_client, local_settings, monkeypatch
):
    """A first pass counts the card's lines and writes nothing: a Composer worker's disk (2 GB)
    holds a copy of the one file being rewritten, not of every landed file read."""
    import tempfile

    from fraud_mlops.ingestion import erasure

    card, other = "4111111111111111", "5555555555554444"
    landing = gcs_client.create_bucket(local_settings.landing_bucket)
    gcs_client.create_bucket(local_settings.quarantine_bucket)
    prefix = local_settings.landing_prefix
    landing.blob(f"{prefix}with.csv").upload_from_string(f"transaction_id,card_number\n1,{card}\n".encode())
    for i in range(3):
        landing.blob(f"{prefix}without_{i}.csv").upload_from_string(
            f"transaction_id,card_number\n1,{other}\n"
        )
    copies = []
    temporary_file = tempfile.TemporaryFile

    def counted() -> Any:
        copies.append(1)
        return temporary_file()

    monkeypatch.setattr(erasure.tempfile, "TemporaryFile", counted)
    removed = erasure.erase_from_landed_files(gcs_client, local_settings, card)

    assert removed == {f"gs://{local_settings.landing_bucket}/{prefix}with.csv": 1} and len(copies) == 1


def test_a_plain_csv_named_gz_is_read_as_ingestion_reads_it(gcs_client, local_settings):
    """Ingestion (as BigQuery) decides gzip by the magic bytes: a plain CSV named .csv.gz loads.
    The erasure decided by the name too, called it a gzip that does not decompress and kept the
    card, which the next run loaded."""
    from fraud_mlops.ingestion.erasure import erase_from_landed_files

    card, other = "4111111111111111", "5555555555554444"
    landing = gcs_client.create_bucket(local_settings.landing_bucket)
    gcs_client.create_bucket(local_settings.quarantine_bucket)
    name = f"{local_settings.landing_prefix}plain.csv.gz"
    landing.blob(name).upload_from_string(f"transaction_id,card_number\n1,{card}\n2,{other}\n".encode())
    unreadable: dict[str, str] = {}

    removed = erase_from_landed_files(gcs_client, local_settings, card, unreadable)

    assert unreadable == {} and removed == {f"gs://{local_settings.landing_bucket}/{name}": 1}
    assert landing.blob(name).download_as_bytes() == f"transaction_id,card_number\n2,{other}\n".encode()


def test_make_erase_card_exits_1_while_a_landed_file_could_not_be_read(
    warehouse, local_settings, gcs_client, capsys
):
    """The command's counterpart of confirm_files_erased: the rest is erased, and the exit
    status says the erasure is not complete."""
    from devtools.erase_card import main

    card = "4111111111111111"
    gcs_client.create_bucket(local_settings.landing_bucket)
    quarantine = gcs_client.create_bucket(local_settings.quarantine_bucket)
    quarantine.blob("2026-12-07/x.csv.gz").upload_from_string(gzip.compress(f"1,{card}\n".encode())[:-8])

    assert main([card]) == 1
    out = capsys.readouterr().out
    assert f"gs://{local_settings.quarantine_bucket}/2026-12-07/x.csv.gz: NOT READ (gzip that does not" in out
    assert "the erasure is not complete until the files NOT READ are deleted" in out
    assert card not in out  # the last four digits only

    quarantine.blob("2026-12-07/x.csv.gz").delete()
    assert main([card]) == 0
