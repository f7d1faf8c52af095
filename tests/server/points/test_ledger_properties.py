"""Property: whatever sequence of awards, redemptions, cancellations and reversals happens, every
balance equals the sum of its entries and is never negative, an account that owes has nothing to
spend, and stock never goes negative."""

import asyncio
import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tortoise.transactions import in_transaction

from models import PointsAccount, PointsEntry, Redemption, Reward, User
from server.errors import DomainError
from server.points import ledger, rewards
from tests.builders import make_reward

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("award"), st.integers(min_value=1, max_value=40)),
        st.tuples(st.just("redeem"), st.integers(min_value=0, max_value=1)),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=5)),
    ),
    min_size=1,
    max_size=25,
)


async def run_sequence(ops, now) -> None:
    user = await User.create(openid=f"prop-{uuid.uuid4().hex}")
    account = await ledger.account_for(user_id=user.id)
    shelf = [await make_reward(price=15, stock=3, per_person_limit=10), await make_reward(price=40, stock=1, per_person_limit=10)]
    awards: list[int] = []
    redemptions: list[int] = []
    for op, arg in ops:
        try:
            async with in_transaction():
                locked = await ledger.lock(user_id=user.id)
                if op == "award":
                    entry = await ledger.post(account=locked, amount=arg, kind="service_award", key=uuid.uuid4().hex,
                                              now=now, minutes=arg)
                    awards.append(entry.id)
                elif op == "redeem":
                    r = await rewards.redeem(account=locked, reward_id=shelf[arg].id, now=now, expiry_days=7)
                    redemptions.append(r.id)
                elif op == "cancel" and redemptions:
                    r = await Redemption.get(id=redemptions[arg % len(redemptions)])
                    await rewards.cancel(account=locked, redemption=r, now=now)
                elif op == "reverse" and awards:
                    await ledger.reverse(entry_id=awards[arg % len(awards)], actor_id=None, reason="p", now=now)
        except DomainError:
            pass  # a refusal must leave everything as it was; the checks below see to that
        fresh = await PointsAccount.get(id=account.id)
        total = sum(await PointsEntry.filter(account_id=account.id).values_list("amount", flat=True))
        assert fresh.balance == total >= 0
        assert fresh.owed >= 0
        # Every credit pays the debt first: points a reversal could not take back never become
        # spendable again (a refund of what was spent before the reversal included).
        assert fresh.owed == 0 or fresh.balance == 0
        for reward in shelf:
            row = await Reward.get(id=reward.id)
            held = await Redemption.filter(reward_id=reward.id, status__in=("pending", "fulfilled")).count()
            assert 0 <= row.stock == row.total_stock - held


async def test_ledger_invariants_hold_for_any_sequence(api):
    loop = asyncio.get_running_loop()
    now = api.app.ctx.clock()

    # Hypothesis drives synchronous tests; run it in a thread and hand each example back to this
    # event loop, where the ORM lives.
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(ops=OPS)
    @example(ops=[("award", 20), ("redeem", 0), ("reverse", 0), ("cancel", 0)])
    def prop(ops):
        asyncio.run_coroutine_threadsafe(run_sequence(ops, now), loop).result()

    await asyncio.to_thread(prop)
