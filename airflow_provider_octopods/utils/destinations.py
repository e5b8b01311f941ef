"""
Where an export goes and in which format: both follow from the destination, checked before any request.

A destination is a local absolute path, a URL (``file://``, ``s3://``, ``gs://``, ...) or an
``ObjectStoragePath``. The file format follows its suffix (``.jsonl``, ``.csv``, each optionally
``.gz``); a ``file_format`` given as well must agree with it. Every mistake is an
:class:`~airflow_provider_octopods.exceptions.OctopodsValidationError` naming ``destination`` or
``file_format``: at DAG parse time for literal values (:func:`check_literal_destination`), and at
the start of the task for templated ones (:func:`resolve_destination`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_octopods.exceptions import OctopodsValidationError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

#: The file formats, by the suffix that selects each (before an optional ``.gz``).
SUFFIX_FORMATS = {".jsonl": "jsonl", ".csv": "csv"}
FORMATS = tuple(dict.fromkeys(SUFFIX_FORMATS.values()))
#: What a destination without a known suffix is written as (the format of the first releases).
DEFAULT_FORMAT = "jsonl"
#: The schemes' providers, for the error when a scheme has no filesystem registered.
_SCHEME_PROVIDERS = {
    "s3": "apache-airflow-providers-amazon[s3fs]",
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
    "abfs": "apache-airflow-providers-microsoft-azure",
    "abfss": "apache-airflow-providers-microsoft-azure",
    "adl": "apache-airflow-providers-microsoft-azure",
}


def _invalid(parameter: str, problem: str) -> OctopodsValidationError:
    return OctopodsValidationError(f"Invalid `{parameter}`: {problem}", parameter=parameter)


def format_of_name(name: str) -> str | None:
    """The format a file name's suffix selects (``out.csv.gz`` -> ``csv``), or None."""
    lowered = name.lower().removesuffix(".gz")
    for suffix, file_format in SUFFIX_FORMATS.items():
        if lowered.endswith(suffix):
            return file_format
    return None


def resolve_format(destination_name: str, file_format: object) -> str:
    """
    The format to write: ``file_format`` if given (it must agree with the suffix), else the suffix's,
    else :data:`DEFAULT_FORMAT`.
    """
    by_suffix = format_of_name(destination_name)
    if file_format is None or file_format == "":
        return by_suffix or DEFAULT_FORMAT
    if not isinstance(file_format, str) or file_format.strip().lower() not in FORMATS:
        expected = " or ".join(f"'{name}'" for name in FORMATS)
        raise _invalid("file_format", f"expected {expected} (or leave it out), got {file_format!r}.")
    chosen = file_format.strip().lower()
    if by_suffix is not None and by_suffix != chosen:
        raise _invalid(
            "file_format",
            f"file_format={chosen!r} contradicts the destination {destination_name!r}, whose suffix "
            f"means {by_suffix!r}. Leave file_format out (the suffix decides) or change the suffix.",
        )
    return chosen


def check_literal_destination(destination: str) -> None:
    """The checks that need no filesystem: not blank, a file not a folder, no relative local path."""
    text = destination.strip()
    if not text:
        raise _invalid("destination", f"expected a file path or URL, got {destination!r}.")
    if text.endswith("/"):
        raise _invalid(
            "destination",
            f"{text!r} names a folder; give a file name such as '.../{{{{ ds }}}}.jsonl'.",
        )
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() in ("file", "local") and not rest.startswith("/"):
            raise _invalid(
                "destination",
                f"{text!r} is a relative path (file:// needs an absolute path, as in "
                "'file:///data/octopods/out.jsonl'); a worker would resolve it against whatever folder it "
                "runs in.",
            )
        return
    if not text.startswith("/"):
        raise _invalid(
            "destination",
            f"{text!r} is a relative path, which a worker would resolve against whatever folder it runs "
            "in. Use an absolute path ('/data/octopods/out.jsonl') or a URL ('s3://bucket/out.jsonl').",
        )


def resolve_destination(destination: object, storage_conn_id: object) -> ObjectStoragePath:
    """The destination as an ``ObjectStoragePath`` whose filesystem exists, or a validation error."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if storage_conn_id is not None and (not isinstance(storage_conn_id, str) or not storage_conn_id.strip()):
        raise _invalid("storage_conn_id", f"expected a connection id or None, got {storage_conn_id!r}.")
    if isinstance(destination, ObjectStoragePath):
        path = destination
        if storage_conn_id and not path.conn_id:
            path = ObjectStoragePath(str(path), conn_id=storage_conn_id)
    elif isinstance(destination, str):
        check_literal_destination(destination)
        text = destination.strip()
        path = _path(text if "://" in text else f"file://{text}", storage_conn_id)
    else:
        raise _invalid("destination", f"expected a path or URI, got {destination!r}.")
    try:
        path.fs  # noqa: B018 - resolving the filesystem is the check
    except ValueError as error:
        raise _unsupported(str(destination), _scheme(path), error) from None
    return path


def _path(text: str, storage_conn_id: str | None) -> ObjectStoragePath:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    try:
        return ObjectStoragePath(text, conn_id=storage_conn_id)
    except ValueError as error:
        raise _unsupported(text, text.partition("://")[0], error) from None


def _scheme(path: ObjectStoragePath) -> str:
    protocol = path.protocol
    return str(protocol[0] if isinstance(protocol, tuple | list) else protocol)


def _unsupported(destination: str, scheme: str, error: ValueError) -> OctopodsValidationError:
    provider = _SCHEME_PROVIDERS.get(scheme.lower())
    remedy = (
        f"install {provider} to write to {scheme}:// URLs"
        if provider
        else "check the scheme (file://, s3://, gs://, abfs://, ... as the installed providers offer)"
    )
    return _invalid(
        "destination",
        f"{destination!r} uses the scheme {scheme!r}, which no installed filesystem serves ({error}); "
        f"{remedy}.",
    )


def plain_uri(path: ObjectStoragePath) -> str:
    """``s3://bucket/key`` without the ``conn_id@`` that ``str()`` of an ObjectStoragePath may carry."""
    protocol = path.protocol[0] if isinstance(path.protocol, tuple | list) else path.protocol
    location = str(path.path)
    if protocol in ("file", "local"):
        return f"file://{location if location.startswith('/') else '/' + location}"
    return f"{protocol}://{location}"
