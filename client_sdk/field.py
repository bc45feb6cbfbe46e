"""The rep's verbs: route, visits, orders, tickets, leads, account and contact edits — offline.

Every verb is one client transaction (one ``outbox.transaction()``): the local records change and
the mutations are queued together, or nothing happens. The rules that decide money and trust are
the server's own, imported from ``sync.domain`` (pricing, visit verification) and ``sync.machines``
(status moves), so the device computes exactly what the server will recompute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from client_sdk.errors import LocalRuleViolation, NotLoggedIn, RecordNotFound
from client_sdk.outbox import Outbox, Tx, wire_value
from client_sdk.records import Record, RecordStore
from client_sdk.store import Store
from client_sdk.suggestions import SuggestionView, ranked
from sync.domain.consent import current_consent
from sync.domain.pricing import LineInput, OrderTotals, price_order
from sync.domain.suggestions import misfit
from sync.domain.visits import Fix, Verification, plan_route, verify_visit
from sync.errors import IllegalTransition, PricingError
from sync.ids import new_id
from sync.machines import check_transition
from sync.rules import PURPOSES, Policy, entity_rules
from sync.values import same_value

__all__ = ["Field", "RouteStop", "VisitPolicy"]

OPEN_ORDER_STATES = ("draft", "submitted", "accepted")
Line = tuple[str, int] | tuple[str, int, str | None]
"""An order line to write: (product id, quantity), or with the id of the suggestion the rep
took it from."""
CLOSED_TICKET_STATES = ("resolved", "closed")


@dataclass(frozen=True)
class VisitPolicy:
    """The thresholds of ghost-visit detection; the server's defaults (FIELDLINE_MIN_VISIT_MINUTES,
    FIELDLINE_MAX_TRAVEL_KMH). The server recomputes with its own settings either way."""

    min_minutes: int = 5
    max_speed_kmh: float = 130.0


class RouteStop(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    visit: Record
    account: Record | None
    last_visit: Record | None
    """The account's most recent visit before this one that was checked in."""
    open_orders: list[Record]
    open_tickets: list[Record]


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _dec(value: Any, default: str = "0") -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(default)


def _subject(contact_id: str | None, lead_id: str | None) -> tuple[str, str]:
    if (contact_id is None) == (lead_id is None):
        raise ValueError("name one of contact_id or lead_id")
    return ("contact", contact_id) if contact_id is not None else ("lead", str(lead_id))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a time zone (UTC is fine)")
    return value.astimezone(UTC)


class Field:
    def __init__(
        self,
        store: Store,
        records: RecordStore,
        outbox: Outbox,
        *,
        now: Callable[[], datetime] | None = None,
        visit_policy: VisitPolicy | None = None,
    ) -> None:
        self.store = store
        self.records = records
        self.outbox = outbox
        self.now = now or (lambda: datetime.now(UTC))
        self.visit_policy = visit_policy or VisitPolicy()
        self._me: dict[str, Any] | None = None

    # Who and what ---------------------------------------------------------------------------------
    @property
    def me(self) -> dict[str, Any]:
        if self._me is None:
            user = self.store.get_meta("user")
            if not user:
                raise NotLoggedIn("log in once online before using this device")
            self._me = dict(user)
        return self._me

    def _get(self, entity: str, record_id: str) -> Record:
        record = self.records.get(entity, record_id)
        if record is None:
            raise RecordNotFound(f"no {entity} {record_id} on this device")
        return record

    def price_list_id(self) -> str | None:
        """The price list this rep sells from: the one the server names for the rep's region
        (login), else the only list on the device, else the one of the rep's latest order;
        None means list prices (the server then fills in the region's list on push)."""
        chosen = self.me.get("price_list_id")
        if chosen:
            return str(chosen)
        lists = self.records.all("price_list")
        if len(lists) == 1:
            return lists[0].id
        orders = [o for o in self.records.all("order") if o.get("price_list_id")]
        if orders:
            latest = max(orders, key=lambda o: str(o.get("created_at") or o.id))
            return str(latest.get("price_list_id"))
        return None

    def prices(
        self, price_list_id: str | None, product_ids: Iterable[str] | None = None
    ) -> dict[str, Decimal]:
        """Product → unit price, as the server prices: the list price, overridden by the price
        list's entry where it has one. ``product_ids`` limits the lookup (fast path)."""
        if product_ids is None:
            products = self.records.all("product")
            entries = (
                self.records.where("price", price_list_id=price_list_id) if price_list_id else []
            )
        else:
            wanted = sorted(set(product_ids))
            products = [p for pid in wanted if (p := self.records.get("product", pid))]
            entries = [
                e
                for pid in wanted
                if price_list_id
                for e in self.records.where("price", product_id=pid, price_list_id=price_list_id)
            ]
        prices = {
            p.id: _dec(p.get("list_price")) for p in products if p.get("list_price") is not None
        }
        for entry in entries:
            prices[str(entry.get("product_id"))] = _dec(entry.get("unit_price"))
        return prices

    # Reading ------------------------------------------------------------------------------------
    def accounts(self) -> list[Record]:
        return self.records.all("account")

    def products(self, *, active_only: bool = True) -> list[Record]:
        return [p for p in self.records.all("product") if p.get("active", True) or not active_only]

    def visits(self, day: date | None = None) -> list[Record]:
        if day is None:
            return self.records.all("visit")
        return self.records.where("visit", planned_for=day.isoformat())

    def orders(self, account_id: str | None = None) -> list[Record]:
        if account_id is None:
            return self.records.all("order")
        return self.records.where("order", account_id=account_id)

    def order_lines(self, order_id: str) -> list[Record]:
        lines = self.records.where("order_line", order_id=order_id)
        return sorted(lines, key=lambda r: (int(r.get("line_no") or 0), r.id))

    def tickets(self, account_id: str | None = None) -> list[Record]:
        if account_id is None:
            return self.records.all("ticket")
        return self.records.where("ticket", account_id=account_id)

    def ticket_comments(self, ticket_id: str) -> list[Record]:
        return self.records.where("ticket_comment", ticket_id=ticket_id)

    def leads(self) -> list[Record]:
        return self.records.all("lead")

    def suggestions(self, account_id: str) -> list[SuggestionView]:
        """What else the account might buy (cross-sell and up-sell, learned by the server from
        order history), best first, priced from the rep's price list as an order would be.
        Offline: the suggestions are synced with the account. Taking a line from one:
        ``add_line(..., suggestion_id=view.id)`` or a ``(product, quantity, view.id)`` line."""
        self._get("account", account_id)
        price_list_id = self.price_list_id()
        return ranked(
            self.records,
            account_id,
            lambda products: self.prices(price_list_id, products),
            self._currency(price_list_id),
        )

    def _currency(self, price_list_id: str | None) -> str:
        if price_list_id:
            price_list = self.records.get("price_list", price_list_id)
            if price_list is not None and price_list.get("currency"):
                return str(price_list.get("currency"))
        return "EUR"

    def repriced_orders(self) -> list[Record]:
        """Submitted orders the server re-priced because prices changed while the rep was
        offline; ``order["repricing"]`` holds old and new totals and the per-line difference."""
        return [o for o in self.records.all("order") if o.get("repricing")]

    # Route ----------------------------------------------------------------------------------------
    def route(
        self, day: date | None = None, *, position: tuple[float, float] | None = None
    ) -> list[RouteStop]:
        """Today's visits (not cancelled) in route order from ``position`` (default: the rep's
        first stop); completed visits come last."""
        day = day or self.now().date()
        me = self.me["id"]
        visits = [
            v
            for v in self.visits(day)
            if v.get("rep_id") in (me, None) and v.get("status") != "cancelled"
        ]
        accounts = {v.id: self.records.get("account", str(v.get("account_id"))) for v in visits}
        todo = [v for v in visits if v.get("status") != "completed"]
        done = [v for v in visits if v.get("status") == "completed"]
        stops: list[tuple[str, float, float]] = []
        unplaced: list[Record] = []
        for v in todo:
            account = accounts[v.id]
            if account is not None and account.get("lat") is not None:
                stops.append((v.id, float(account["lat"]), float(account["lon"])))
            else:
                unplaced.append(v)
        start = position
        if start is None and stops:
            start = (stops[0][1], stops[0][2])
        order = plan_route(start, stops) if stops and start is not None else []
        by_id = {v.id: v for v in todo}
        ordered = (
            [by_id[i] for i in order]
            + unplaced
            + sorted(done, key=lambda v: str(v.get("check_in_at") or ""))
        )
        result = []
        for position_no, visit in enumerate(ordered, start=1):
            account = accounts[visit.id]
            result.append(
                RouteStop(
                    position=position_no,
                    visit=visit,
                    account=account,
                    last_visit=self._last_visit(visit) if account else None,
                    open_orders=[
                        o for o in self.orders(account.id) if o.get("status") in OPEN_ORDER_STATES
                    ]
                    if account
                    else [],
                    open_tickets=[
                        t
                        for t in self.tickets(account.id)
                        if t.get("status") not in CLOSED_TICKET_STATES
                    ]
                    if account
                    else [],
                )
            )
        return result

    def _last_visit(self, visit: Record) -> Record | None:
        others = [
            v
            for v in self.records.where("visit", account_id=visit.get("account_id"))
            if v.id != visit.id and v.get("check_in_at")
        ]
        if not others:
            return None
        return max(others, key=lambda v: str(v.get("check_in_at")))

    # Visits ---------------------------------------------------------------------------------------
    def plan_visit(
        self,
        account_id: str,
        day: date,
        *,
        purpose: str | None = None,
        route_position: int | None = None,
    ) -> Record:
        self._get("account", account_id)
        visit_id = new_id()
        with self.outbox.transaction() as tx:
            tx.upsert(
                "visit",
                visit_id,
                {
                    "account_id": account_id,
                    "rep_id": self.me["id"],
                    "status": "planned",
                    "planned_for": day.isoformat(),
                    "route_position": route_position,
                    "purpose": purpose,
                },
            )
        return self._get("visit", visit_id)

    def check_in(
        self,
        visit_id: str | None,
        *,
        lat: float,
        lon: float,
        accuracy_m: float | None = None,
        at: datetime | None = None,
        account_id: str | None = None,
    ) -> Record:
        """Check in to a planned visit, or (``visit_id`` None, ``account_id`` given) to an
        unplanned one. Verification is computed here and again, authoritatively, by the server."""
        at = _utc(at or self.now())
        with self.outbox.transaction() as tx:
            check_in: dict[str, Any] = {
                "status": "in_progress",
                "check_in_at": at,
                "check_in_lat": lat,
                "check_in_lon": lon,
                "check_in_accuracy_m": accuracy_m,
            }
            if visit_id is None:
                if account_id is None:
                    raise LocalRuleViolation("check in to a visit, or give the account visited")
                self._get("account", account_id)
                self._move("visit", None, "in_progress")
                visit_id = new_id()
                fields: dict[str, Any] = {
                    "account_id": account_id,
                    "rep_id": self.me["id"],
                    "planned_for": at.date().isoformat(),
                    **check_in,
                }
            else:
                # A visit already checked in (or finished) is refused as the server would: a
                # second check-in rewrites the write-once check-in fields.
                visit = self._get("visit", visit_id)
                self._check_change("visit", visit, check_in)
                fields = check_in
            tx.upsert("visit", visit_id, fields)
            self._verify(tx, visit_id)
        return self._get("visit", visit_id)

    def check_out(
        self,
        visit_id: str,
        *,
        outcome: str,
        notes: str | None = None,
        duration_s: int | None = None,
        at: datetime | None = None,
    ) -> Record:
        visit = self._get("visit", visit_id)
        self._move("visit", str(visit.get("status")), "completed")
        check_in_at = _parse_time(visit.get("check_in_at"))
        if at is None:
            at = (
                check_in_at + timedelta(seconds=duration_s)
                if check_in_at is not None and duration_s is not None
                else self.now()
            )
        at = _utc(at)
        if duration_s is None and check_in_at is not None:
            duration_s = max(0, int((at - check_in_at).total_seconds()))
        fields: dict[str, Any] = {
            "status": "completed",
            "check_out_at": at,
            "outcome": outcome,
            "duration_s": duration_s,
        }
        if notes is not None:
            fields["notes"] = notes
        # Completed → completed is no move, but the check-out fields are written once: a second
        # check-out is refused here as the server refuses it.
        self._check_change("visit", visit, fields)
        with self.outbox.transaction() as tx:
            tx.upsert("visit", visit_id, fields)
            self._verify(tx, visit_id)
        return self._get("visit", visit_id)

    def cancel_visit(self, visit_id: str) -> Record:
        visit = self._get("visit", visit_id)
        self._move("visit", str(visit.get("status")), "cancelled")
        with self.outbox.transaction() as tx:
            tx.upsert("visit", visit_id, {"status": "cancelled"})
        return self._get("visit", visit_id)

    def edit_visit(self, visit_id: str, /, **changes: Any) -> Record:
        """Correct what a rep may change at any time (purpose, notes, planned day, route
        position); check-in, check-out and cancelling have their own verbs."""
        self._get("visit", visit_id)
        self._editable("visit", changes)
        with self.outbox.transaction() as tx:
            tx.upsert("visit", visit_id, changes)
        return self._get("visit", visit_id)

    def add_visit_note(self, visit_id: str, body: str) -> Record:
        self._get("visit", visit_id)
        note_id = new_id()
        with self.outbox.transaction() as tx:
            tx.upsert(
                "visit_note",
                note_id,
                {"visit_id": visit_id, "author_id": self.me["id"], "body": body},
            )
        return self._get("visit_note", note_id)

    def verification(self, visit_id: str) -> Verification:
        """What the device computes for a visit, exactly as the server will (same function, the
        device's copy of the facts)."""
        visit = self._get("visit", visit_id)
        account = self.records.get("account", str(visit.get("account_id")))
        check_in_at = _parse_time(visit.get("check_in_at"))
        fix = (
            Fix(
                lat=float(visit["check_in_lat"]),
                lon=float(visit["check_in_lon"]),
                accuracy_m=visit.get("check_in_accuracy_m"),
                at=check_in_at,
            )
            if check_in_at is not None
            and visit.get("check_in_lat") is not None
            and visit.get("check_in_lon") is not None
            else None
        )
        previous, overlapping = self._neighbours(visit, check_in_at)
        return verify_visit(
            check_in=fix,
            account_lat=account.get("lat") if account else None,
            account_lon=account.get("lon") if account else None,
            radius_m=float(account.get("visit_radius_m") or 200.0) if account else 200.0,
            check_out_at=_parse_time(visit.get("check_out_at")),
            previous_check_in=previous,
            overlapping=overlapping,
            min_minutes=self.visit_policy.min_minutes,
            max_speed_kmh=self.visit_policy.max_speed_kmh,
        )

    def _neighbours(self, visit: Record, check_in_at: datetime | None) -> tuple[Fix | None, bool]:
        if check_in_at is None:
            return None, False
        rep = visit.get("rep_id")
        previous: tuple[datetime, Record] | None = None
        overlapping = False
        for other in self.records.all("visit"):
            if other.id == visit.id or other.get("rep_id") != rep:
                continue
            other_in = _parse_time(other.get("check_in_at"))
            if other_in is None or other_in >= check_in_at:
                continue
            if other.get("check_in_lat") is not None and (
                previous is None or other_in > previous[0]
            ):
                previous = (other_in, other)
            other_out = _parse_time(other.get("check_out_at"))
            if other.get("status") != "cancelled" and (
                other_out is None or other_out > check_in_at
            ):
                overlapping = True
        fix = None
        if previous is not None:
            p = previous[1]
            fix = Fix(
                lat=float(p["check_in_lat"]),
                lon=float(p["check_in_lon"]),
                accuracy_m=p.get("check_in_accuracy_m"),
                at=previous[0],
            )
        return fix, overlapping

    def _verify(self, tx: Tx, visit_id: str) -> None:
        result = self.verification(visit_id)
        tx.upsert(
            "visit",
            visit_id,
            {
                "distance_m": result.distance_m,
                "verified": result.verified,
                "verification_score": result.score,
                "flags": list(result.flags),
            },
        )

    # Orders ---------------------------------------------------------------------------------------
    def create_order(
        self, account_id: str, *, notes: str | None = None, lines: Iterable[Line] = ()
    ) -> Record:
        """A draft order from the cached catalogue and the rep's price list; ``lines`` is a
        shortcut for ``add_line`` with (product id, quantity) pairs, or (product id, quantity,
        suggestion id) for a line taken from a suggestion, in the same transaction."""
        self._get("account", account_id)
        order_id = new_id()
        price_list_id = self.price_list_id()
        currency = self._currency(price_list_id)
        with self.outbox.transaction() as tx:
            fields: dict[str, Any] = {
                "account_id": account_id,
                "rep_id": self.me["id"],
                "status": "draft",
                "currency": currency,
                "notes": notes,
            }
            if price_list_id:
                fields["price_list_id"] = price_list_id
            tx.upsert("order", order_id, fields)
            for line_no, line in enumerate(lines, start=1):
                product_id, quantity = line[0], line[1]
                suggestion_id = line[2] if len(line) > 2 else None
                self._write_line(
                    tx,
                    order_id,
                    price_list_id,
                    product_id,
                    quantity,
                    0,
                    line_no,
                    suggestion_id=suggestion_id,
                    account_id=account_id,
                )
            self._reprice(tx, order_id)
        return self._get("order", order_id)

    def _draft(self, order_id: str) -> Record:
        order = self._get("order", order_id)
        if order.get("status") != "draft":
            raise LocalRuleViolation(
                f"order {order_id} is {order.get('status')}: a submitted order cannot be changed"
                " (amend it if the back office rejected it)",
                reason="illegal_transition",
                field="status",
            )
        return order

    def add_line(
        self,
        order_id: str,
        product_id: str,
        quantity: int,
        *,
        discount_pct: Decimal | str | int = 0,
        suggestion_id: str | None = None,
    ) -> Record:
        """``suggestion_id``: the account's suggestion the rep took the line from (it must name
        this product), so the server can count suggestions taken up."""
        order = self._draft(order_id)
        line_no = self._next_line_no(order_id)
        with self.outbox.transaction() as tx:
            line_id = self._write_line(
                tx,
                order_id,
                order.get("price_list_id"),
                product_id,
                quantity,
                discount_pct,
                line_no,
                suggestion_id=suggestion_id,
                account_id=str(order.get("account_id")),
            )
            self._reprice(tx, order_id)
        return self._get("order_line", line_id)

    def _next_line_no(self, order_id: str) -> int:
        """One past the highest line number this device holds for the order, counting lines
        whose delete is not answered yet (should the server refuse it, the line comes back) and
        lines whose creation was refused (kept to be amended): this device never gives a number
        twice. Another tablet may take the same number offline; the server then moves the later
        line to the next free number and names it in its answer, which is folded here."""
        highest = self.store.scalar(
            "SELECT max(CAST(json_extract(data, '$.line_no') AS INTEGER)) FROM records "
            "WHERE entity = 'order_line' AND ref = ?",
            (order_id,),
        )
        return int(highest or 0) + 1

    def _write_line(
        self,
        tx: Tx,
        order_id: str,
        price_list_id: str | None,
        product_id: str,
        quantity: int,
        discount_pct: Decimal | str | int,
        line_no: int,
        *,
        suggestion_id: str | None = None,
        account_id: str | None = None,
    ) -> str:
        product = self._get("product", product_id)
        if suggestion_id is not None:
            self._check_suggestion(suggestion_id, product_id, account_id)
        if not product.get("active", True):
            raise LocalRuleViolation(f"product {product.get('sku')} is no longer sold")
        if quantity < 1:
            raise LocalRuleViolation("quantity must be at least 1", field="quantity")
        discount = Decimal(str(discount_pct))
        # A line's price does not depend on the other lines: price it as it is written, so the
        # line travels as one mutation.
        try:
            [priced] = price_order(
                [LineInput(product_id, quantity, discount, line_no)],
                self.prices(price_list_id, [product_id]),
            ).lines
        except PricingError as exc:
            raise LocalRuleViolation(exc.detail) from exc
        line_id = new_id()
        tx.upsert(
            "order_line",
            line_id,
            {
                "order_id": order_id,
                "product_id": product_id,
                "line_no": line_no,
                "quantity": quantity,
                "discount_pct": discount,
                "unit_price": priced.unit_price,
                "line_total": priced.line_total,
                **({"suggestion_id": suggestion_id} if suggestion_id is not None else {}),
            },
        )
        return line_id

    def _check_suggestion(
        self, suggestion_id: str, product_id: str, account_id: str | None
    ) -> None:
        """A line names a suggestion this device holds, for its product and account: an
        acceptance counted for the wrong suggestion would be worse than none."""
        suggestion = self._get("suggestion", suggestion_id)
        why = misfit(
            suggestion_id,
            suggestion.get("product_id"),
            suggestion.get("account_id"),
            product_id,
            account_id,
        )
        if why is not None:
            raise LocalRuleViolation(why, field="suggestion_id")

    def update_line(
        self,
        line_id: str,
        *,
        quantity: int | None = None,
        discount_pct: Decimal | str | int | None = None,
    ) -> Record:
        line = self._get("order_line", line_id)
        order_id = str(line.get("order_id"))
        self._draft(order_id)
        fields: dict[str, Any] = {}
        if quantity is not None:
            if quantity < 1:
                raise LocalRuleViolation("quantity must be at least 1", field="quantity")
            fields["quantity"] = quantity
        if discount_pct is not None:
            fields["discount_pct"] = Decimal(str(discount_pct))
        with self.outbox.transaction() as tx:
            tx.upsert("order_line", line_id, fields)
            self._reprice(tx, order_id)
        return self._get("order_line", line_id)

    def remove_line(self, line_id: str) -> None:
        line = self._get("order_line", line_id)
        order_id = str(line.get("order_id"))
        self._draft(order_id)
        with self.outbox.transaction() as tx:
            tx.delete("order_line", line_id)
            self._reprice(tx, order_id)

    def order_totals(self, order_id: str) -> OrderTotals:
        order = self._get("order", order_id)
        lines = [
            LineInput(
                product_id=str(line.get("product_id")),
                quantity=int(line.get("quantity") or 0),
                discount_pct=_dec(line.get("discount_pct")),
                line_no=int(line.get("line_no") or 0),
            )
            for line in self.order_lines(order_id)
        ]
        prices = self.prices(order.get("price_list_id"), [line.product_id for line in lines])
        return price_order(lines, prices)

    def _reprice(self, tx: Tx, order_id: str, *, all_lines: bool = False) -> OrderTotals:
        try:
            totals = self.order_totals(order_id)
        except PricingError as exc:
            raise LocalRuleViolation(exc.detail) from exc
        by_line = {(p.line_no, p.product_id): p for p in totals.lines}
        for line in self.order_lines(order_id):
            priced = by_line.get((int(line.get("line_no") or 0), str(line.get("product_id"))))
            if priced is None:
                continue
            changed = (
                _dec(line.get("unit_price"), "-1") != priced.unit_price
                or _dec(line.get("line_total"), "-1") != priced.line_total
            )
            if changed or all_lines:
                tx.upsert(
                    "order_line",
                    line.id,
                    {"unit_price": priced.unit_price, "line_total": priced.line_total},
                )
        tx.upsert(
            "order",
            order_id,
            {
                "subtotal": totals.subtotal,
                "discount_total": totals.discount_total,
                "total": totals.total,
            },
        )
        return totals

    def submit_order(self, order_id: str) -> Record:
        """Submit: from now on the order is immutable for the rep. The prices the device used
        travel with it; if the server's prices differ, it keeps its own and records the
        difference in ``repricing``, which reaches this device on the next sync."""
        self._draft(order_id)
        if not self.order_lines(order_id):
            raise LocalRuleViolation("an order needs at least one line")
        self._move("order", "draft", "submitted")
        with self.outbox.transaction() as tx:
            # The lines' prices and the total ride in the same client transaction as the move
            # to submitted: that is what the server compares its own prices with.
            totals = self._reprice(tx, order_id, all_lines=True)
            tx.upsert(
                "order",
                order_id,
                {"status": "submitted", "total": totals.total, "client_total": totals.total},
            )
        return self._get("order", order_id)

    def take_order(
        self, account_id: str, lines: Iterable[Line], *, notes: str | None = None
    ) -> Record:
        """Create, fill and submit an order as one client transaction. A line taken from one of
        the account's suggestions is (product id, quantity, suggestion id)."""
        with self.outbox.transaction():
            order = self.create_order(account_id, notes=notes, lines=lines)
            return self.submit_order(order.id)

    def cancel_order(self, order_id: str) -> Record:
        order = self._get("order", order_id)
        self._move("order", str(order.get("status")), "cancelled")
        with self.outbox.transaction() as tx:
            tx.upsert("order", order_id, {"status": "cancelled"})
        return self._get("order", order_id)

    def amend_order(self, order_id: str) -> Record:
        """Make a refused order a draft again, to fix and resubmit. Two cases: the back office
        rejected it (server status ``rejected`` → ``draft``, a normal move), or the server never
        accepted its creation (the push was rejected): then the order and its lines are queued
        again in full, as new mutations, and the old refusals are closed as amended."""
        order = self._get("order", order_id)
        if order.rejected:
            return self._requeue_order(order)
        status = str(order.get("status"))
        if status == "draft":
            return order
        self._move("order", status, "draft")
        with self.outbox.transaction() as tx:
            tx.upsert("order", order_id, {"status": "draft"})
        return self._get("order", order_id)

    def _requeue_order(self, order: Record) -> Record:
        rejected = self.store.all(
            "SELECT seq FROM outbox WHERE state = 'rejected' AND "
            "((entity = 'order' AND record_id = ?) OR "
            "(entity = 'order_line' AND record_id IN "
            "  (SELECT id FROM records WHERE entity = 'order_line' "
            "   AND json_extract(data, '$.order_id') = ?)))",
            (order.id, order.id),
        )
        with self.outbox.transaction() as tx:
            fields = {
                k: v
                for k, v in order.fields.items()
                if k not in ("id", "version", "created_at", "updated_at")
            }
            fields["status"] = "draft"
            tx.upsert("order", order.id, fields)
            for line in self.records.where("order_line", order_id=order.id):
                line_fields = {
                    k: v
                    for k, v in line.fields.items()
                    if k not in ("id", "version", "created_at", "updated_at")
                }
                tx.upsert("order_line", line.id, line_fields)
            self._reprice(tx, order.id)
            self.outbox.close_rejected([r[0] for r in rejected], state="amended")
        return self._get("order", order.id)

    # Tickets --------------------------------------------------------------------------------------
    def open_ticket(
        self,
        account_id: str,
        subject: str,
        *,
        description: str | None = None,
        category: str = "service",
        priority: str = "normal",
    ) -> Record:
        self._get("account", account_id)
        self._move("ticket", None, "open")
        ticket_id = new_id()
        with self.outbox.transaction() as tx:
            tx.upsert(
                "ticket",
                ticket_id,
                {
                    "account_id": account_id,
                    "opened_by_id": self.me["id"],
                    "subject": subject,
                    "description": description,
                    "category": category,
                    "priority": priority,
                    "status": "open",
                },
            )
        return self._get("ticket", ticket_id)

    def comment(self, ticket_id: str, body: str) -> Record:
        self._get("ticket", ticket_id)
        comment_id = new_id()
        with self.outbox.transaction() as tx:
            tx.upsert(
                "ticket_comment",
                comment_id,
                {"ticket_id": ticket_id, "author_id": self.me["id"], "body": body},
            )
        return self._get("ticket_comment", comment_id)

    def edit_ticket(self, ticket_id: str, /, **changes: Any) -> Record:
        """Subject, description, category or priority; the status moves with ``move_ticket``."""
        self._get("ticket", ticket_id)
        self._editable("ticket", changes)
        with self.outbox.transaction() as tx:
            tx.upsert("ticket", ticket_id, changes)
        return self._get("ticket", ticket_id)

    def move_ticket(self, ticket_id: str, status: str, *, comment: str | None = None) -> Record:
        ticket = self._get("ticket", ticket_id)
        self._move("ticket", str(ticket.get("status")), status)
        with self.outbox.transaction() as tx:
            tx.upsert("ticket", ticket_id, {"status": status})
            if comment:
                self.comment(ticket_id, comment)
        return self._get("ticket", ticket_id)

    # Leads ----------------------------------------------------------------------------------------
    def capture_lead(
        self,
        company: str,
        *,
        contact_name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        city: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        notes: str | None = None,
        product_line: str | None = None,
        language: str | None = None,
    ) -> Record:
        lead_id = new_id()
        with self.outbox.transaction() as tx:
            tx.upsert(
                "lead",
                lead_id,
                {
                    "company": company,
                    "contact_name": contact_name,
                    "email": email,
                    "phone": phone,
                    "city": city,
                    "lat": lat,
                    "lon": lon,
                    "notes": notes,
                    "product_line": product_line,
                    "language": language,
                    "source": "field",
                    "status": "new",
                    "captured_by_id": self.me["id"],
                },
            )
        return self._get("lead", lead_id)

    # Accounts and contacts ------------------------------------------------------------------------
    def edit_account(self, account_id: str, /, **changes: Any) -> Record:
        self._get("account", account_id)
        self._editable("account", changes)
        with self.outbox.transaction() as tx:
            tx.upsert("account", account_id, changes)
        return self._get("account", account_id)

    def edit_contact(self, contact_id: str, /, **changes: Any) -> Record:
        self._get("contact", contact_id)
        self._editable("contact", changes)
        with self.outbox.transaction() as tx:
            tx.upsert("contact", contact_id, changes)
        return self._get("contact", contact_id)

    def add_contact(
        self, account_id: str, first_name: str, last_name: str, /, **more: Any
    ) -> Record:
        self._get("account", account_id)
        self._editable("contact", more)
        contact_id = new_id()
        with self.outbox.transaction() as tx:
            tx.upsert(
                "contact",
                contact_id,
                {
                    "account_id": account_id,
                    "first_name": first_name,
                    "last_name": last_name,
                    **more,
                },
            )
        return self._get("contact", contact_id)

    # Consent --------------------------------------------------------------------------------------
    def record_consent(
        self,
        purpose: str,
        status: str,
        *,
        contact_id: str | None = None,
        lead_id: str | None = None,
        channel: str = "in_person",
        at: datetime | None = None,
    ) -> Record:
        """Record what a contact (or a lead) said about one purpose (``sync.rules.PURPOSES``):
        ``given`` or ``withdrawn``, as they expressed it (``channel``), now or ``at``. A new
        decision is a new record; the latest per purpose is the one in force."""
        kind, subject_id = _subject(contact_id, lead_id)
        self._get(kind, subject_id)
        consent_id = new_id()
        with self.outbox.transaction() as tx:
            tx.upsert(
                f"{kind}_consent",
                consent_id,
                {
                    f"{kind}_id": subject_id,
                    "purpose": purpose,
                    "status": status,
                    "channel": channel,
                    "recorded_at": wire_value(_utc(at or datetime.now(UTC))),
                    "recorded_by_id": self.me["id"],
                    "source": "device",
                },
            )
        return self._get(f"{kind}_consent", consent_id)

    def consent(
        self, *, contact_id: str | None = None, lead_id: str | None = None
    ) -> dict[str, str]:
        """The consent in force for every purpose, offline: ``given`` or ``withdrawn`` (no
        decision on record is no consent)."""
        kind, subject_id = _subject(contact_id, lead_id)
        history = self.records.where(f"{kind}_consent", **{f"{kind}_id": subject_id})
        current = current_consent(dict(r.fields, id=r.id) for r in history)
        return {p: str(current[p]["status"]) if p in current else "withdrawn" for p in PURPOSES}

    # Rules ----------------------------------------------------------------------------------------
    def _editable(self, entity: str, changes: dict[str, Any]) -> None:
        rules = entity_rules(entity)
        for name in changes:
            if name not in rules.fields:
                raise LocalRuleViolation(f"{entity} has no field {name!r}", field=name)
            policy = rules.policy(name)
            if policy is not Policy.LWW:
                raise LocalRuleViolation(
                    f"{entity}.{name} is {policy.value}: a rep cannot edit it",
                    reason="server_owned_field" if policy is Policy.SERVER_OWNED else "validation",
                    field=name,
                )

    def _check_change(self, entity: str, record: Record, fields: dict[str, Any]) -> None:
        """Refuse on the device what the server would refuse of this change to ``record``, with
        the server's reason, judged as sync.merge judges a pushed update (field by field in the
        order sent, the first refusal wins) against the record as this device shows it, which
        is what the server holds once the edits queued before this one are applied: a move the
        state machine does not allow (``illegal_transition``), a write-once field that already
        holds another value (``validation``), a server-owned field (``server_owned_field``).
        Values equal to the current ones, computed and last-writer-wins fields pass."""
        rules = entity_rules(entity)
        for name, value in fields.items():
            rule = rules.fields.get(name)
            if rule is None:
                raise LocalRuleViolation(f"{entity} has no field {name!r}", field=name)
            current = record.get(name)
            if same_value(wire_value(value), current):
                continue
            if rule.policy is Policy.SERVER_OWNED:
                raise LocalRuleViolation(
                    f"{entity}.{name} is set by the server, not by devices",
                    reason="server_owned_field",
                    field=name,
                )
            if rule.policy is Policy.WRITE_ONCE and current is not None:
                raise LocalRuleViolation(
                    f"{entity} {record.id}: {name} is write-once and already set ({current}); "
                    "it cannot change",
                    field=name,
                )
            if rule.policy is Policy.STATE_MACHINE:
                self._move(
                    rule.machine or entity,
                    None if current is None else str(current),
                    str(value),
                    field=name,
                )

    def _move(self, machine: str, current: str | None, new: str, *, field: str = "status") -> None:
        try:
            check_transition(machine, current, new, "device")
        except IllegalTransition as exc:
            raise LocalRuleViolation(str(exc), reason="illegal_transition", field=field) from exc
