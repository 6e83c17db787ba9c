"""The `batch` method: up to 50 sub-calls with `$result[...]` references, PHP-shaped result sections."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from b24app.sandbox.clock import time_block
from b24app.sandbox.phpform import parse_php_query
from b24app.sandbox.portal import Portal
from b24app.sandbox.rest_common import CallContext, Reply, RestError, is_true, param

MAX_COMMANDS = 50
REFERENCE = re.compile(r"\$result\[([^\]]*)\]((?:\[[^\]]*\])*)")
SEGMENT = re.compile(r"\[([^\]]*)\]")
PHP_INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")
_MISSING = object()

Dispatch = Callable[[Portal, str, dict, CallContext], Reply]


def php_key(key: object) -> int | str:
    """PHP array key: decimal integer strings become ints."""
    if isinstance(key, int):
        return key
    text = str(key)
    return int(text) if PHP_INT_KEY.match(text) else text


def php_array(section: dict) -> list | dict:
    """A PHP array as json_encode shows it: list when keyed 0..n-1 (or empty), else an object."""
    if list(section) == list(range(len(section))):
        return list(section.values())
    return {str(k): v for k, v in section.items()}


def _lookup(results: dict, key: str, path: str) -> object:
    node: object = results.get(php_key(key), _MISSING)
    for segment in SEGMENT.findall(path):
        if isinstance(node, dict):
            node = node.get(segment, node.get(php_key(segment), _MISSING))  # type: ignore[call-overload]
        elif isinstance(node, list) and PHP_INT_KEY.match(segment) and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return _MISSING
    return node


def _as_text(value: object) -> str:
    """PHP string conversion of a substituted value."""
    if isinstance(value, bool):
        return "1" if value else ""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return "Array"
    return str(value)


def _substitute(value: object, results: dict) -> object:
    """Replace `$result[key][path]` in string values; unresolvable references are left as written."""
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if not isinstance(value, str) or "$result" not in value:
        return value
    whole = REFERENCE.fullmatch(value)
    if whole is not None:
        found = _lookup(results, whole.group(1), whole.group(2))
        return value if found is _MISSING else found

    def replace(match: re.Match) -> str:
        found = _lookup(results, match.group(1), match.group(2))
        return match.group(0) if found is _MISSING else _as_text(found)

    return REFERENCE.sub(replace, value)


def run_batch(dispatch: Dispatch, portal: Portal, params: dict, ctx: CallContext) -> Reply:
    cmd = param(params, "cmd", {})
    if isinstance(cmd, list):
        commands = list(enumerate(cmd))
    elif isinstance(cmd, dict):
        commands = [(php_key(k), v) for k, v in cmd.items()]
    else:
        commands = []
    if len(commands) > MAX_COMMANDS:
        raise RestError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    halt = is_true(param(params, "halt", False))
    results: dict = {}
    errors: dict = {}
    totals: dict = {}
    nexts: dict = {}
    times: dict = {}
    for key, command in commands:
        start = time.time()
        method, _, query = str(command).partition("?")
        name = method.strip().lower().removesuffix(".json")
        try:
            if name == "batch":
                raise RestError(
                    405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"
                )
            if ctx.meter is not None:  # each inner call is checked against its own method's limit
                ctx.meter.check(name)
            sub_params = _substitute(parse_php_query(query), results)
            reply = dispatch(portal, method.strip(), sub_params, ctx)  # type: ignore[arg-type]
        except RestError as exc:
            errors[key] = {"error": exc.error, "error_description": exc.description}
            if halt:
                break
            continue
        results[key] = reply.result
        if reply.total is not None:
            totals[key] = reply.total
        if reply.next is not None:
            nexts[key] = reply.next
        seconds = time.time() - start
        operating, reset_at = ctx.meter.record(name, seconds) if ctx.meter is not None else (None, None)
        times[key] = time_block(start, seconds, portal.lang, operating=operating, operating_reset_at=reset_at)
    return Reply(
        {
            "result": php_array(results),
            "result_error": php_array(errors),
            "result_total": php_array(totals),
            "result_next": php_array(nexts),
            "result_time": php_array(times),
        }
    )
