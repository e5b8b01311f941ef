"""
Where an export goes and in which format: both follow from the destination, checked before any request.

A destination is a local absolute path, a URL (``file://``, ``s3://``, ``gs://``, ...) or an
``ObjectStoragePath``. The file format follows its suffix (``.jsonl``, ``.csv``, each optionally
``.gz``, or ``.parquet``, which compresses inside and takes no ``.gz``); a ``file_format`` given as
well must agree with it. Every mistake is an
:class:`~airflow_provider_octopods.exceptions.OctopodsValidationError` naming ``destination`` or
``file_format``: at DAG parse time for literal values (:func:`check_literal_destination`), and at
the start of the task for templated ones (:func:`resolve_destination`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_octopods.exceptions import OctopodsValidationError
from airflow_provider_octopods.version_compat import PATH_HAS_CONN_ID

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

#: The file formats, by the suffix that selects each (before an optional ``.gz``).
SUFFIX_FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
FORMATS = tuple(dict.fromkeys(SUFFIX_FORMATS.values()))
#: Formats written as text, which a ``.gz`` suffix gzips (Parquet compresses its own pages).
TEXT_FORMATS = ("jsonl", "csv")
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


def check_compression(destination_name: str, file_format: str) -> None:
    """A ``.gz`` suffix gzips the text formats; Parquet compresses inside and is refused gzipped."""
    if file_format not in TEXT_FORMATS and destination_name.lower().endswith(".gz"):
        raise _invalid(
            "destination",
            f"{destination_name!r} asks for gzip, but {file_format} files compress their own pages and "
            "are not gzipped: drop the '.gz'.",
        )


def resolve_output_format(destination_name: str, file_format: object) -> str:
    """
    The format to write when the task runs: :func:`resolve_format` and :func:`check_compression`,
    and, for Parquet, pyarrow installed (else ``AirflowOptionalProviderFeatureException``).
    """
    chosen = resolve_format(destination_name, file_format)
    check_compression(destination_name, chosen)
    if chosen == "parquet":
        from airflow_provider_octopods.utils.parquet import require_pyarrow

        require_pyarrow()
    return chosen


def resolve_literal_format(destination: object, file_format: object) -> str | None:
    """
    The format when both ``destination`` and ``file_format`` are known at DAG parse time (checked as
    :func:`resolve_format` and :func:`check_compression` check them), else None (templated).
    """
    from airflow_provider_octopods.utils.templating import is_templated

    if is_templated(file_format) or not isinstance(destination, str) or is_templated(destination):
        return None  # known when the task runs (an ObjectStoragePath or XComArg is checked then too)
    chosen = resolve_format(destination, file_format)
    check_compression(destination, chosen)
    return chosen


def check_literal_destination(destination: str) -> None:
    """The checks that need no filesystem: not blank, a file not a folder, no relative local path."""
    check_literal_location(destination, "destination", folder_ok=False)


def check_literal_location(location: str, parameter: str, *, folder_ok: bool) -> None:
    """Not blank, no relative local path, and (unless ``folder_ok``) not a folder."""
    text = location.strip()
    if not text:
        wanted = "a folder (or prefix) path or URL" if folder_ok else "a file path or URL"
        raise _invalid(parameter, f"expected {wanted}, got {location!r}.")
    if text.endswith("/") and not folder_ok:
        raise _invalid(
            parameter,
            f"{text!r} names a folder; give a file name such as '.../{{{{ ds }}}}.jsonl'.",
        )
    example = "/data/octopods/capture/" if folder_ok else "/data/octopods/out.jsonl"
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() in ("file", "local") and not rest.startswith("/"):
            raise _invalid(
                parameter,
                f"{text!r} is a relative path (file:// needs an absolute path, as in "
                f"'file://{example}'); a worker would resolve it against whatever folder it runs in.",
            )
        return
    if not text.startswith("/"):
        raise _invalid(
            parameter,
            f"{text!r} is a relative path, which a worker would resolve against whatever folder it runs "
            f"in. Use an absolute path ('{example}') or a URL ('s3://bucket{example.removeprefix('/data')}').",
        )


def resolve_destination(destination: object, storage_conn_id: object) -> ObjectStoragePath:
    """The destination as an ``ObjectStoragePath`` whose filesystem exists, or a validation error."""
    return resolve_location(destination, storage_conn_id, "destination", folder_ok=False)


def resolve_location(
    location: object, storage_conn_id: object, parameter: str, *, folder_ok: bool
) -> ObjectStoragePath:
    """``location`` as an ``ObjectStoragePath`` whose filesystem exists, or an error naming ``parameter``."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if storage_conn_id is not None and (not isinstance(storage_conn_id, str) or not storage_conn_id.strip()):
        raise _invalid("storage_conn_id", f"expected a connection id or None, got {storage_conn_id!r}.")
    if isinstance(location, ObjectStoragePath):
        path = location
        if storage_conn_id and not _conn_id_of(path):
            path = ObjectStoragePath(str(path), conn_id=storage_conn_id)
    elif isinstance(location, str):
        check_literal_location(location, parameter, folder_ok=folder_ok)
        text = location.strip()
        path = _path(text if "://" in text else f"file://{text}", storage_conn_id, parameter)
    else:
        raise _invalid(parameter, f"expected a path or URI, got {location!r}.")
    try:
        path.fs  # noqa: B018 - resolving the filesystem is the check
    except ValueError as error:
        raise _unsupported(str(location), _scheme(path), error, parameter) from None
    return path


def _path(text: str, storage_conn_id: str | None, parameter: str) -> ObjectStoragePath:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    try:
        return ObjectStoragePath(text, conn_id=storage_conn_id)
    except ValueError as error:
        raise _unsupported(text, text.partition("://")[0], error, parameter) from None


def _scheme(path: ObjectStoragePath) -> str:
    protocol = path.protocol
    return str(protocol[0] if isinstance(protocol, tuple | list) else protocol)


def _unsupported(
    destination: str, scheme: str, error: ValueError, parameter: str = "destination"
) -> OctopodsValidationError:
    provider = _SCHEME_PROVIDERS.get(scheme.lower())
    remedy = (
        f"install {provider} to write to {scheme}:// URLs"
        if provider
        else "check the scheme (file://, s3://, gs://, abfs://, ... as the installed providers offer)"
    )
    return _invalid(
        parameter,
        f"{destination!r} uses the scheme {scheme!r}, which no installed filesystem serves ({error}); "
        f"{remedy}.",
    )


def plain_uri(path: ObjectStoragePath) -> str:
    """``s3://bucket/key`` without the ``conn_id@`` that ``str()`` of an ObjectStoragePath may carry."""
    return uri_of(_scheme(path), str(path.path))


def uri_of(protocol: str, location: str) -> str:
    """The plain URI of ``location`` (a filesystem path as fsspec spells it) on ``protocol``."""
    if protocol in ("file", "local"):
        return f"file://{location if location.startswith('/') else '/' + location}"
    return f"{protocol}://{location}"


def _conn_id_of(path: ObjectStoragePath) -> str | None:
    """
    The connection an ``ObjectStoragePath`` names, if any: its ``conn_id`` attribute, which arrived
    in Airflow 3.2; before it, a storage option (``version_compat.PATH_HAS_CONN_ID``).
    """
    if PATH_HAS_CONN_ID:
        return getattr(path, "conn_id", None)  # an attribute the older type stubs do not know
    return path.storage_options.get("conn_id")  # type: ignore[no-any-return]
