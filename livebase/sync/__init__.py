"""The reactive core: subscription index, query cache, sync sessions."""

from livebase.sync.engine import SyncEngine
from livebase.sync.query_cache import QueryCache, QueryInstance
from livebase.sync.session import Session
from livebase.sync.subscription_index import SubscriptionIndex

__all__ = ["QueryCache", "QueryInstance", "Session", "SubscriptionIndex", "SyncEngine"]
