"""Every request in SQLite: a batched writer behind a bounded queue, queries, feedback.

store = await open_store(data_dir, LogSettings(...))   # start-up
recorders.append(store.recorder)                       # told about each finished request
add_routes(app.router, store)                          # proxy.admin_logs
await store.close()                                    # shutdown: drains the queue
"""

from proxy.logstore.models import Analytics, FeedbackEntry, LogEntry, LogPage
from proxy.logstore.query import LogFilter, QueryError, filter_from_params
from proxy.logstore.settings import LogSettings, Price
from proxy.logstore.store import LogRecorder, LogStore, open_store
from proxy.logstore.writer import StoreClosed

__all__ = [
    "Analytics",
    "FeedbackEntry",
    "LogEntry",
    "LogFilter",
    "LogPage",
    "LogRecorder",
    "LogSettings",
    "LogStore",
    "Price",
    "QueryError",
    "StoreClosed",
    "filter_from_params",
    "open_store",
]
