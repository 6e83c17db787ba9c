"""Installed sandbox portals (tests/access/kit.py) and the databases (tests/dbfixtures.py) for the
queue's tests; the Redis server is the local one (B24APP_TEST_REDIS_URL, default database 0), each
test on a queue name of its own."""

from tests.access.kit import app_store, b24_env, cli_env, kit, sandbox, settings  # noqa: F401 (fixtures)
from tests.queue.workerkit import backend, jobs, portal, redis_url, workers  # noqa: F401 (fixtures)
