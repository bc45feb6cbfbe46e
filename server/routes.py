"""Every route handler the app serves, by area. One line per area: add yours here."""

from __future__ import annotations

from typing import Any

from server.health.api import HealthController

__all__ = ["api_handlers", "root_handlers"]


def api_handlers() -> list[Any]:
    """Handlers mounted under /api/v1 (authentication required unless opt={"public": True})."""
    from server.accounts.api import AccountController, ContactController
    from server.attachments.api import AttachmentController
    from server.auth.api import ApiKeyController, AuthController
    from server.backoffice.api import BackofficeController
    from server.catalog.api import PriceListController, ProductController
    from server.devices.api import DeviceController
    from server.forecasting.api import ForecastController
    from server.leads.api import LeadController, RegionRulesController
    from server.opportunities.api import OpportunityController
    from server.orders.api import OrderController
    from server.org.api import RegionController, TerritoryController
    from server.privacy.api import ConsentController, PrivacyController
    from server.suggestions.api import SuggestionController
    from server.sync.api import SyncController
    from server.targets.api import TargetController
    from server.tickets.api import TicketController
    from server.users.api import UserController
    from server.visits.api import VisitController

    return [
        AuthController,
        ApiKeyController,
        DeviceController,
        UserController,
        AccountController,
        ContactController,
        ProductController,
        PriceListController,
        VisitController,
        OrderController,
        TicketController,
        OpportunityController,
        RegionController,
        TerritoryController,
        BackofficeController,
        SyncController,
        ForecastController,
        LeadController,
        RegionRulesController,
        TargetController,
        SuggestionController,
        PrivacyController,
        ConsentController,
        AttachmentController,
    ]


def root_handlers() -> list[Any]:
    """Handlers mounted at the root: probes, manager pages, static assets."""
    from server.metrics import MetricsController
    from server.web.controllers import manager_handlers

    return [HealthController, MetricsController, *manager_handlers()]
