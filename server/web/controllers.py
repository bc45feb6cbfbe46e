"""``/manager``: server-rendered pages for regional managers (and admins), signed in with the
same accounts as the API. The session is the access token in an HttpOnly, SameSite=Strict
cookie (so no other site can make the browser send it with a form), renewed from a refresh
token kept in a second cookie scoped to ``/manager``."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import service as auth_service
from server.auth.middleware import SESSION_COOKIE
from server.auth.models import Role
from server.auth.principal import Principal
from server.errors import BadRequest, FieldlineError, Forbidden, NotFound, RateLimited, Unauthorized
from server.forecasting import service as forecasting
from server.forecasting.pipeline import CATEGORIES
from server.targets import service as targets_service
from server.targets.service import MAX_AMOUNT, TARGET_SCOPES, parse_month
from server.targets.zones import display_zone
from server.web import pages
from server.web import region as region_pages
from server.web.charts import bar_chart, forecast_chart, pace_chart
from server.web.formatting import LOCALES, Formatter, InputError, formatter_for
from server.web.templating import STATIC_DIR

__all__ = ["ManagerController", "manager_handlers"]

REFRESH_COOKIE = "fieldline_refresh"
LOCALE_COOKIE = "fieldline_locale"
DEVICE_COOKIE = "fieldline_device"
"""Names the browser's device, so signing in again in the same browser reuses it."""
WEB_DEVICE = "manager-web"
"""The one device a manager's browsers sign in on (reused by every later sign-in)."""
_PAGE_ROLES = (Role.MANAGER, Role.ADMIN)
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def _principal(request: Request[Any, Any, Any]) -> Principal | None:
    user = request.scope.get("user")
    return user if isinstance(user, Principal) else None


def _locale_tag(request: Request[Any, Any, Any]) -> str:
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in LOCALES:
        return chosen
    configured: str = request.app.state.settings.locale
    return configured


async def _formatter(
    request: Request[Any, Any, Any], db: AsyncSession, region_id: str | None
) -> Formatter:
    zone = await display_zone(db, request.app.state.settings, region_id)
    return formatter_for(_locale_tag(request), zone)


def _plain_formatter(request: Request[Any, Any, Any]) -> Formatter:
    zone = request.app.state.settings.timezone or "UTC"
    return formatter_for(_locale_tag(request), zone)


def _month_choice(text: str | None, fmt: Formatter, now: datetime) -> tuple[date, str | None]:
    """The month asked for, or this month with a message saying why the asked one was not
    taken (a filter never turns into an error page)."""
    local = now.astimezone(fmt.zone)
    current = date(local.year, local.month, 1)
    if not text:
        return current, None
    try:
        return parse_month(text), None
    except BadRequest:
        return current, f"“{text}” is not a month (YYYY-MM, 2000–2100); showing this month."


def _session_cookies(
    request: Request[Any, Any, Any], access: str, refresh: str, ttl_s: int
) -> list[Cookie]:
    secure = request.url.scheme == "https"
    return [
        Cookie(
            key=SESSION_COOKIE,
            value=access,
            path="/",
            httponly=True,
            samesite="strict",
            secure=secure,
            max_age=ttl_s,
        ),
        Cookie(
            key=REFRESH_COOKIE,
            value=refresh,
            path="/manager",
            httponly=True,
            samesite="strict",
            secure=secure,
            max_age=30 * 24 * 3600,
        ),
    ]


def _expired_cookies() -> list[Cookie]:
    return [
        Cookie(key=SESSION_COOKIE, value="", path="/", max_age=0, httponly=True, samesite="strict"),
        Cookie(
            key=REFRESH_COOKIE,
            value="",
            path="/manager",
            max_age=0,
            httponly=True,
            samesite="strict",
        ),
    ]


def _page(
    name: str, request: Request[Any, Any, Any], status_code: int = 200, **context: Any
) -> Template:
    return Template(
        template_name=name,
        context={
            "viewer": _principal(request),
            "path": request.url.path,
            "query": request.query_params,
            "fmt": context.pop("fmt", None) or _plain_formatter(request),
            "locale_tag": _locale_tag(request),
            **context,
        },
        status_code=status_code,
    )


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, Unauthorized):
        return Redirect(f"/manager/login?next={quote(request.url.path)}")
    status = exc.status if isinstance(exc, FieldlineError) else 500
    titles = {403: "Not for your role", 404: "Not found"}
    detail = exc.detail if isinstance(exc, FieldlineError) else "Something went wrong on our side."
    if status == 404:
        detail = "This page does not exist, or it is outside your region."
    response: Response[Any] = _page(
        "error.html",
        request,
        status_code=status,
        status=status,
        title=titles.get(status, "Error"),
        detail=detail,
    )
    return response


async def _viewer(request: Request[Any, Any, Any], db: AsyncSession) -> Principal | Response[Any]:
    """The signed-in manager or admin; otherwise the response to send instead (a renewed
    session, the login page, or the 403 page for other roles)."""
    principal = _principal(request)
    if principal is None:
        refresh = request.cookies.get(REFRESH_COOKIE)
        if refresh:
            settings = request.app.state.settings
            try:
                result = await auth_service.refresh(
                    db, settings, refresh_token=refresh, ip=_client_ip(request)
                )
            except Unauthorized:
                pass
            else:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return Redirect(
                    target,
                    cookies=_session_cookies(
                        request,
                        result.access_token,
                        result.refresh_token,
                        settings.access_token_ttl_s,
                    ),
                )
        return Redirect(f"/manager/login?next={quote(request.url.path)}")
    if principal.role not in _PAGE_ROLES:
        return _page(
            "error.html",
            request,
            status_code=403,
            status=403,
            title="Not for your role",
            detail="The manager pages are for regional managers and admins. "
            "Reps use the Fieldline app.",
        )
    return principal


def _back(target: str | None, fallback: str = "/manager") -> str:
    # Only ever back into the manager pages: never an open redirect.
    if target and target.startswith("/manager") and not target.startswith("//"):
        return target
    return fallback


def _with_notice(path: str, **params: str) -> str:
    separator = "&" if "?" in path else "?"
    return f"{path}{separator}{urlencode(params)}"


class ManagerController(Controller):
    path = "/manager"
    include_in_schema = False
    exception_handlers = {FieldlineError: _error_page}  # noqa: RUF012

    @get("/login", opt={"public": True})
    async def login_page(
        self, request: Request[Any, Any, Any], next: str | None = None
    ) -> Response[Any]:
        principal = _principal(request)
        if principal is not None and principal.role in _PAGE_ROLES:
            return Redirect(_back(next))
        return _page("login.html", request, next=_back(next), error=None)

    @post("/login", opt={"public": True}, status_code=303)
    async def login(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: Form
    ) -> Response[Any]:
        settings = request.app.state.settings
        username, password = data.get("username", "").strip(), data.get("password", "")
        target = _back(data.get("next"))
        try:
            result = await auth_service.login(
                db,
                settings,
                username=username,
                password=password,
                device_name=WEB_DEVICE,
                device_id=request.cookies.get(DEVICE_COOKIE) or None,
                ip=_client_ip(request),
                roles=_PAGE_ROLES,
                reuse_named_device=True,
            )
        except RateLimited as exc:
            return _page(
                "login.html",
                request,
                status_code=429,
                next=target,
                error=exc.detail,
                username=username,
            )
        except Unauthorized:
            return _page(
                "login.html",
                request,
                status_code=401,
                next=target,
                error="Wrong username or password.",
                username=username,
            )
        except Forbidden:
            # Checked before any device or session exists: the answer carries no cookie.
            return _page(
                "error.html",
                request,
                status_code=403,
                status=403,
                title="Not for your role",
                detail="The manager pages are for regional managers and admins. "
                "Reps use the Fieldline app.",
            )
        cookies = _session_cookies(
            request, result.access_token, result.refresh_token, settings.access_token_ttl_s
        )
        cookies.append(
            Cookie(
                key=DEVICE_COOKIE,
                value=result.device_id,
                path="/manager",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                max_age=365 * 24 * 3600,
            )
        )
        return Redirect(target, status_code=303, cookies=cookies)

    @get("/locale", opt={"public": True})
    async def set_locale(
        self, request: Request[Any, Any, Any], to: str = "", next: str | None = None
    ) -> Response[Any]:
        back = _back(next)
        if to not in LOCALES:
            return Redirect(_with_notice(back, error=f"No language “{to}” here."))
        return Redirect(
            back,
            cookies=[
                Cookie(
                    key=LOCALE_COOKIE,
                    value=to,
                    path="/manager",
                    samesite="lax",
                    max_age=365 * 24 * 3600,
                )
            ],
        )

    @post("/logout", opt={"public": True}, status_code=303)
    async def logout(self, request: Request[Any, Any, Any], db: AsyncSession) -> Response[Any]:
        principal = _principal(request)
        if principal is not None and principal.device_id is not None:
            await auth_service.logout(db, principal, ip=_client_ip(request))
        return Redirect("/manager/login", status_code=303, cookies=_expired_cookies())

    @get("/", opt={"public": True})
    async def overview(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        region: str | None = None,
        month: str | None = None,
        sort: str = "status",
        order: str = "asc",
    ) -> Response[Any]:
        viewer = await _viewer(request, db)
        if not isinstance(viewer, Principal):
            return viewer
        region_id = await pages.pick_region(db, viewer, region)
        fmt = await _formatter(request, db, region_id)
        now = datetime.now(UTC)
        the_month, notice = _month_choice(month, fmt, now)
        if sort not in pages.REP_SORTS:
            notice, sort = f"The reps table cannot be sorted by “{sort}”.", "status"
        overview = await pages.region_overview(
            db,
            viewer,
            region_id,
            month=the_month,
            now=now,
            zone=fmt.zone,
            sort=sort,
            descending=order == "desc",
            holidays=request.app.state.settings.holidays,
        )
        charts = _charts(overview.chart_points, overview.targets, fmt)
        return _page(
            "overview.html",
            request,
            o=overview,
            categories=CATEGORIES,
            nav="overview",
            fmt=fmt,
            notice=notice,
            sort=sort,
            order="desc" if order == "desc" else "asc",
            month=the_month,
            charts=charts,
        )

    @get("/reps/{rep_id:str}", opt={"public": True})
    async def rep(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        rep_id: str,
        month: str | None = None,
    ) -> Response[Any]:
        viewer = await _viewer(request, db)
        if not isinstance(viewer, Principal):
            return viewer
        fmt = await _formatter(request, db, viewer.region_id)
        now = datetime.now(UTC)
        the_month, notice = _month_choice(month, fmt, now)
        page = await pages.rep_page(
            db,
            viewer,
            rep_id,
            month=the_month,
            now=now,
            zone=fmt.zone,
            fmt=fmt,
            holidays=request.app.state.settings.holidays,
        )
        if page.scope.region_id and page.scope.region_id != viewer.region_id:
            fmt = await _formatter(request, db, page.scope.region_id)
        charts = _charts(page.chart_points, page.targets, fmt, rep_id=rep_id)
        return _page(
            "rep.html",
            request,
            r=page,
            nav="overview",
            fmt=fmt,
            notice=notice,
            month=the_month,
            charts=charts,
        )

    @get("/sync", opt={"public": True})
    async def sync_health(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        region: str | None = None,
        hours: str | None = None,
    ) -> Response[Any]:
        viewer = await _viewer(request, db)
        if not isinstance(viewer, Principal):
            return viewer
        settings = request.app.state.settings
        threshold, notice = settings.offline_after_h, None
        if hours:
            try:
                threshold = int(hours)
                if not 1 <= threshold <= 24 * 60:
                    raise ValueError(hours)
            except ValueError:
                threshold = settings.offline_after_h
                notice = (
                    f"“{hours}” is not a number of hours from 1 to 1440; showing {threshold} h."
                )
        if region and viewer.role is Role.ADMIN:
            await pages.pick_region(db, viewer, region)  # an unknown region is the 404 page
        page = await pages.sync_page(
            db, viewer, region, now=datetime.now(UTC), threshold_h=threshold
        )
        fmt = await _formatter(request, db, page.region.id if page.region else viewer.region_id)
        return _page("sync.html", request, s=page, nav="sync", fmt=fmt, notice=notice)

    @get("/orders", opt={"public": True})
    async def orders(
        self, request: Request[Any, Any, Any], db: AsyncSession, region: str | None = None
    ) -> Response[Any]:
        return await _region_page(request, db, region, "orders")

    @get("/visits", opt={"public": True})
    async def visits(
        self, request: Request[Any, Any, Any], db: AsyncSession, region: str | None = None
    ) -> Response[Any]:
        return await _region_page(request, db, region, "visits")

    @get("/tickets", opt={"public": True})
    async def tickets(
        self, request: Request[Any, Any, Any], db: AsyncSession, region: str | None = None
    ) -> Response[Any]:
        return await _region_page(request, db, region, "tickets")

    @post("/targets", opt={"public": True}, status_code=303)
    async def set_target(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: Form
    ) -> Response[Any]:
        viewer = await _viewer(request, db)
        if not isinstance(viewer, Principal):
            return viewer
        back = _back(data.get("back"))
        fmt = await _formatter(request, db, viewer.region_id)
        kind, _, scope_id = data.get("scope", "").partition(":")
        if kind not in TARGET_SCOPES or not scope_id:
            return Redirect(
                _with_notice(back, error="Choose the rep, territory or region the target is for."),
                status_code=303,
            )
        try:
            month = parse_month(data.get("month", ""))
        except BadRequest:
            return Redirect(
                _with_notice(back, error="Choose a month between 2000 and 2100."), status_code=303
            )
        try:
            amount = fmt.parse_amount(data.get("amount", ""), maximum=MAX_AMOUNT)
        except InputError as exc:
            return Redirect(_with_notice(back, error=str(exc)), status_code=303)
        try:
            await targets_service.set_target(
                db, viewer, scope_type=kind, scope_id=scope_id, month=month, amount=amount
            )
        except NotFound:
            return Redirect(
                _with_notice(back, error="That rep, territory or region is not in your region."),
                status_code=303,
            )
        return Redirect(_with_notice(back, target_saved="1"), status_code=303)

    @post("/forecasts/adjust", opt={"public": True}, status_code=303)
    async def adjust(
        self, request: Request[Any, Any, Any], db: AsyncSession, data: Form
    ) -> Response[Any]:
        viewer = await _viewer(request, db)
        if not isinstance(viewer, Principal):
            return viewer
        back = _back(data.get("back"))
        fmt = await _formatter(request, db, viewer.region_id)
        try:
            # Read as the page wrote it: "125.000" on a German page is 125,000.
            value = fmt.parse_amount(data.get("value", ""), maximum=MAX_AMOUNT)
        except InputError as exc:
            return Redirect(_with_notice(back, error=str(exc)), status_code=303)
        if not data.get("reason", "").strip():
            return Redirect(
                _with_notice(back, error="Say why: an adjustment needs a reason."), status_code=303
            )
        try:
            await forecasting.add_adjustment(
                db, viewer, data.get("forecast_id", ""), value=value, reason=data["reason"]
            )
        except NotFound:
            return Redirect(
                _with_notice(back, error="That forecast is not in your region."), status_code=303
            )
        return Redirect(_with_notice(back, saved="1"), status_code=303)


async def _region_page(
    request: Request[Any, Any, Any], db: AsyncSession, region: str | None, kind: str
) -> Response[Any]:
    """Orders, visits or tickets of a region; filters come from the query string and any that
    cannot be used is named on the page and left out."""
    viewer = await _viewer(request, db)
    if not isinstance(viewer, Principal):
        return viewer
    region_id = await pages.pick_region(db, viewer, region)
    fmt = await _formatter(request, db, region_id)
    now = datetime.now(UTC)
    q = request.query_params
    filters = await region_pages.parse_filters(
        db,
        viewer,
        region_id,
        zone=fmt.zone,
        now=now,
        territory=q.get("territory"),
        rep=q.get("rep"),
        start=q.get("from"),
        end=q.get("to"),
        days=q.get("days"),
    )
    week_labels = [fmt.short_day(w) for w in filters.weeks]
    context: dict[str, Any] = {"f": filters, "regions": []}
    if viewer.role is Role.ADMIN:
        context["regions"] = await pages.region_choices(db)
    labels: list[str] = week_labels
    step = 1.0  # visits and tickets are counted: whole-number steps
    if kind == "orders":
        report: Any = await region_pages.orders_report(db, viewer, filters, now)
        series, value, wide, step = report.by_week, (lambda v: fmt.money(v, True)), 1100, 0.0
    elif kind == "visits":
        report = await region_pages.visits_report(db, viewer, filters, now)
        series, value, wide = report.by_week, fmt.count, 560
    else:
        report = await region_pages.tickets_report(db, viewer, filters, now)
        labels = [label for label, _ in region_pages.AGE_BUCKETS]
        series, value, wide = report.by_age, fmt.count, 560
    # Wide for a desk, narrow for a phone (CSS shows one): the text keeps its size.
    chart = {
        "wide": bar_chart(
            labels,
            series,
            value=value,
            width=wide,
            height=260,
            label_every=max(1, math.ceil(len(labels) / (14 if wide >= 1000 else 7))),
            min_step=step,
        ),
        "narrow": bar_chart(
            labels,
            series,
            value=value,
            width=360,
            height=240,
            label_every=max(1, math.ceil(len(labels) / 4)),
            min_step=step,
        ),
    }
    if kind == "orders":
        context["uptake_chart"] = {
            name: bar_chart(
                week_labels,
                {"suggested": report.uptake.by_week},
                value=lambda v: fmt.money(v, True),
                width=width,
                height=height,
                label_every=max(1, math.ceil(len(week_labels) / every)),
            )
            for name, width, height, every in (("wide", 1100, 220, 14), ("narrow", 360, 200, 4))
        }
    return _page(
        f"{kind}.html",
        request,
        nav=kind,
        fmt=fmt,
        r=report,
        chart=chart,
        notice=" ".join(filters.messages) or None,
        **context,
    )


def _charts(points: Any, targets: Any, fmt: Formatter, rep_id: str | None = None) -> dict[str, Any]:
    """Each chart twice: wide for a desk, narrow for a phone (CSS shows one), so the text in
    the SVG stays readable when the browser scales it to the screen."""
    out: dict[str, Any] = {}
    money = lambda v: fmt.money(v, True)  # noqa: E731
    out["forecast"] = forecast_chart(points, money=money, month=fmt.month)
    out["forecast_narrow"] = forecast_chart(
        points, width=380, height=260, money=money, month=fmt.month
    )
    if targets is not None:
        line = targets.region if rep_id is None else targets.reps.get(rep_id)
        if line is not None:
            days = pages.month_days(targets.month)
            actual = [c[1] for c in line.cumulative]
            expected = pages.expected_curve(targets, line.pace.target)
            # The rep page gives the pace chart the card's whole width; the overview half.
            wide = 1100 if rep_id is not None else 560
            for name, width, height in (("pace", wide, 260), ("pace_narrow", 360, 240)):
                out[name] = pace_chart(
                    days,
                    actual,
                    expected,
                    line.pace.target,
                    money=money,
                    day_label=fmt.short_day,
                    width=width,
                    height=height,
                )
    return out


def manager_handlers() -> list[Any]:
    return [
        ManagerController,
        create_static_files_router(
            path="/manager/static",
            directories=[STATIC_DIR],
            opt={"public": True},
            include_in_schema=False,
        ),
    ]
