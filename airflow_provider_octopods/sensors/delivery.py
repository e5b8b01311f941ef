"""Gate tasks on Octopods message delivery, without holding a worker slot while waiting."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
)

from airflow_provider_octopods import api
from airflow_provider_octopods.delivery import (
    LISTING_POLICY,
    DeliveryEvent,
    EventStatus,
    Outcome,
    Verdict,
    describe_check,
    describe_pending,
    describe_reached,
    judge,
    lacks_failure_code,
    outcome_of,
    unknown_recheck_after,
    validate_allowed_failures,
    validate_target,
)
from airflow_provider_octopods.exceptions import OctopodsError, OctopodsRateLimitError
from airflow_provider_octopods.hooks.listing_feed import is_passing
from airflow_provider_octopods.models import Channel, DeliveryStatus, MessageStatus
from airflow_provider_octopods.utils.templating import is_templated

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_octopods.hooks.octopods import OctopodsHook

__all__ = ["MessageDeliverySensor"]

#: Extra time the framework's deferral timeout allows beyond the trigger's own deadline. It is only a
#: backstop: the trigger reports the timeout itself, through ``execute_complete``.
BACKSTOP_GRACE_SECONDS = 120.0


@dataclass
class _PokeState:
    """
    What poke mode remembers between the pokes of one try (reschedule mode starts afresh each time).

    :param latest: The latest status of each message; a settled one is never polled again.
    :param recheck_at: When an UNKNOWN message may be polled again (the docs ask for 10 to 30 s).
    :param rate_limited_until: When the key may be used again after a long 429.
    :param listing_unavailable: The listing failed in a way that does not pass by itself.
    """

    latest: dict[int, MessageStatus] = field(default_factory=dict)
    recheck_at: dict[int, float] = field(default_factory=dict)
    rate_limited_until: float = 0.0
    listing_unavailable: bool = False


class MessageDeliverySensor(BaseSensorOperator):
    """
    Wait until Octopods reports one message, or every message of a list, delivered (or read).

    Deferrable by default: the sensor checks once on the worker, returns at once if the messages
    are already there, and otherwise hands the wait to a
    :class:`~airflow_provider_octopods.triggers.delivery.MessageDeliveryTrigger` in the triggerer, so
    no worker slot is held. (The official providers default ``deferrable`` to the
    ``[operators] default_deferrable`` setting, which is off unless set; a delivery wait can last
    hours, so this sensor defers unless told not to.) The trigger carries an absolute deadline
    computed here from ``timeout``: triggerer restarts never extend the wait. ``deferrable=False``
    keeps the classic poke or reschedule modes, with the same decision logic through the sync hook.

    Reached means at or past the target: DELIVERED is reached by DELIVERED, READ or DELETED (only a
    delivered message can be deleted); READ only by READ. FAILED and UNDELIVERED fail the task with
    :class:`~airflow_provider_octopods.exceptions.OctopodsDeliveryFailed`, which carries the
    provider's code and reason; DELETED while waiting for READ fails too. QUEUED, SENT and UNKNOWN
    keep waiting. On timeout it raises ``AirflowSensorTimeout``, so ``soft_fail=True`` skips.

    The task returns (XCom) ``MessageStatus.to_dict()`` for one id, or a list of them for a list.

    :param message_id: An Octopods message id: an int, a numeric string (what a rendered XCom gives),
        a list of them (e.g. the ``message_id`` output of a mapped send), or the string form of a list
        (``"[101, 102]"``). Templated.
    :param channel: ``"whatsapp"`` or ``"sms"``. Templated.
    :param target_status: ``"DELIVERED"`` (default) or ``"READ"`` (WhatsApp only; read receipts
        depend on the recipient's settings, so a READ wait may never end). Templated.
    :param allowed_failures: For a list: how many messages may fail without failing the task.
    :param octopods_conn_id: The ``octopods`` connection. Templated.
    :param deferrable: Wait in the triggerer (default) instead of on a worker.
    :param poke_interval: Longest pause between two checks of a message, in seconds. The trigger
        starts a few seconds after the first check and doubles its pause up to this value.
    :param use_listing: Read WhatsApp statuses through the sent-message listing (one request shows
        the newest 100 messages of the key): the check before deferring and poke mode for a list of
        ids, and the trigger for every wait of the key that shares the triggerer. Messages the listing
        does not show are polled on their own. ``False`` polls each message on its own.
    """

    template_fields: Sequence[str] = ("message_id", "channel", "target_status", "octopods_conn_id")
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        message_id: int | str | Sequence[int | str],
        channel: str = "whatsapp",
        target_status: str = "DELIVERED",
        allowed_failures: int = 0,
        octopods_conn_id: str = api.DEFAULT_CONN_ID,
        deferrable: bool = True,
        poke_interval: float = 30.0,
        use_listing: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.message_id = message_id
        self.channel = channel
        self.target_status = target_status
        self.allowed_failures = validate_allowed_failures(allowed_failures)
        self.octopods_conn_id = octopods_conn_id
        if not is_templated(octopods_conn_id):
            api.validate_conn_id(octopods_conn_id)
        self.deferrable = deferrable
        self.use_listing = api.validate_flag(use_listing, "use_listing")
        self._poke_state = _PokeState()
        # Fail at DAG parse time for what is already known; templated values are checked at run time.
        if not is_templated(channel):
            checked = api.validate_channel(channel)
            if not is_templated(target_status):
                validate_target(target_status, checked)
        if not is_templated(message_id):
            api.parse_message_ids(message_id)

    @cached_property
    def hook(self) -> OctopodsHook:
        from airflow_provider_octopods.hooks.octopods import OctopodsHook

        return OctopodsHook(octopods_conn_id=self.octopods_conn_id)

    def _resolved(self) -> tuple[list[int], bool, Channel, DeliveryStatus]:
        """The rendered arguments, validated (templated values are only known at run time)."""
        ids, single = api.parse_message_ids(self.message_id)
        channel = api.validate_channel(self.channel)
        return ids, single, channel, validate_target(self.target_status, channel)

    # -- deferrable path --

    def execute(self, context: Context) -> Any:
        ids, single, channel, target = self._resolved()
        if not self.deferrable:
            return super().execute(context)
        deadline = time.time() + self.timeout
        statuses, listed = self._check_once(ids, channel, target)
        verdict = judge(ids, statuses, target, self.allowed_failures)
        if verdict.done:
            if verdict.succeeded:
                self.log.info(describe_reached(verdict, channel))
            return self._finish(verdict, ids, single)
        until = dt.datetime.fromtimestamp(deadline, tz=dt.UTC).isoformat()
        checked = describe_check(ids, statuses, target, listed=listed)
        self.log.info("%s; deferring until %s at the latest.", checked, until)
        from airflow_provider_octopods.triggers.delivery import MessageDeliveryTrigger

        self.defer(
            trigger=MessageDeliveryTrigger(
                message_ids=ids,
                deadline=deadline,
                channel=channel.value,
                target_status=target.value,
                allowed_failures=self.allowed_failures,
                octopods_conn_id=self.octopods_conn_id,
                poll_interval=self.poke_interval,
                first_poll_after=min(3.0, self.poke_interval),
                use_listing=self.use_listing,
            ),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=self.timeout + max(BACKSTOP_GRACE_SECONDS, 2 * self.poke_interval)),
        )
        return None

    def _check_once(
        self, ids: list[int], channel: Channel, target: DeliveryStatus
    ) -> tuple[dict[int, MessageStatus], int]:
        """
        Enough to know whether to defer, at the least cost: the statuses read, and how many of them
        came from the listing.

        Messages are read in order, each on its own, until the first still-pending one: for a fresh
        batch that is one request. Once two in a row were settled (a batch mostly done), one listing
        request reads the rest at once, and only what it lacks is read on its own.
        """
        statuses: dict[int, MessageStatus] = {}
        listed = 0
        for position, message_id in enumerate(ids):
            if message_id in statuses:
                continue
            if position == 2:  # the first two were settled: read the rest through the listing
                found = self._listed([i for i in ids if i not in statuses], channel)
                statuses.update(found)
                listed = len(found)
                if any(outcome_of(status.status, target) is Outcome.PENDING for status in found.values()):
                    break
                if message_id in statuses:
                    continue
            try:
                status = self.hook.get_message_status(message_id, channel.value)
            except OctopodsRateLimitError as error:
                # The trigger waits out a rate limit without holding this worker slot.
                self.log.warning("%s Deferring; the triggerer waits until then.", error)
                break
            statuses[message_id] = status
            if outcome_of(status.status, target) is Outcome.PENDING:
                break
        return statuses, listed

    def _listed(self, ids: list[int], channel: Channel) -> dict[int, MessageStatus]:
        """
        The statuses one listing request shows for ``ids``: for more than one WhatsApp id (for one,
        a status request costs the same and says more). Empty when the listing is not used or could
        not be read; the messages are then checked on their own. A FAILED status without its code is
        read once more on its own, so the failure carries the code.
        """
        if not self.use_listing or channel is not Channel.WHATSAPP or len(ids) < 2:
            return {}
        if self._poke_state.listing_unavailable:
            return {}
        try:
            listing = self.hook.call(api.listing_request(api.LISTING_MAX_LIMIT), policy=LISTING_POLICY)
        except OctopodsError as error:
            self.log.info("The listing could not be read (%s); checking each message on its own.", error)
            # Not asked again by the pokes of this try, unless it was passing trouble.
            self._poke_state.listing_unavailable = not is_passing(error)
            return {}
        wanted = set(ids)
        found = {
            message.message_id: message.to_status() for message in listing if message.message_id in wanted
        }
        for message_id, status in found.items():
            if lacks_failure_code(status):
                found[message_id] = self.hook.get_message_status(message_id, channel.value)
        return found

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """
        Treat the framework's backstop deferral timeout as a sensor timeout on every Airflow version.

        It only fires if the trigger failed to report its own deadline. Airflow 3 already turns it
        into ``AirflowSensorTimeout``; Airflow 2.11 reports a generic ``TaskDeferralError``, which
        would be retried and would ignore ``never_fail``.
        """
        error = str((next_kwargs or {}).get("error", ""))
        if next_method == "__fail__" and "timeout" in error.lower():
            timeout = AirflowSensorTimeout(
                f"The wait for Octopods delivery hit Airflow's deferral timeout ({error}) after "
                f"the sensor's timeout of {self.timeout:g} s."
            )
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping (soft_fail): {timeout}") from timeout
            raise timeout
        return super().resume_execution(next_method, next_kwargs, context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: validate its event, then return the statuses or raise."""
        ids, single, _, target = self._resolved()
        delivery = DeliveryEvent.from_payload(event)
        if delivery.status is EventStatus.TIMEOUT:
            raise AirflowSensorTimeout(delivery.message)
        if delivery.status is EventStatus.ERROR:
            raise delivery.to_exception()
        statuses = {status.message_id: status for status in map(MessageStatus.from_dict, delivery.results)}
        verdict = judge(ids, statuses, target, self.allowed_failures)
        if delivery.status is EventStatus.FAILURE and not verdict.too_many_failures:
            raise OctopodsError(f"The trigger reported a failure its results do not show: {delivery.message}")
        if delivery.status is EventStatus.SUCCESS and not verdict.succeeded:
            raise OctopodsError(f"The trigger reported success its results do not show: {delivery.message}")
        self.log.info(delivery.message)
        return self._finish(verdict, ids, single)

    def _finish(self, verdict: Verdict, ids: list[int], single: bool) -> Any:
        """Raise for too many failures, or return the settled statuses in the order of ``ids``."""
        if verdict.too_many_failures:
            error = verdict.to_exception()
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping (soft_fail): {error}") from error
            raise error
        settled = {status.message_id: status for status in verdict.reached + verdict.failed}
        rendered = [settled[message_id].to_dict() for message_id in ids if message_id in settled]
        return rendered[0] if single else rendered

    # -- poke and reschedule modes --

    def poke(self, context: Context) -> bool | PokeReturnValue:
        ids, single, channel, target = self._resolved()
        state = self._poke_state
        latest = state.latest
        due = [message_id for message_id in ids if self._due(message_id, target)]
        listed = self._listed(due, channel)
        for message_id in due:
            try:
                status = listed.get(message_id) or self.hook.get_message_status(message_id, channel.value)
            except OctopodsRateLimitError as error:
                # A longer wait than the hook sits out in place: keep waiting, ask again at the retry time.
                state.rate_limited_until = error.retry_at.timestamp()
                self.log.warning("%s Poking again after that.", error)
                break
            latest[message_id] = status
            if status.status is DeliveryStatus.UNKNOWN:
                state.recheck_at[message_id] = time.time() + unknown_recheck_after(self.poke_interval)
        statuses = {message_id: latest[message_id] for message_id in ids if message_id in latest}
        verdict = judge(ids, statuses, target, self.allowed_failures)
        if not verdict.done:
            self.log.info(
                "%d of %d messages not yet %s: %s",
                len(verdict.pending),
                len(ids),
                target.value,
                describe_pending(verdict.pending, statuses),
            )
            return False
        if verdict.too_many_failures:
            raise verdict.to_exception()
        return PokeReturnValue(is_done=True, xcom_value=self._finish(verdict, ids, single))

    def _due(self, message_id: int, target: DeliveryStatus) -> bool:
        """Whether poke mode reads ``message_id`` now."""
        state = self._poke_state
        seen = state.latest.get(message_id)
        if seen is not None and outcome_of(seen.status, target) is not Outcome.PENDING:
            return False  # settled: never polled again
        # Re-checked later: after UNKNOWN (the docs ask for 10 to 30 s), or after a long 429.
        return time.time() >= max(state.recheck_at.get(message_id, 0.0), state.rate_limited_until)
