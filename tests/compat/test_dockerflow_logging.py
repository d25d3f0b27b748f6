"""python-dockerflow's logging tests, against ``healthd.logging``.

Source: mozilla-services/python-dockerflow ``tests/core/test_logging.py``, its latest
version (``MozlogFormatter``, ``MozlogHandler``, ``JsonLogFormatter`` deprecated) and,
where marked, the earlier version whose formatter was ``JsonLogFormatter`` (commit
033310f). The formatter under test is ``healthd.logging.MozlogFormatter`` (the earlier
version's ini test names ``JsonLogFormatter``, the same formatter, deprecated as in
dockerflow).
Adapted setup: dockerflow reloaded the ``logging`` module around each test; here the
root logger's handlers and level are put back instead, and the mozlog JSON schema is
checked by a small function rather than jsonschema (not a dependency).
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import textwrap

import pytest

import healthd.logging as healthd_logging
from healthd.logging import JsonLogFormatter, MozlogFormatter

LOGGER_NAME = "tests"


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def formatter():
    return MozlogFormatter(logger_name=LOGGER_NAME)


def _field_value_ok(value) -> bool:
    return isinstance(value, str | int | float | bool)


def _field_array_ok(value) -> bool:
    if not isinstance(value, list) or not value:
        return False
    kinds = ({str}, {int, float}, {bool})
    return any(all(type(v) in kind for v in value) for kind in kinds)


def integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def assert_mozlog_schema(details) -> None:
    """The mozlog JSON schema dockerflow's test validates against (JSON_LOGGING_SCHEMA)."""
    assert isinstance(details, dict)
    assert "Timestamp" in details
    assert integer(details["Timestamp"]) and details["Timestamp"] >= 0
    for key in ("Type", "Logger", "Hostname"):
        if key in details:
            assert isinstance(details[key], str)
    if "EnvVersion" in details:
        assert re.fullmatch(r"\d+(?:\.\d+){0,2}", details["EnvVersion"])
    if "Severity" in details:
        assert integer(details["Severity"]) and 0 <= details["Severity"] <= 7
    if "Pid" in details:
        assert integer(details["Pid"]) and details["Pid"] >= 0
    if "Fields" in details:
        fields = details["Fields"]
        assert isinstance(fields, dict) and len(fields) >= 1
        for name, value in fields.items():
            as_object = (isinstance(value, dict) and "value" in value
                         and (_field_value_ok(value["value"]) or _field_array_ok(value["value"]))
                         and isinstance(value.get("representation", ""), str))
            assert _field_value_ok(value) or _field_array_ok(value) or as_object, (name, value)


def assert_records(formatter, records):
    assert len(records) == 1
    details = json.loads(formatter.format(records[0]))
    assert_mozlog_schema(details)
    return details


# test_logging.py::test_initialization_from_ini (the earlier version, JsonLogFormatter)
def test_initialization_from_ini_with_the_formatter(tmp_path):
    ini_content = textwrap.dedent(
        """
    [loggers]
    keys = root

    [handlers]
    keys = console

    [formatters]
    keys = json

    [logger_root]
    level = INFO
    handlers = console

    [handler_console]
    class = StreamHandler
    level = DEBUG
    args = (sys.stderr,)
    formatter = json

    [formatter_json]
    class = healthd.logging.JsonLogFormatter
    """
    )
    ini_file = tmp_path / "logging.ini"
    ini_file.write_text(ini_content)
    logging.config.fileConfig(str(ini_file), disable_existing_loggers=False)
    logging.info("I am logging in mozlog format now! woo hoo!")
    logger = logging.getLogger()
    assert len(logger.handlers) > 0
    assert logger.handlers[0].formatter.logger_name == "Dockerflow"


# test_logging.py::test_initialization_from_ini (latest version, MozlogHandler)
def test_initialization_from_ini(tmp_path):
    ini_content = textwrap.dedent(
        """
    [loggers]
    keys = root

    [handlers]
    keys = console

    [formatters]
    keys =

    [logger_root]
    level = INFO
    handlers = console

    [handler_console]
    level = DEBUG
    class = healthd.logging.MozlogHandler
    args = (sys.stdout, 'tests')
    """
    )
    ini_file = tmp_path / "logging.ini"
    ini_file.write_text(ini_content)
    logging.config.fileConfig(str(ini_file), disable_existing_loggers=False)
    logger = logging.getLogger()
    assert len(logger.handlers) > 0
    assert logger.handlers[0].logger_name == LOGGER_NAME
    assert isinstance(logger.handlers[0].formatter, healthd_logging.MozlogFormatter)


# test_logging.py::test_set_logger_name_through_handler
def test_set_logger_name_through_handler(caplog):
    logger_name = "logger_name_handler"
    handler = healthd_logging.MozlogHandler(name="logger_name_handler")
    logger = logging.getLogger("test")
    logger.addHandler(handler)
    try:
        logger.warning("hey")
    finally:
        logger.removeHandler(handler)
    [record] = caplog.records
    assert record.logger_name == logger_name
    formatted_record = json.loads(handler.format(record))
    assert formatted_record["Logger"] == logger_name


# test_logging.py::test_set_logger_name_through_formatter
def test_set_logger_name_through_formatter(caplog):
    logger_name = "logger_name_formatter"
    handler = logging.StreamHandler()
    handler.setFormatter(MozlogFormatter(logger_name=logger_name))
    logger = logging.getLogger("test")
    logger.addHandler(handler)
    try:
        logger.warning("hey")
    finally:
        logger.removeHandler(handler)
    [record] = caplog.records
    assert not hasattr(record, "logger_name")
    formatted_record = json.loads(handler.format(record))
    assert formatted_record["Logger"] == logger_name


# test_logging.py::test_handler_precedence_logger_name
def test_handler_precedence_logger_name(caplog):
    logger_name = "logger_name_handler"
    handler = healthd_logging.MozlogHandler(name=logger_name)
    handler.setFormatter(healthd_logging.MozlogFormatter(logger_name="logger_name_formatter"))
    logger = logging.getLogger("test")
    logger.addHandler(handler)
    try:
        logger.warning("hey")
    finally:
        logger.removeHandler(handler)
    [record] = caplog.records
    assert record.logger_name == logger_name
    formatted_record = json.loads(handler.format(record))
    assert formatted_record["Logger"] == logger_name


# test_logging.py::test_basic_operation
def test_basic_operation(caplog, formatter):
    message_text = "simple test"
    caplog.set_level(logging.DEBUG)
    logging.debug(message_text)
    details = assert_records(formatter, caplog.records)

    assert details == formatter.convert_record(caplog.records[0])

    assert "Timestamp" in details
    assert "Hostname" in details
    assert details["Severity"] == 7
    assert details["Type"] == "root"
    assert details["Pid"] == os.getpid()
    assert details["Logger"] == LOGGER_NAME
    assert details["EnvVersion"] == formatter.LOGGING_FORMAT_VERSION
    assert details["Fields"]["msg"] == message_text


# test_logging.py::test_custom_paramters
def test_custom_paramters(caplog, formatter):
    logger = logging.getLogger("tests.test_logging")
    logger.warning("custom test %s", "one", extra={"more": "stuff"})
    details = assert_records(formatter, caplog.records)
    assert details == formatter.convert_record(caplog.records[0])

    assert details["Type"] == "tests.test_logging"
    assert details["Severity"] == 4
    assert details["Fields"]["msg"] == "custom test one"
    assert details["Fields"]["more"] == "stuff"


# test_logging.py::test_non_json_serializable_parameters_are_converted
def test_non_json_serializable_parameters_are_converted(caplog, formatter):
    foo = object()
    foo_repr = repr(foo)
    logger = logging.getLogger("tests.test_logging")
    logger.warning("custom test %s", "hello", extra={"foo": foo})
    details = assert_records(formatter, caplog.records)

    assert details["Type"] == "tests.test_logging"
    assert details["Severity"] == 4
    assert details["Fields"]["msg"] == "custom test hello"
    assert details["Fields"]["foo"] == foo_repr


def _log_an_exception(message: str = "there was an error", **kwargs) -> None:
    try:
        raise ValueError("\n")
    except Exception:
        logging.exception(message, **kwargs)


# test_logging.py::test_logging_error_tracebacks (all but the traceback's first words)
def test_logging_error_tracebacks(caplog, formatter):
    _log_an_exception()
    details = assert_records(formatter, caplog.records)

    assert details["Severity"] == 3
    assert details["Fields"]["msg"] == "there was an error"
    assert details["Fields"]["error"].startswith("ValueError('\\n'")
    assert "ValueError" in details["Fields"]["traceback"]


# test_logging.py::test_logging_error_tracebacks (the traceback's first words)
def test_logging_error_traceback_text(caplog, formatter):
    _log_an_exception()
    details = assert_records(formatter, caplog.records)
    assert details["Fields"]["traceback"].startswith("Uncaught exception:")


# test_logging.py::test_logging_exc_info_false
def test_logging_exc_info_false(caplog, formatter):
    _log_an_exception(exc_info=False)
    details = assert_records(formatter, caplog.records)

    assert details["Severity"] == 3
    assert details["Fields"]["msg"] == "there was an error"
    assert "error" not in details["Fields"]
    assert "traceback" not in details["Fields"]


# test_logging.py::test_ignore_json_message (the record)
def test_ignore_json_message(caplog, formatter):
    _log_an_exception(json.dumps({"spam": "eggs"}))
    details = assert_records(formatter, caplog.records)
    assert "msg" not in details["Fields"]


# test_logging.py::test_ignore_json_message (the formatter's is_value_jsonlike)
def test_is_value_jsonlike(formatter):
    assert formatter.is_value_jsonlike('{"spam": "eggs"}')
    assert not formatter.is_value_jsonlike('{"spam": "eggs"')
    assert not formatter.is_value_jsonlike('"spam": "eggs"}')


# test_logging.py::test_JsonLogFormatter_emits_warning
def test_JsonLogFormatter_emits_warning():
    with pytest.deprecated_call():
        JsonLogFormatter(logger_name="deprecated")
