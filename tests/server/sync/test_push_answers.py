"""What a push answers must be what the server stored: the values it decided, a refusal for a
reused seq, and refusals for values and ids no store can hold."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.orders.models import OrderLine
from server.sync.models import PushReceipt, QuarantinedMutation
from sync.ids import new_id
from sync.messages import Applied, Rejected, Upsert
from tests.seed import World, run_db
from tests.server.sync.device import Device
from tests.stores import Store


def _draft_with_line(rep: Device, world: World, *, line_no: int = 1) -> tuple[str, str, list]:
    order, line, tx = new_id(), new_id(), new_id()
    return (
        order,
        line,
        [
            rep.upsert("order", order, {"account_id": world.accounts["N1"][0]}, tx=tx),
            rep.upsert(
                "order_line",
                line,
                {
                    "order_id": order,
                    "product_id": world.products[1],
                    "quantity": 2,
                    "line_no": line_no,
                    "discount_pct": "0",
                    "unit_price": "999.00",
                    "line_total": "1998.00",
                },
                tx=tx,
            ),
        ],
    )


def test_an_applied_line_carries_the_price_the_server_computed_not_the_devices(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    _, _, mutations = _draft_with_line(rep, world)
    _, line_result = rep.push(*mutations)
    assert isinstance(line_result, Applied)
    # The price list has 18.50 for this product; the device guessed 999.00.
    assert Decimal(line_result.fields["unit_price"]) == Decimal("18.50")
    assert Decimal(line_result.fields["line_total"]) == Decimal("37.00")


def test_an_edit_with_a_wrong_total_is_answered_with_the_total_the_server_stored(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    _, line, mutations = _draft_with_line(rep, world)
    _, first = rep.push(*mutations)
    assert isinstance(first, Applied)
    [again] = rep.push(
        rep.upsert("order_line", line, {"quantity": 2, "line_total": "5130.00"}, base_version=1)
    )
    assert isinstance(again, Applied)
    assert again.fields["line_total"] == first.fields["line_total"] == "37.00"


def test_a_new_line_on_a_taken_number_moves_to_the_next_free_one_and_the_answer_says_so(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    tablet_a, tablet_b = device_for("rep_n1"), device_for("rep_n1")
    order, first_line, mutations = _draft_with_line(tablet_a, world)
    tablet_a.push(*mutations)
    # Tablet B, offline with the same draft, also adds line 2 after A did.
    a_line, b_line = new_id(), new_id()
    for tablet, line_id in ((tablet_a, a_line), (tablet_b, b_line)):
        [result] = tablet.push(
            tablet.upsert(
                "order_line",
                line_id,
                {
                    "order_id": order,
                    "product_id": world.products[2],
                    "quantity": 1,
                    "line_no": 2,
                    "discount_pct": "0",
                },
            )
        )
        assert isinstance(result, Applied), result
    assert result.fields["line_no"] == 3

    async def numbers(session: AsyncSession) -> dict[str, int]:
        rows = await session.execute(
            select(OrderLine.id, OrderLine.line_no).where(OrderLine.order_id == order)
        )
        return {line_id: number for line_id, number in rows}

    assert run_db(store.url, numbers) == {first_line: 1, a_line: 2, b_line: 3}


def test_a_reused_seq_without_an_answer_is_refused_and_kept_in_quarantine(
    device_for: Callable[[str], Device], world: World, store: Store
) -> None:
    rep = device_for("rep_n1")
    account = world.accounts["N1"][0]
    rep.push(rep.upsert("account", account, {"phone": "+49 1"}, base_version=1))
    rep.push(rep.upsert("account", account, {"phone": "+49 2"}, base_version=2))
    # A client that lost its outbox numbering sends seq 1 again, with new work.
    reused = Upsert(
        seq=1,
        tx=new_id(),
        entity="account",
        id=account,
        fields={"notes": "new work"},
        hlc=rep.stamp(),
    )

    async def forget_receipts(session: AsyncSession) -> None:
        await session.execute(PushReceipt.__table__.delete())
        await session.commit()

    run_db(store.url, forget_receipts)  # as compaction does after the retention period
    [result] = rep.push(reused)
    assert isinstance(result, Rejected)
    assert result.reason == "seq_reused"

    async def quarantined(session: AsyncSession) -> list[str]:
        rows = await session.execute(
            select(QuarantinedMutation.reason).where(QuarantinedMutation.record_id == account)
        )
        return list(rows.scalars())

    assert run_db(store.url, quarantined) == ["seq_reused"]


def test_a_nul_byte_in_a_field_is_refused_as_validation_and_the_next_push_goes_through(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    account = world.accounts["N1"][0]
    [bad] = rep.push(rep.upsert("account", account, {"notes": "a\x00b"}, base_version=1))
    assert isinstance(bad, Rejected)
    assert (bad.reason, bad.field) == ("validation", "notes")
    [good] = rep.push(rep.upsert("account", account, {"notes": "ab"}, base_version=1))
    assert isinstance(good, Applied)


def test_a_nul_byte_in_a_mutation_id_refuses_the_push_whole_with_the_field_named(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    mutation = rep.upsert("contact", new_id() + "\x00", {"first_name": "A"})
    response = rep.push_raw([mutation])
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "mutations[0].id" in response.text


def test_a_record_id_that_is_not_a_uuid_is_refused_like_rest_refuses_it(
    device_for: Callable[[str], Device], world: World
) -> None:
    rep = device_for("rep_n1")
    [result] = rep.push(
        rep.upsert(
            "contact",
            "contact-1",
            {"account_id": world.accounts["N1"][0], "first_name": "A", "last_name": "B"},
        )
    )
    assert isinstance(result, Rejected)
    assert (result.reason, result.field) == ("validation", "id")
