"""
The two transports: an :class:`~airflow_provider_octopods.api.ApiRequest` in, an
:class:`~airflow_provider_octopods.api.ApiResponse` out, nothing else.

``requests`` for the sync hook (workers), ``aiohttp`` for the async hook (the triggerer). Each maps
its library's connection failures onto the same typed error (``api.transport_error``), saying
whether the request may have reached Octopods (a send is repeated only when it cannot have).
Everything else (the key, the retries, reading the answer) lives in the hooks and in ``api``.
Redirects are never followed, so the key is never sent to another host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_octopods import api

if TYPE_CHECKING:
    import requests

    from airflow_provider_octopods.hooks.triggerer_client import SharedSession


def requests_exchange(
    session: requests.Session, request: api.ApiRequest, key: str, settings: api.ConnectionSettings
) -> api.ApiResponse:
    """One request on the sync hook's pooled session; connection failures become typed errors."""
    import requests

    try:
        response = session.request(
            request.method,
            request.url(settings.base_url),
            params=dict(request.params) or None,
            data=request.encoded_body(),
            headers=request.headers(key),
            timeout=settings.timeout,
            allow_redirects=False,
        )
    except requests.exceptions.ConnectTimeout:
        raise api.transport_error(
            request,
            f"connecting timed out after {settings.timeout:g} s",
            may_have_reached_server=False,
            settings=settings,
        ) from None
    except requests.exceptions.ConnectionError as error:
        refused = _never_connected(error)
        raise api.transport_error(
            request,
            "could not connect" if refused else "the connection broke before an answer arrived",
            may_have_reached_server=not refused,
            settings=settings,
        ) from None
    except requests.exceptions.Timeout:
        raise api.transport_error(
            request,
            f"no answer within {settings.timeout:g} s",
            may_have_reached_server=True,
            settings=settings,
        ) from None
    except requests.exceptions.RequestException as error:
        raise api.transport_error(
            request, type(error).__name__, may_have_reached_server=True, settings=settings
        ) from None
    return api.ApiResponse.build(response.status_code, response.headers.items(), response.content)


def _never_connected(error: Exception) -> bool:
    """Whether a ``requests`` connection error happened before any byte of the request was sent."""
    import urllib3.exceptions

    reason: Any = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError)


async def aiohttp_exchange(
    shared: SharedSession, request: api.ApiRequest, key: str, settings: api.ConnectionSettings
) -> api.ApiResponse:
    """One request on the triggerer's shared session; connection failures become typed errors."""
    import aiohttp

    request_timeout = settings.timeout
    try:
        async with shared.session.request(
            request.method,
            request.url(shared.base_url),
            params=dict(request.params) or None,
            data=request.encoded_body(),
            headers=request.headers(key),
            allow_redirects=False,
            proxy=shared.proxy,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=request_timeout, sock_read=request_timeout
            ),
        ) as response:
            body = await response.read()
            return api.ApiResponse.build(response.status, response.headers.items(), body)
    except aiohttp.ConnectionTimeoutError:
        raise api.transport_error(
            request,
            f"connecting timed out after {request_timeout:g} s",
            may_have_reached_server=False,
            settings=settings,
        ) from None
    except aiohttp.ClientConnectorError:
        raise api.transport_error(
            request, "could not connect", may_have_reached_server=False, settings=settings
        ) from None
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise api.transport_error(
            request,
            f"no answer within {request_timeout:g} s",
            may_have_reached_server=True,
            settings=settings,
        ) from None
    except aiohttp.ClientError as error:
        raise api.transport_error(
            request,
            f"the connection broke before an answer arrived ({type(error).__name__})",
            may_have_reached_server=True,
            settings=settings,
        ) from None
