"""The Celery side of descent: settings, the app, the Redis job store and the ``run_job`` task.

Import ``worker.app`` / ``worker.tasks`` only where Celery is wanted; the store and settings are
light.
"""

from worker.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
