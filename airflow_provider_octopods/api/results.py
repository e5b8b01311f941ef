"""
:func:`parse_response`: the one place an answer becomes a result or a typed error, for both transports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_octopods.api.errors import classify_error
from airflow_provider_octopods.api.responses import NO_JSON, decode_body, describe_body
from airflow_provider_octopods.exceptions import OctopodsMalformedResponseError

if TYPE_CHECKING:
    from airflow_provider_octopods.api.endpoints import ApiRequest
    from airflow_provider_octopods.api.responses import ApiResponse


def parse_response(request: ApiRequest, response: ApiResponse, *, now: float | None = None) -> Any:
    """
    The one place a response becomes a result or a typed error, for both transports.

    :returns: :class:`MessageStatus`, ``list[SentMessage]`` or :class:`SendResult`, per endpoint.
    :raises OctopodsError: the classified error.
    """
    data = decode_body(response)
    spec = request.spec
    if not 200 <= response.status_code < 300:
        if spec.empty_result is not None and spec.empty_result(response.status_code, data):
            return []
        raise classify_error(request, response, data, now=now)
    if data is NO_JSON and spec.needs_json:
        raise OctopodsMalformedResponseError(
            f"Octopods answered {request.describe()} with HTTP {response.status_code} and "
            f"{describe_body(data, response)} instead of JSON.",
            status_code=response.status_code,
        )
    return spec.read(request, data, response)
