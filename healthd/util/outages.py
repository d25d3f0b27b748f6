"""What a backing service raises when it is away or refuses, named once.

Code that carries on without Redis, the database or the broker catches these and no
more, so that a bug still raises where it happens instead of passing for an outage.
"""

from __future__ import annotations

import amqp.exceptions
import kombu.exceptions
import redis
from django.db import DatabaseError, InterfaceError
from redis.exceptions import RedisClusterException

# redis-py's errors; its cluster client's own (no node answers, a slot not covered) do
# not derive from RedisError.
REDIS_ERRORS = (redis.RedisError, RedisClusterException)

# Django's wrappers of the driver's errors; a closed connection's InterfaceError is not a
# DatabaseError.
DATABASE_ERRORS = (DatabaseError, InterfaceError)

# Queueing a task with the broker away or refusing: kombu wraps most transport errors in
# its OperationalError; py-amqp's own (a refused login, a closed channel) and redis-py's
# reach the caller as they are; OSError for a socket error that gets past them.
BROKER_ERRORS = (kombu.exceptions.OperationalError, amqp.exceptions.AMQPError,
                 *REDIS_ERRORS, OSError)
