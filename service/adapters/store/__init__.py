"""The SQL store of osteoalert (CDS Hooks feedback, background alerts): SQLAlchemy 2 and Alembic.

engine = make_engine(settings.database_url)
upgrade_to_head(engine)                 # at start-up; migrations ship inside the package
feedback, alerts = SqlFeedbackStore(engine), SqlAlertStore(engine)
cards = SqlCardIndex(engine)            # card uuid -> rule id, for CDS Hooks feedback
"""

from service.adapters.store.alerts import SqlAlertStore
from service.adapters.store.cards import SqlCardIndex
from service.adapters.store.engine import make_engine, migrations_current, upgrade_to_head
from service.adapters.store.feedback import SqlFeedbackStore

__all__ = [
    "SqlAlertStore",
    "SqlCardIndex",
    "SqlFeedbackStore",
    "make_engine",
    "migrations_current",
    "upgrade_to_head",
]
