"""The names lineage uses, and the column types the schema facet reports."""

from __future__ import annotations

import pytest

from airflow_provider_octopods.utils.lineage import channel_asset_name, listing_uri, octopods_namespace
from airflow_provider_octopods.utils.openlineage import dataset_name_of
from airflow_provider_octopods.utils.records import COLUMN_TYPES, FIELDS, HISTORY_FIELDS, columns_written


def test_octopods_assets_are_named_by_api_host_and_channel() -> None:
    assert listing_uri("app.octopods.io") == "octopods://app.octopods.io/whatsapp/messages"
    assert octopods_namespace("127.0.0.1:8089") == "octopods://127.0.0.1:8089"
    assert channel_asset_name("sms") == "sms/messages"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///data/octopods/2026-04-24.jsonl", ("file", "/data/octopods/2026-04-24.jsonl")),
        ("s3://exports/octopods/2026-04-24.jsonl", ("s3://exports", "octopods/2026-04-24.jsonl")),
        ("gs://bucket/a/b.parquet", ("gs://bucket", "a/b.parquet")),
    ],
)
def test_files_are_named_as_airflows_own_asset_converters_name_them(
    uri: str, expected: tuple[str, str]
) -> None:
    assert dataset_name_of(uri) == expected


def test_every_column_has_a_type_and_parquet_stores_that_type() -> None:
    pa = pytest.importorskip("pyarrow")
    from airflow_provider_octopods.utils.parquet import schema

    assert set(COLUMN_TYPES) == set(HISTORY_FIELDS)
    kinds = {
        "integer": pa.types.is_integer,
        "timestamp": pa.types.is_timestamp,
        "string": lambda kind: pa.types.is_string(kind) or pa.types.is_dictionary(kind),
    }
    for field in schema(mask_pii=False):
        assert kinds[COLUMN_TYPES[field.name]](field.type), field


def test_the_columns_of_each_file() -> None:
    assert columns_written("jsonl", FIELDS, mask_pii=False) == list(FIELDS)
    assert columns_written("parquet", FIELDS, mask_pii=False) == list(HISTORY_FIELDS)
    assert "message_content" not in columns_written("csv", HISTORY_FIELDS, mask_pii=True)
