"""Whether a constructor argument is known when the DAG is parsed, or only when the task runs."""

from __future__ import annotations


def is_templated(value: object) -> bool:
    """
    True when ``value`` (or anything inside it) is only known at run time: a Jinja template string,
    or an object such as an ``XComArg`` that Airflow resolves before ``execute``.

    Operators validate every other argument in ``__init__``, so a bad literal fails when the DAG is
    parsed, and check templated ones once they are rendered.
    """
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list | tuple):
        return any(is_templated(item) for item in value)
    if isinstance(value, dict):
        return any(is_templated(item) for item in value.values())
    return not isinstance(value, int | float | bool | type(None))
