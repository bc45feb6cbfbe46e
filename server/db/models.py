"""Imports every mapped class so ``Base.metadata`` is complete (Alembic, tests, create_all)."""

from server.accounts.models import Account, Contact
from server.attachments.models import Attachment
from server.audit.models import AuditEntry
from server.auth.models import ApiKey, Device, LoginAttempt, User
from server.backoffice.models import (
    FeedConsumer,
    IdempotencyRecord,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDispatchState,
    WebhookSubscription,
)
from server.catalog.models import Price, PriceList, Product
from server.db.base import Base
from server.forecasting.models import (
    Forecast,
    ForecastAdjustment,
    ForecastRun,
    ForecastScore,
    ForecastSeriesState,
    StageObservation,
)
from server.jobs.models import JobRun
from server.leads.models import AssignmentDecision, AssignmentRuleSet, Lead
from server.opportunities.models import Opportunity
from server.orders.models import Order, OrderLine
from server.org.models import Region, Territory
from server.privacy.models import ContactConsent, ErasedSubject, LeadConsent
from server.suggestions.models import Suggestion
from server.sync.models import (
    ChangeLog,
    ConflictRecord,
    DeviceSyncState,
    PushReceipt,
    QuarantinedMutation,
    SyncMeta,
    SyncRecord,
)
from server.targets.models import Target
from server.tickets.models import Ticket, TicketComment
from server.visits.models import Visit, VisitNote

__all__ = [
    "Account",
    "ApiKey",
    "AssignmentDecision",
    "AssignmentRuleSet",
    "Attachment",
    "AuditEntry",
    "Base",
    "ChangeLog",
    "ConflictRecord",
    "Contact",
    "ContactConsent",
    "Device",
    "DeviceSyncState",
    "ErasedSubject",
    "FeedConsumer",
    "Forecast",
    "ForecastAdjustment",
    "ForecastRun",
    "ForecastScore",
    "ForecastSeriesState",
    "IdempotencyRecord",
    "JobRun",
    "Lead",
    "LeadConsent",
    "LoginAttempt",
    "Opportunity",
    "Order",
    "OrderLine",
    "Price",
    "PriceList",
    "Product",
    "PushReceipt",
    "QuarantinedMutation",
    "Region",
    "StageObservation",
    "Suggestion",
    "SyncMeta",
    "SyncRecord",
    "Target",
    "Territory",
    "Ticket",
    "TicketComment",
    "User",
    "Visit",
    "VisitNote",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDispatchState",
    "WebhookSubscription",
]
