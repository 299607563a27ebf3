"""A pledge's payment link reaches the donor's phone through the real SMS pipeline: the
outbox, an RQ worker and the Twilio stand-in, once however often the link is asked for."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from acd.records import Caller, Records, put
from bench.stripe_standin import StripeStandIn
from bench.twilio_standin import StandIn
from core.config import RecordsSettings
from core.keys import Keys
from hotline.telethon import AcdCallerRefs, OutboxTexts
from pledges.links import PaymentDesk
from pledges.models import Pledge
from pledges.payments import StripeCheckout
from pledges.rules import Status
from records.database import connect, upgrade
from sms.state import MessageState
from tests.integration.test_acd_http import T0
from tests.integration.test_pledges_http import CAMPAIGN
from tests.integration.test_pledges_payments import stripe_standin  # noqa: F401  (fixture)
from tests.integration.test_pledges_tote import row
from tests.integration.test_sms_pipeline import (  # noqa: F401  (fixtures)
    MOBILE,
    Pipeline,
    pipeline,
    settings,
    standin,
)


def test_the_link_sms_is_delivered_once(
    pipeline: Pipeline,  # noqa: F811
    standin: StandIn,  # noqa: F811
    stripe_standin: StripeStandIn,  # noqa: F811
    tmp_path: Path,
) -> None:
    keys = Keys(pipeline.settings.redis.prefix)
    ref = pipeline.ref(MOBILE)
    engine = connect(RecordsSettings(data_dir=tmp_path / "records"))
    provider = StripeCheckout(
        stripe_standin.api_key,
        stripe_standin.webhook_secret,
        base_url=stripe_standin.base_url,
        success_url="https://telethon.example/thanks",
    )
    desk = PaymentDesk(
        engine,
        {CAMPAIGN.name: CAMPAIGN},
        provider,
        AcdCallerRefs(pipeline.runtime.redis, keys),
        OutboxTexts(pipeline.outbox, pipeline.runtime.redis, keys, CAMPAIGN.dids[0]),
        clock=lambda: T0,
    )
    pledge: Pledge = row(1, 5000, Status.PLEDGED, T0)
    pledge.call_id = "c1"

    async def pledged() -> None:
        await upgrade(engine)
        async with AsyncSession(engine) as session, session.begin():
            session.add(pledge)
        caller = Caller("c1", "q", "en", "Calm Heron", T0, caller_ref=ref)
        await Records(pipeline.runtime.redis, keys).save(put(caller))

    try:
        pipeline.run(pledged())
        for _ in range(3):  # asked again: nothing more is made or sent
            assert pipeline.run(desk.send_link("p1", "alice")).status == "link_sent"
        [message_id] = [m for m in pipeline.client.scan_iter(keys.sms_message("*"))]
        [record] = pipeline.work(message_id.rpartition(":")[2])
        assert record.state is MessageState.SENT
        [sent] = standin.messages
        [session] = stripe_standin.sessions
        assert sent["to"] == MOBILE
        assert sent["body"] == CAMPAIGN.sms_templates["en"].format(link=session["url"])
    finally:
        pipeline.run(provider.close())
        pipeline.run(engine.dispose())
