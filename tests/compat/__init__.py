"""The peers' own tests, ported: python-dockerflow, django-watchman and django-status.

Each test names the peer's source file and test it comes from. The peer's expectations
(status codes, keys, messages, headers) are kept verbatim; only the setup is adapted to
healthd's model, where a check runs in a worker and the views read its stored result: a
peer test that ran a check inline records a result for that check, then asks the view.
An expectation healthd does not meet is an ``xfail(strict=True, raises=…)`` naming the
difference and the exception it raises, so it cannot pass as expected for another reason.

healthd's own tests of each dialect sit in the folder named after it: ``dockerflow/``,
``watchman/``, ``status/``.
"""
