"""Constructor checks shared by the export and the compaction: what a DAG file gets wrong fails at parse."""

from __future__ import annotations

from collections.abc import Sequence

from airflow_provider_octopods.exceptions import OctopodsValidationError
from airflow_provider_octopods.utils.destinations import check_literal_destination, resolve_literal_format
from airflow_provider_octopods.utils.templating import is_templated

__all__ = ["check_choice", "check_flag", "check_literal_output"]


def check_choice(value: object, parameter: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else an error naming ``parameter``."""
    if not isinstance(value, str) or value not in choices:
        expected = " or ".join(f"'{choice}'" for choice in choices)
        raise OctopodsValidationError(
            f"Invalid `{parameter}`: expected {expected}, got {value!r}.", parameter=parameter
        )
    return value


def check_flag(value: object, parameter: str) -> bool:
    """``value`` if it is a real boolean (``"yes"`` or ``1`` would hide a typo), else an error."""
    if not isinstance(value, bool):
        raise OctopodsValidationError(
            f"Invalid `{parameter}`: expected True or False, got {value!r}.", parameter=parameter
        )
    return value


def check_literal_output(destination: object, file_format: object) -> None:
    """
    Everything about the output that is known when the DAG is parsed: the destination (when it is a
    plain string), the format and its compression, and, for Parquet, that pyarrow is installed.
    Templated values are checked when the task runs.
    """
    if isinstance(destination, str) and not is_templated(destination):
        check_literal_destination(destination)
    if resolve_literal_format(destination, file_format) == "parquet":
        from airflow_provider_octopods.utils.parquet import require_pyarrow

        require_pyarrow()
