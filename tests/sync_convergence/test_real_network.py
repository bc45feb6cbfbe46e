"""Convergence over a real network, on both stores: a real server process, the fault proxy in
front of it (tests/sync_convergence/proxy.py: answers dropped after the server applied the
request, requests sent twice — also at the same time —, request bodies cut mid-way, late copies
of old pushes, delays), and real SDK clients: three reps with two tablets each, and a manager's
tablet. The server is SIGKILLed mid-run — after the n-th request forwarded since a random step,
so the kill lands before, during or after a commit — and started again on the same database (the
proxy is pointed at its new port). After two final rounds on a healthy network, every invariant
of tests/sync_convergence/invariants.py must hold; and the server must never have answered 5xx,
nor refused a mutation as ``seq_reused`` (the SDK never reuses a seq).

Then two known defect sequences, replayed step by step over the same real network:
(a) a shared draft order submitted on one tablet while the other tablet, offline, changes a
line's quantity and submits; (b) an edit whose push was applied but whose pull was lost, a
concurrent edit of the same field on the other tablet, and a second edit on the first.

One short seed runs in the normal suite. ``make soak`` (FIELDLINE_SOAK=1) runs
FIELDLINE_SOAK_SEEDS seeds of FIELDLINE_SOAK_STEPS steps each (defaults 10 and 200) with two
kills each, and (b)'s events in every order; a failure names its seed, and
``-k 'soak_real_network and <seed>'`` reruns one. A seed replays the same decisions (actions,
faults per request, kill points); the timing of a kill against the server's commit does not.
"""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from client_sdk.errors import NetworkUnavailable
from client_sdk.store import loads
from sync.domain.pricing import CENT, LineInput, price_order
from tests.conftest import make_settings
from tests.stores import Store
from tests.sync_convergence.proxy import NetFaults
from tests.sync_convergence.real_network import NetworkSimulation, RealNetwork
from tests.sync_convergence.server_view import ServerView
from tests.sync_convergence.simulation import SimDevice

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOAK = os.environ.get("FIELDLINE_SOAK") == "1"
QUICK_SEEDS = (101,)
QUICK_STEPS = 60
SOAK_SEEDS = int(os.environ.get("FIELDLINE_SOAK_SEEDS", "10"))
SOAK_STEPS = int(os.environ.get("FIELDLINE_SOAK_STEPS", "200"))
SOAK_KILLS = 2
PUSH_PATH = "/api/v1/sync/push"
PULL_PATH = "/api/v1/sync/pull"
# Long runs must not outlive the access tokens minted at the start.
TOKEN_TTL_S = 24 * 3600


def _settings(store: Store) -> Any:
    return make_settings(store, access_token_ttl_s=TOKEN_TTL_S)


# The randomized run ----------------------------------------------------------------------------
def run_and_check(store: Store, workdir: Path, *, seed: int, steps: int, kills: int = 1) -> None:
    started = time.monotonic()
    sim = NetworkSimulation(_settings(store), workdir, seed=seed, steps=steps)
    try:
        sim.run(kills=kills)
        problems = sim.problems()
        summary = sim.net.summary()
        logs = sim.net.server.logs() if problems else ""
    finally:
        sim.close()
    print(
        f"seed {seed} ({steps} steps, {store.kind}): {time.monotonic() - started:.1f}s; {summary}"
    )
    assert sim.net.server.kills >= 1, f"seed {seed}: the server was never killed"
    assert sim.ledger.acks, (
        f"seed {seed}: no mutation was ever acknowledged; the run proved nothing"
    )
    assert not problems, (
        f"seed {seed} ({steps} steps, {store.kind}): {len(problems)} invariant violations\n"
        + "\n".join(problems[:40])
        + f"\n--- {summary}\n--- last events ---\n"
        + "\n".join(sim.log[-30:])
        + ("\n--- server logs ---\n" + logs if logs else "")
    )


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_tablets_converge_over_a_real_faulty_network_across_a_server_kill(
    store: Store, tmp_path: Path, seed: int
) -> None:
    run_and_check(store, tmp_path, seed=seed, steps=QUICK_STEPS)


@pytest.mark.skipif(not SOAK, reason="soak run: set FIELDLINE_SOAK=1 (make soak)")
@pytest.mark.parametrize("seed", range(5000, 5000 + (SOAK_SEEDS if SOAK else 1)))
def test_soak_real_network_convergence(store: Store, tmp_path: Path, seed: int) -> None:
    run_and_check(store, tmp_path, seed=seed, steps=SOAK_STEPS, kills=SOAK_KILLS)


# Helpers for the replays -----------------------------------------------------------------------
Key = tuple[str, str]


def _order_on_device(device: SimDevice, order_id: str) -> dict[Key, tuple[int, dict[str, Any]]]:
    rows = device.client.store.all(
        "SELECT entity, id, version, data FROM records WHERE (entity = 'order' AND id = ?) OR "
        "(entity = 'order_line' AND json_extract(data, '$.order_id') = ?)",
        (order_id, order_id),
    )
    return {(r["entity"], r["id"]): (int(r["version"]), loads(r["data"])) for r in rows}


def _order_on_server(view: ServerView, order_id: str) -> dict[Key, tuple[int, dict[str, Any]]]:
    """The live order and lines as sync_records holds them (what devices are sent)."""
    return {
        key: (row.version, row.data)
        for key, row in view.index.items()
        if not row.deleted
        and (
            key == ("order", order_id)
            or (key[0] == "order_line" and row.data.get("order_id") == order_id)
        )
    }


def _differences(
    name: str,
    mine: dict[Key, tuple[int, dict[str, Any]]],
    server: dict[Key, tuple[int, dict[str, Any]]],
) -> list[str]:
    out = []
    for key in sorted(set(mine) | set(server)):
        where = f"{name}: {key[0]} {key[1][-8:]}"
        if key not in mine:
            out.append(f"{where} is on the server (v{server[key][0]}) but not on the tablet")
            continue
        if key not in server:
            out.append(f"{where} is on the tablet (v{mine[key][0]}) but not live on the server")
            continue
        (v_mine, d_mine), (v_server, d_server) = mine[key], server[key]
        if v_mine != v_server:
            out.append(f"{where} is at v{v_mine} on the tablet, v{v_server} on the server")
        diff = {
            f: (d_mine.get(f), d_server.get(f))
            for f in sorted(set(d_mine) | set(d_server))
            if f not in ("version",) and d_mine.get(f) != d_server.get(f)
        }
        if diff:
            out.append(f"{where} fields differ (tablet, server): {diff}")
    return out


def _totals_consistent(name: str, side: dict[Key, tuple[int, dict[str, Any]]]) -> list[str]:
    """Within one copy: each line_total is its quantity × unit_price less the discount, and the
    order's subtotal/discount_total/total are the sums (sync/domain/pricing.py)."""
    out = []
    orders = [data for (entity, _), (_, data) in side.items() if entity == "order"]
    lines = [data for (entity, _), (_, data) in side.items() if entity == "order_line"]
    if not orders:
        return [f"{name}: no order"]
    order = orders[0]
    prices = {str(line["product_id"]): Decimal(str(line["unit_price"])) for line in lines}
    priced = price_order(
        [
            LineInput(
                str(line["product_id"]),
                int(line["quantity"]),
                Decimal(str(line.get("discount_pct") or 0)),
                int(line.get("line_no") or 0),
            )
            for line in lines
        ],
        prices,
    )
    by_no = {(p.line_no, p.product_id): p for p in priced.lines}
    for line in lines:
        p = by_no[(int(line.get("line_no") or 0), str(line["product_id"]))]
        if Decimal(str(line.get("line_total"))).quantize(CENT) != p.line_total:
            out.append(
                f"{name}: line {str(line['id'])[-8:]} quantity {line['quantity']} × "
                f"{line['unit_price']} (−{line.get('discount_pct')}%) has line_total "
                f"{line.get('line_total')}, the pricing rule gives {p.line_total}"
            )
    for field, expected in (
        ("subtotal", priced.subtotal),
        ("discount_total", priced.discount_total),
        ("total", priced.total),
    ):
        value = order.get(field)
        if value is None or Decimal(str(value)).quantize(CENT) != expected:
            out.append(f"{name}: order {field} is {value}, the lines sum to {expected}")
    return out


def _fail_with(net: RealNetwork, what: str, problems: list[str]) -> None:
    assert not problems, (
        f"{what}: {len(problems)} problems\n" + "\n".join(problems[:40]) + f"\n--- {net.summary()}"
    )


def _settle(net: RealNetwork, *devices: SimDevice) -> None:
    for _round in (1, 2):
        for device in devices:
            net.sync(device)


# (a) A shared draft: submitted on one tablet, changed and submitted on the other offline ------
def test_replay_shared_draft_submitted_on_one_tablet_changed_offline_on_the_other(
    store: Store, tmp_path: Path
) -> None:
    net = RealNetwork(_settings(store), tmp_path, seed=1)
    try:
        a = net.add_device("n1a", "rep_n1", login=True)
        b = net.add_device("n1b", "rep_n1")
        world = net.world
        net.sync(a)
        net.sync(b)
        order = a.client.create_order(
            world.accounts["N1"][0],
            notes="shared draft",
            lines=[(world.products[0], 2), (world.products[1], 3)],
        )
        net.sync(a)
        net.sync(b)
        assert b.client.get("order", order.id) is not None, "tablet B never got the draft"
        assert len(b.client.order_lines(order.id)) == 2

        a.client.submit_order(order.id)
        net.sync(a)
        # Tablet B has not synced since: to it the order is still a draft.
        line = sorted(b.client.order_lines(order.id), key=lambda r: r.get("line_no"))[0]
        b.client.update_line(line.id, quantity=int(line.get("quantity")) + 4)
        b.client.submit_order(order.id)
        net.sync(b)
        net.sync(a)

        problems: list[str] = []
        for phase in ("after both synced", "after two more rounds"):
            if phase != "after both synced":
                _settle(net, a, b)
            view = net.view()
            server = _order_on_server(view, order.id)
            problems += [f"[{phase}] {p}" for p in _totals_consistent("server", server)]
            for device in (a, b):
                mine = _order_on_device(device, order.id)
                problems += [f"[{phase}] {p}" for p in _differences(device.label, mine, server)]
                problems += [f"[{phase}] {p}" for p in _totals_consistent(device.label, mine)]
        problems += net.problems()
        rejected = [(r.seq, r.entity, r.reason, r.detail[:120]) for r in b.client.rejected()]
        _fail_with(
            net,
            f"shared draft {order.id[-8:]} ({store.kind}); B's refused mutations: {rejected}",
            problems,
        )
    finally:
        net.close()


# (b) An applied push whose pull was lost, a concurrent edit, and a second edit ----------------
def _last_stamp(device: SimDevice) -> str:
    return str(device.client.store.scalar("SELECT hlc FROM outbox ORDER BY seq DESC LIMIT 1"))


def _lost_pull_then_concurrent_edit(
    net: RealNetwork, d1: SimDevice, d2: SimDevice, account: str, variant: str, order: str
) -> list[str]:
    """Device 1 edits the phone and syncs; the server applies the push, the pull's answer is
    lost. Device 2 (which had not seen device 1's edit) edits the same phone; device 1 edits it
    again and syncs. ``order``: device 2 syncs before device 1's second edit is pushed
    (``d2_first``: device 1 overwrites device 2's value) or after it (``d1_first``: device 2's
    value loses to device 1's later one). Either way device 2's value is discarded by a
    concurrent write and a conflict record must say so."""
    where = f"[{variant}, {order}, {d1.label}/{d2.label}]"
    problems: list[str] = []
    if variant == "pull_in_push":
        # One push before, so device 1 knows the server answers a pull inside a push.
        other = next(a.id for a in d1.client.accounts() if a.id != account)
        d1.client.edit_account(other, notes="warm-up")
        net.sync(d1)
        net.sync(d2)
        assert d1.client.store.get_meta("server_pulls") is True
    else:
        assert not d1.client.store.get_meta("server_pulls")
    first, second = d1.client.get("account", account), d2.client.get("account", account)
    assert first is not None and second is not None and first.version == second.version

    p1, p2, p3 = f"+49 40 1{d1.label}", f"+49 40 2{d2.label}", f"+49 40 3{d1.label}"
    d1.client.edit_account(account, phone=p1)
    stamps = [_last_stamp(d1)]
    lost = PULL_PATH if variant == "separate_pull" else PUSH_PATH
    acks_before = len(net.ledger.acks)
    with pytest.raises(NetworkUnavailable):
        net.sync(d1, NetFaults(drop=1.0, paths=frozenset({lost})))
    if net.view().rows[("account", account)].wire["phone"] != p1:
        return [f"{where} the server did not apply device 1's push: the replay proves nothing"]
    if variant == "separate_pull" and len(net.ledger.acks) == acks_before:
        return [f"{where} device 1 never got its push answer: the lost pull was not isolated"]

    # "Meanwhile": each edit is made after the previous one. Stamps are milliseconds (the node
    # breaks a tie), so edits in one millisecond could be ordered either way.
    time.sleep(0.01)
    d2.client.edit_account(account, phone=p2)
    stamps.append(_last_stamp(d2))
    if order == "d2_first":
        net.sync(d2)
    time.sleep(0.01)
    d1.client.edit_account(account, phone=p3)
    stamps.append(_last_stamp(d1))
    assert stamps == sorted(stamps), f"{where} the edits were not stamped in order: {stamps}"
    net.sync(d1)
    if order == "d1_first":
        net.sync(d2)
    _settle(net, d1, d2)

    view = net.view()
    phones = [
        (c.discarded, c.kept, net.ledger.labels.get(c.discarded_origin or "", "?"), c.rule)
        for c in view.conflicts
        if (c.entity, c.record_id, c.field) == ("account", account, "phone")
    ]
    if not any(
        discarded == p2 and origin == d2.label and rule == "lww"
        for discarded, _kept, origin, rule in phones
    ):
        problems.append(
            f"{where} no conflict record for device 2's phone {p2!r}, overwritten by device 1's "
            f"{p3!r}; the phone's conflict records (discarded, kept, loser, rule): {phones}"
        )
    server = view.index[("account", account)]
    if server.data.get("phone") != p3:
        problems.append(f"{where} the server holds phone {server.data.get('phone')!r}, not {p3!r}")
    for device in (d1, d2):
        local = device.client.get("account", account)
        assert local is not None
        if (local.version, local.get("phone")) != (server.version, server.data.get("phone")):
            problems.append(
                f"{where} {device.label} holds v{local.version} phone {local.get('phone')!r}; "
                f"the server v{server.version} phone {server.data.get('phone')!r}"
            )
    return problems


@pytest.mark.parametrize("variant", ["separate_pull", "pull_in_push"])
def test_replay_edit_after_a_lost_pull_logs_the_value_it_overwrites(
    store: Store, tmp_path: Path, variant: str
) -> None:
    """``separate_pull``: device 1 has never pushed, so it pulls with a GET after its push (the
    SDK asks for the page inside the push only once the server said it answers one); the proxy
    drops the answers of those GETs. ``pull_in_push``: device 1 asks for the page inside the
    push, so the pull's answer is the push's; the proxy drops it after the server applied it.
    Both orders of device 2's sync run, on two reps' pairs of tablets."""
    net = RealNetwork(_settings(store), tmp_path, seed=2)
    try:
        pairs = {
            "d2_first": (
                net.add_device("n1a", "rep_n1", login=True),
                net.add_device("n1b", "rep_n1"),
            ),
            "d1_first": (net.add_device("n2a", "rep_n2"), net.add_device("n2b", "rep_n2")),
        }
        for device in net.devices:
            net.sync(device)
        problems: list[str] = []
        for order, (d1, d2) in pairs.items():
            account = net.world.accounts[d1.username[-2:].upper()][0]
            problems += _lost_pull_then_concurrent_edit(net, d1, d2, account, variant, order)
        problems += net.problems()
        _fail_with(net, f"lost pull ({variant}, {store.kind})", problems)
    finally:
        net.close()


def _interleavings() -> list[tuple[str, ...]]:
    """Every order of defect (b)'s events: device 1 edits (E1), syncs losing the pull (S1),
    maybe syncs losing it again (R), edits again (E3) and syncs (Y1); device 2 edits (E2),
    after device 1's first edit, and syncs (Y2) anywhere after that."""
    out = []
    for retry in (False, True):
        d1 = ["E1", "S1", *(["R"] if retry else []), "E3", "Y1"]
        for i in range(1, len(d1) + 1):
            for j in range(i, len(d1) + 1):
                out.append((*d1[:i], "E2", *d1[i:j], "Y2", *d1[j:]))
    return out


@pytest.mark.skipif(not SOAK, reason="soak run: set FIELDLINE_SOAK=1 (make soak)")
@pytest.mark.parametrize("variant", ["separate_pull", "pull_in_push"])
def test_soak_lost_pull_in_every_interleaving_converges(
    store: Store, tmp_path: Path, variant: str
) -> None:
    """Defect (b)'s events in every order, each on its own account and pair of tablets; then
    every tablet syncs twice and all the invariants are checked."""
    schedules = _interleavings()
    net = RealNetwork(_settings(store), tmp_path, seed=3, accounts_per_territory=20)
    lost = frozenset({PULL_PATH if variant == "separate_pull" else PUSH_PATH})
    legend = []
    try:
        for n, schedule in enumerate(schedules):
            username, territory = ("rep_n1", "N1") if n % 2 == 0 else ("rep_n2", "N2")
            d1 = net.add_device(f"a{n}", username, login=n == 0)
            d2 = net.add_device(f"b{n}", username)
            account = net.world.accounts[territory][n // 2]
            legend.append(f"a{n}/b{n} account {account[-8:]}: {' '.join(schedule)}")
            net.sync(d1)
            net.sync(d2)
            if variant == "pull_in_push":
                d1.client.edit_account(net.world.accounts[territory][-1], notes=f"warm-up {n}")
                net.sync(d1)
            for event in schedule:
                time.sleep(0.005)  # each edit stamped after the one before
                try:
                    if event == "E1":
                        d1.client.edit_account(account, phone=f"+49 40 1{n}")
                    elif event == "E2":
                        d2.client.edit_account(account, phone=f"+49 40 2{n}")
                    elif event == "E3":
                        d1.client.edit_account(account, phone=f"+49 40 3{n}")
                    elif event in ("S1", "R"):
                        net.sync(d1, NetFaults(drop=1.0, paths=lost))
                    elif event == "Y1":
                        net.sync(d1)
                    else:
                        net.sync(d2)
                except NetworkUnavailable:
                    pass
        _settle(net, *net.devices)
        problems = net.problems()
        _fail_with(
            net,
            f"lost pull, every interleaving ({variant}, {store.kind})",
            [*problems, "--- tablets, account, events:", *legend] if problems else [],
        )
    finally:
        net.close()
