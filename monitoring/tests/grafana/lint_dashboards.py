#!/usr/bin/env python3
"""Lint the provisioner Grafana dashboards without Grafana and without the Go linter.

Applies the 17 rules of grafana/dashboard-linter v0.2.0 (as listed in
shared/reference/operations-kit.md §4.3) plus structural checks (§4.1, §4.4), to every
dashboard JSON file given (default: monitoring/grafana/dashboards/*.json).

Usage:
    lint_dashboards.py [--metrics-doc docs/metrics.md] [FILE.json ...]
    lint_dashboards.py --self-test
    lint_dashboards.py --list-rules

Each violation is printed as
    FILE: dashboard 'TITLE' panel 'PANEL' [RULE] message
and the exit status is 1 when there is at least one. Python 3 standard library only.

Exclusions: like the Go linter, a `.lint` file next to the dashboards may exclude a
rule for a dashboard / panel / target index, with a reason. The Go linter reads it as
YAML; this checker reads it as JSON, so it must be written in the JSON subset of YAML
(which both accept). Every exclusion must give a reason and must match something. An
entry may also name a "metric" (the Go linter ignores the key): it then covers only
violations about that metric.

PromQL is parsed by a small recursive-descent parser below (Prometheus 2.42 grammar:
selectors, ranges, subqueries, offset/@, functions with argument types, aggregations,
binary operators with bool/on/ignoring/group_*). It is good enough for the rules; the
authoritative syntax check is `promtool check rules` in run.sh.
"""

import argparse
import copy
import glob
import json
import os
import re
import signal
import sys

# ======================================================================================
# PromQL
# ======================================================================================


class PromQLError(Exception):
    pass


SCALAR, VECTOR, MATRIX, STRING = "scalar", "instant vector", "range vector", "string"


class Node:
    kind = "node"
    type = None

    def children(self):
        return []


class NumberLiteral(Node):
    kind, type = "number", SCALAR

    def __init__(self, value):
        self.value = value


class StringLiteral(Node):
    kind, type = "string", STRING

    def __init__(self, value):
        self.value = value


class VectorSelector(Node):
    kind, type = "vector_selector", VECTOR

    def __init__(self, name, matchers):
        self.name = name  # may be None
        self.matchers = matchers  # [(label, op, value)], metric name excluded

    def metric_name(self):
        if self.name:
            return self.name
        for label, op, value in self.matchers:
            if label == "__name__" and op == "=":
                return value
        return None

    def all_matchers(self):
        m = list(self.matchers)
        if self.name:
            m.insert(0, ("__name__", "=", self.name))
        return m


class MatrixSelector(Node):
    kind, type = "matrix_selector", MATRIX

    def __init__(self, vs, rng):
        self.vs, self.range = vs, rng

    def children(self):
        return [self.vs]


class SubqueryExpr(Node):
    kind, type = "subquery", MATRIX

    def __init__(self, expr, rng, step):
        self.expr, self.range, self.step = expr, rng, step

    def children(self):
        return [self.expr]


class Call(Node):
    kind = "call"

    def __init__(self, func, args, rtype):
        self.func, self.args, self.type = func, args, rtype

    def children(self):
        return list(self.args)


class AggregateExpr(Node):
    kind, type = "aggregate", VECTOR

    def __init__(self, op, expr, param, grouping, without):
        self.op, self.expr, self.param = op, expr, param
        self.grouping, self.without = grouping, without

    def children(self):
        return ([self.param] if self.param is not None else []) + [self.expr]


class BinaryExpr(Node):
    kind = "binary"

    def __init__(self, op, lhs, rhs, return_bool, rtype):
        self.op, self.lhs, self.rhs = op, lhs, rhs
        self.return_bool, self.type = return_bool, rtype

    def children(self):
        return [self.lhs, self.rhs]


class UnaryExpr(Node):
    kind = "unary"

    def __init__(self, op, expr):
        self.op, self.expr, self.type = op, expr, expr.type

    def children(self):
        return [self.expr]


class ParenExpr(Node):
    kind = "paren"

    def __init__(self, expr):
        self.expr, self.type = expr, expr.type

    def children(self):
        return [self.expr]


def walk(node, parents=None):
    """Yields (node, parents) depth first, like prometheus/promql/parser.Walk."""
    parents = parents or []
    yield node, parents
    for child in node.children():
        yield from walk(child, parents + [node])


def selectors(node):
    return [n for n, _ in walk(node) if isinstance(n, VectorSelector)]


# Prometheus 2.42 promql/parser/functions.go: name -> (argument types, variadic, return).
# variadic: 0 = exact, 1 = the last argument is optional, -1 = the last repeats.
V, M, S, T = VECTOR, MATRIX, SCALAR, STRING
FUNCTIONS = {
    "abs": ([V], 0, V), "absent": ([V], 0, V), "absent_over_time": ([M], 0, V),
    "acos": ([V], 0, V), "acosh": ([V], 0, V), "asin": ([V], 0, V), "asinh": ([V], 0, V),
    "atan": ([V], 0, V), "atanh": ([V], 0, V), "avg_over_time": ([M], 0, V),
    "ceil": ([V], 0, V), "changes": ([M], 0, V), "clamp": ([V, S, S], 0, V),
    "clamp_max": ([V, S], 0, V), "clamp_min": ([V, S], 0, V), "cos": ([V], 0, V),
    "cosh": ([V], 0, V), "count_over_time": ([M], 0, V), "days_in_month": ([V], 1, V),
    "day_of_month": ([V], 1, V), "day_of_week": ([V], 1, V), "day_of_year": ([V], 1, V),
    "deg": ([V], 0, V), "delta": ([M], 0, V), "deriv": ([M], 0, V), "exp": ([V], 0, V),
    "floor": ([V], 0, V), "histogram_count": ([V], 0, V), "histogram_sum": ([V], 0, V),
    "histogram_fraction": ([S, S, V], 0, V), "histogram_quantile": ([S, V], 0, V),
    "holt_winters": ([M, S, S], 0, V), "hour": ([V], 1, V), "idelta": ([M], 0, V),
    "increase": ([M], 0, V), "irate": ([M], 0, V),
    "label_replace": ([V, T, T, T, T], 0, V), "label_join": ([V, T, T, T], -1, V),
    "last_over_time": ([M], 0, V), "ln": ([V], 0, V), "log10": ([V], 0, V),
    "log2": ([V], 0, V), "max_over_time": ([M], 0, V), "min_over_time": ([M], 0, V),
    "minute": ([V], 1, V), "month": ([V], 1, V), "pi": ([], 0, S),
    "predict_linear": ([M, S], 0, V), "present_over_time": ([M], 0, V),
    "quantile_over_time": ([S, M], 0, V), "rad": ([V], 0, V), "rate": ([M], 0, V),
    "resets": ([M], 0, V), "round": ([V, S], 1, V), "scalar": ([V], 0, S),
    "sgn": ([V], 0, V), "sin": ([V], 0, V), "sinh": ([V], 0, V), "sort": ([V], 0, V),
    "sort_desc": ([V], 0, V), "sqrt": ([V], 0, V), "stddev_over_time": ([M], 0, V),
    "stdvar_over_time": ([M], 0, V), "sum_over_time": ([M], 0, V), "tan": ([V], 0, V),
    "tanh": ([V], 0, V), "time": ([], 0, S), "timestamp": ([V], 0, V),
    "vector": ([S], 0, V), "year": ([V], 1, V),
}
AGGREGATORS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
               "count_values", "bottomk", "topk", "quantile"}
AGG_WITH_PARAM = {"count_values": STRING, "bottomk": SCALAR, "topk": SCALAR,
                  "quantile": SCALAR}
COMPARISON = {"==", "!=", "<=", "<", ">=", ">"}
SET_OPS = {"and", "or", "unless"}
PRECEDENCE = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<=": 3, "<": 3, ">=": 3,
              ">": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6}
DURATION_RE = re.compile(r"^(?:\d+(?:ms|[smhdwy]))+$")
DURATION_PART_RE = re.compile(r"(\d+)(ms|[smhdwy])")
DURATION_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000,
               "w": 604800000, "y": 31536000000}

TOKEN_RE = re.compile(r"""
   (?P<ws>\s+|\#[^\n]*)
  |(?P<duration>(?:\d+(?:ms|[smhdwy]))+)(?![A-Za-z0-9_])
  |(?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  |(?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=(){}\[\],:@])
""", re.X)


def duration_ms(text):
    if not DURATION_RE.match(text):
        raise PromQLError(f"bad duration {text!r}")
    return sum(int(n) * DURATION_MS[u] for n, u in DURATION_PART_RE.findall(text))


def unquote(tok):
    body = tok[1:-1]
    if tok[0] == "`":
        return body
    try:
        return bytes(body, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return body


def tokenize(text):
    pos, out = 0, []
    while pos < len(text):
        if text[pos] == ":" and out and out[-1][0] == "duration":
            out.append(("op", ":"))  # the subquery colon, not a metric name starting ':'
            pos += 1
            continue
        m = TOKEN_RE.match(text, pos)
        if not m:
            raise PromQLError(f"unexpected character {text[pos]!r} at {pos}")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    out.append(("eof", ""))
    return out


class Parser:
    def __init__(self, text):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, k=0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, value):
        if self.peek()[1] == value and self.peek()[0] in ("op", "ident"):
            return self.next()
        return None

    def expect(self, value):
        tok = self.next()
        if tok[1] != value:
            raise PromQLError(f"expected {value!r}, got {tok[1] or 'end of input'!r}")
        return tok

    def parse(self):
        expr = self.expr(0)
        if self.peek()[0] != "eof":
            raise PromQLError(f"unexpected {self.peek()[1]!r} after expression")
        return expr

    # -- binary operators ---------------------------------------------------------------
    def binop_here(self):
        kind, value = self.peek()
        if kind == "op" and value in PRECEDENCE:
            return value
        if kind == "ident" and value.lower() in ("and", "or", "unless", "atan2"):
            return value.lower()
        return None

    def expr(self, min_prec):
        lhs = self.unary()
        while True:
            op = self.binop_here()
            if op is None or PRECEDENCE[op] < min_prec:
                return lhs
            self.next()
            return_bool = False
            if self.peek()[1].lower() == "bool" and self.peek()[0] == "ident":
                self.next()
                if op not in COMPARISON:
                    raise PromQLError("bool modifier can only be used on comparison operators")
                return_bool = True
            matching = None
            if self.peek()[0] == "ident" and self.peek()[1].lower() in ("on", "ignoring"):
                matching = self.next()[1].lower()
                self.label_list()
                if self.peek()[0] == "ident" and self.peek()[1].lower() in ("group_left",
                                                                            "group_right"):
                    self.next()
                    if op in SET_OPS:
                        raise PromQLError(f"no grouping allowed for {op!r} operation")
                    if self.peek()[1] == "(":
                        self.label_list()
            prec = PRECEDENCE[op]
            rhs = self.expr(prec if op == "^" else prec + 1)
            lhs = self.binary(op, lhs, rhs, return_bool, matching)

    def binary(self, op, lhs, rhs, return_bool, matching):
        for side in (lhs, rhs):
            if side.type not in (SCALAR, VECTOR):
                raise PromQLError(f"binary expression must contain only scalar and instant "
                                  f"vector types, got {side.type}")
        both_scalar = lhs.type == SCALAR and rhs.type == SCALAR
        if op in SET_OPS and (lhs.type != VECTOR or rhs.type != VECTOR):
            raise PromQLError(f"set operator {op!r} not allowed in binary scalar expression")
        if op in COMPARISON and both_scalar and not return_bool:
            raise PromQLError("comparisons between scalars must use BOOL modifier")
        if matching and both_scalar:
            raise PromQLError("vector matching only allowed between instant vectors")
        return BinaryExpr(op, lhs, rhs, return_bool, SCALAR if both_scalar else VECTOR)

    def unary(self):
        kind, value = self.peek()
        if kind == "op" and value in ("+", "-"):
            self.next()
            operand = self.expr(PRECEDENCE["^"])
            if operand.type not in (SCALAR, VECTOR):
                raise PromQLError(f"unary expression only allowed on expressions of type "
                                  f"scalar or instant vector, got {operand.type}")
            if isinstance(operand, NumberLiteral):
                return NumberLiteral(-operand.value if value == "-" else operand.value)
            return UnaryExpr(value, operand)
        return self.postfix(self.primary())

    # -- postfix: ranges, subqueries, offset, @ -------------------------------------------
    def postfix(self, node):
        while True:
            kind, value = self.peek()
            if kind == "op" and value == "[":
                self.next()
                rng = self.duration()
                if self.accept(":"):
                    step = None
                    if self.peek()[1] != "]":
                        step = self.duration()
                    self.expect("]")
                    if node.type != VECTOR:
                        raise PromQLError(f"subquery is only allowed on instant vector, "
                                          f"got {node.type}")
                    node = SubqueryExpr(node, rng, step)
                else:
                    self.expect("]")
                    if not isinstance(node, VectorSelector):
                        raise PromQLError("ranges only allowed for vector selectors")
                    node = MatrixSelector(node, rng)
            elif kind == "ident" and value.lower() == "offset":
                self.next()
                if self.peek()[1] == "-":
                    self.next()
                self.duration()
                self.check_modifiable(node, "offset")
            elif kind == "op" and value == "@":
                self.next()
                if self.peek()[0] == "ident" and self.peek()[1] in ("start", "end"):
                    self.next()
                    self.expect("(")
                    self.expect(")")
                else:
                    if self.peek()[1] in ("+", "-"):
                        self.next()
                    if self.next()[0] != "number":
                        raise PromQLError("unexpected value after @")
                self.check_modifiable(node, "@")
            else:
                return node

    @staticmethod
    def check_modifiable(node, what):
        if not isinstance(node, (VectorSelector, MatrixSelector, SubqueryExpr)):
            raise PromQLError(f"{what} modifier must be preceded by an instant vector "
                              f"selector or range vector selector or a subquery")

    def duration(self):
        kind, value = self.next()
        if kind == "number" and re.fullmatch(r"\d+", value):
            raise PromQLError(f'bad duration syntax: "{value}": missing unit character '
                              f'in duration')
        if kind != "duration":
            raise PromQLError(f"expected duration, got {value or 'end of input'!r}")
        return value

    # -- primaries ----------------------------------------------------------------------
    def primary(self):
        kind, value = self.peek()
        if kind == "number":
            self.next()
            return NumberLiteral(float(int(value, 16)) if value[:2].lower() == "0x"
                                 else float(value))
        if kind == "string":
            self.next()
            return StringLiteral(unquote(value))
        if kind == "op" and value == "(":
            self.next()
            inner = self.expr(0)
            self.expect(")")
            return ParenExpr(inner)
        if kind == "op" and value == "{":
            return self.selector(None)
        if kind == "ident":
            low = value.lower()
            nxt = self.peek(1)
            if low in AGGREGATORS and (nxt[1] == "(" or nxt[1].lower() in ("by", "without")):
                return self.aggregate()
            if nxt[1] == "(" and nxt[0] == "op":
                return self.call()
            if low in ("inf", "nan"):
                self.next()
                return NumberLiteral(float(low))
            if low in ("by", "without", "on", "ignoring", "group_left", "group_right",
                       "bool", "offset", "and", "or", "unless", "atan2"):
                raise PromQLError(f"unexpected keyword {value!r}")
            self.next()
            return self.selector(value)
        if kind == "duration":
            raise PromQLError(f"unexpected duration {value!r}")
        raise PromQLError(f"unexpected {value or 'end of input'!r}")

    def label_list(self):
        self.expect("(")
        labels = []
        while self.peek()[1] != ")":
            kind, value = self.next()
            if kind != "ident" or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                raise PromQLError(f"unexpected {value!r} in grouping opts, expected label")
            labels.append(value)
            if not self.accept(","):
                break
        self.expect(")")
        return labels

    def selector(self, name):
        matchers = []
        if self.peek()[1] == "{" and self.peek()[0] == "op":
            self.next()
            while self.peek()[1] != "}":
                kind, label = self.next()
                if kind != "ident" or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label):
                    raise PromQLError(f"unexpected {label!r} in label matching, expected "
                                      f"label")
                op = self.next()[1]
                if op not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"unexpected {op!r} in label matching, expected "
                                      f"label matching operator")
                kind, raw = self.next()
                if kind != "string":
                    raise PromQLError(f"unexpected {raw!r} in label matching, expected "
                                      f"string")
                val = unquote(raw)
                if op in ("=~", "!~"):
                    try:
                        re.compile(val)
                    except re.error as e:
                        raise PromQLError(f"invalid regular expression {val!r}: {e}")
                matchers.append((label, op, val))
                if not self.accept(","):
                    break
            self.expect("}")
        if name and any(label == "__name__" for label, _, _ in matchers):
            raise PromQLError(f"metric name must not be set twice: {name!r}")

        def matches_empty(op, val):
            if op == "=":
                return val == ""
            if op == "!=":
                return val != ""
            full = re.fullmatch(val, "") is not None
            return full if op == "=~" else not full

        if not name and all(matches_empty(op, val) for _, op, val in matchers):
            raise PromQLError("vector selector must contain at least one non-empty matcher")
        return VectorSelector(name, matchers)

    def args(self):
        self.expect("(")
        out = []
        while self.peek()[1] != ")":
            out.append(self.expr(0))
            if not self.accept(","):
                break
        self.expect(")")
        return out

    def call(self):
        name = self.next()[1]
        if name not in FUNCTIONS:
            raise PromQLError(f"unknown function with name {name!r}")
        types, variadic, rtype = FUNCTIONS[name]
        args = self.args()
        n = len(args)
        if variadic == 0 and n != len(types):
            raise PromQLError(f"expected {len(types)} argument(s) in call to {name!r}, "
                              f"got {n}")
        if variadic == 1 and not len(types) - 1 <= n <= len(types):
            raise PromQLError(f"expected {len(types) - 1} to {len(types)} argument(s) in "
                              f"call to {name!r}, got {n}")
        if variadic == -1 and n < len(types) - 1:
            raise PromQLError(f"expected at least {len(types) - 1} argument(s) in call to "
                              f"{name!r}, got {n}")
        for i, arg in enumerate(args):
            want = types[min(i, len(types) - 1)]
            if arg.type != want:
                raise PromQLError(f"expected type {want} in call to function {name!r}, "
                                  f"got {arg.type}")
        return Call(name, args, rtype)

    def aggregate(self):
        op = self.next()[1].lower()
        grouping, without = [], False
        if self.peek()[1].lower() in ("by", "without"):
            without = self.next()[1].lower() == "without"
            grouping = self.label_list()
        args = self.args()
        if self.peek()[0] == "ident" and self.peek()[1].lower() in ("by", "without"):
            without = self.next()[1].lower() == "without"
            grouping = self.label_list()
        param = None
        if op in AGG_WITH_PARAM:
            if len(args) != 2:
                raise PromQLError(f"wrong number of arguments for aggregate expression "
                                  f"provided, expected 2, got {len(args)}")
            param, expr = args
            if param.type != AGG_WITH_PARAM[op]:
                raise PromQLError(f"expected type {AGG_WITH_PARAM[op]} in aggregation "
                                  f"parameter, got {param.type}")
        else:
            if len(args) != 1:
                raise PromQLError(f"wrong number of arguments for aggregate expression "
                                  f"provided, expected 1, got {len(args)}")
            expr = args[0]
        if expr.type != VECTOR:
            raise PromQLError(f"expected type instant vector in aggregation expression, "
                              f"got {expr.type}")
        return AggregateExpr(op, expr, param, grouping, without)


def parse_promql(text):
    if not text.strip():
        raise PromQLError("no expression found in input")
    return Parser(text).parse()


# ======================================================================================
# Grafana variables, expanded the way dashboard-linter does before parsing
# ======================================================================================

# The magic values make the rules recognise a variable after expansion. $__rate_interval
# gets the value §4.3 quotes for v0.2.0.
MAGIC_RATE_INTERVAL = "8869990787ms"
MAGIC_DURATIONS = {"__rate_interval": MAGIC_RATE_INTERVAL, "__interval": "8869990788ms",
                   "__range": "8869990789ms", "__auto": "8869990790ms"}
MAGIC_NUMBERS = {"__interval_ms": "8869990791", "__range_ms": "8869990792",
                 "__range_s": "8869993", "__from": "1294671549254.000",
                 "__to": "1294671549255.000"}
VARIABLE_RE = re.compile(r'("\$|\$)([A-Za-z0-9_]+)|("\$|\$)\{([^}]+)\}|\[\[([^\[\]]+)\]\]')


def expand_variables(expr):
    """Replaces Grafana variables outside double-quoted strings with placeholders."""

    def repl(m):
        text = m.group(0)
        if text.startswith('"'):
            return text  # inside a label value: left alone, as the Go linter does
        name = m.group(2) or m.group(4) or m.group(5)
        name = name.split(":")[0]
        if name in MAGIC_DURATIONS:
            return MAGIC_DURATIONS[name]
        if name in MAGIC_NUMBERS:
            return MAGIC_NUMBERS[name]
        return "bgludgvy_" + re.sub(r"[^A-Za-z0-9_]", "_", name)

    return VARIABLE_RE.sub(repl, expr)


# ======================================================================================
# Dashboard model helpers
# ======================================================================================

# grafana/dashboard-linter lint/rule_panel_units.go (Grafana valueFormats categories).
VALID_UNITS = set("""
none string short percent percentunit humidity dB hex0x hex sci locale pixel accMS2 accFS2
accG degree radian grad arcmin arcsec areaM2 areaF2 areaMI2 flops mflops gflops tflops
pflops eflops zflops yflops ppm conppb conngm3 conngNm3 conμgm3 conμgNm3 conmgm3 conmgNm3
congm3 congNm3 conmgdL conmmolL currencyUSD currencyGBP currencyEUR currencyJPY currencyRUB
currencyUAH currencyBRL currencyDKK currencyISK currencyNOK currencySEK currencyCZK
currencyCHF currencyPLN currencyBTC currencymBTC currencyμBTC currencyZAR currencyINR
currencyKRW currencyIDR currencyPHP currencyVND bytes decbytes bits decbits kbytes
deckbytes mbytes decmbytes gbytes decgbytes tbytes dectbytes pbytes decpbytes pps binBps
Bps binbps bps KiBs Kibits KBs Kbits MiBs Mibits MBs Mbits GiBs Gibits GBs Gbits TiBs
Tibits TBs Tbits PiBs Pibits PBs Pbits dateTimeAsIso dateTimeAsIsoNoDateIfToday
dateTimeAsUS dateTimeAsUSNoDateIfToday dateTimeAsLocal dateTimeAsLocalNoDateIfToday
dateTimeAsSystem dateTimeFromNow watt kwatt megwatt gwatt mwatt Wm2 voltamp kvoltamp
voltampreact kvoltampreact watth watthperkg kwatth kwattm amph kamph mamph joule ev amp
kamp mamp volt kvolt mvolt dBm ohm kohm Mohm farad µfarad nfarad pfarad ffarad henry
mhenry µhenry lumens flowgpm flowcms flowcfs flowcfm litreh flowlpm flowmlpm lux forceNm
forcekNm forceN forcekN Hs KHs MHs GHs THs PHs EHs massmg massg masslb masskg masst
lengthmm lengthin lengthft lengthm lengthkm lengthmi pressurembar pressurebar pressurekbar
pressurepa pressurehpa pressurekpa pressurehg pressurepsi radbq radci radgy radrad radsv
radmsv radusv radrem radexpckg radr radsvh radmsvh radusvh rotrpm rothz rotrads rotdegs
celsius fahrenheit kelvin hertz ns µs ms s m h d dtdurationms dtdurations dthms dtdhms
timeticks clockms clocks cps ops reqps rps wps iops cpm opm rpm wpm velocityms velocitykmh
velocitymph velocityknot mlitre litre m3 Nm3 dm3 gallons bool bool_yes_no bool_on_off
""".split())

# Panel types each upstream rule looks at.
TYPES_DATASOURCE = {"singlestat", "graph", "table", "timeseries"}
TYPES_TITLE_UNITS_TARGETS = {"stat", "singlestat", "graph", "table", "timeseries", "gauge"}
TYPES_PROMQL = {"singlestat", "graph", "table", "stat", "state-timeline", "timeseries",
                "gauge"}
# Structural checks: the panel types this project allows, and which of them show numbers.
ALLOWED_PANEL_TYPES = {"timeseries", "stat", "table", "bargauge", "gauge", "text",
                       "state-timeline"}
NUMERIC_PANEL_TYPES = {"timeseries", "stat", "table", "bargauge", "gauge", "state-timeline"}
THRESHOLD_PANEL_TYPES = {"stat", "bargauge", "gauge"}
SCHEMA_VERSION_MIN, SCHEMA_VERSION_MAX = 39, 42  # §4.1: 39 (Grafana 10.4) .. 42 (final v1)
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
RUNBOOKS_URL = "https://github.com/provisioner/provisioner/blob/main/runbooks/README.md"
UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

LINTER_RULES = [
    "template-datasource-rule", "template-job-rule", "template-instance-rule",
    "template-label-promql-rule", "template-on-time-change-reload-rule",
    "panel-datasource-rule", "panel-title-description-rule", "panel-units-rule",
    "panel-no-targets-rule", "target-promql-rule", "target-rate-interval-rule",
    "target-job-rule", "target-instance-rule", "target-counter-agg-rule",
    "target-logql-rule", "target-logql-auto-rule", "uneditable-dashboard",
]
STRUCTURE_RULES = [
    "structure-json", "structure-uid", "structure-title", "structure-schema-version",
    "structure-no-inputs", "structure-time", "structure-panel-type", "structure-panel-id",
    "structure-gridpos", "structure-gridpos-overlap", "structure-panel-datasource",
    "structure-target-datasource", "structure-target-refid", "structure-panel-unit",
    "structure-panel-description", "structure-thresholds", "structure-variable-datasource",
    "structure-metric-known", "structure-runbook-link", "structure-lint-config",
]
# Names other linter versions use for the same rules (accepted in .lint files).
RULE_ALIASES = {"uneditable-dashboard-rule": "uneditable-dashboard",
                "template-on-time-change-reload": "template-on-time-change-reload-rule"}


class Violation:
    def __init__(self, rule, message, dashboard="", panel=None, target_idx=None, where=""):
        self.rule, self.message = rule, message
        self.dashboard, self.panel, self.target_idx, self.where = (dashboard, panel,
                                                                   target_idx, where)

    def __str__(self):
        loc = f"dashboard '{self.dashboard}'"
        if self.panel is not None:
            loc += f" panel '{self.panel}'"
        if self.target_idx is not None:
            loc += f" target {self.target_idx}"
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}{loc} [{self.rule}] {self.message}"


def all_panels(dash):
    """Top-level panels and the panels of collapsed rows."""
    out = []
    for p in dash.get("panels") or []:
        if not isinstance(p, dict):
            continue
        out.append(p)
        for q in p.get("panels") or []:
            if isinstance(q, dict):
                out.append(q)
    return out


def ds_uid(ref):
    if isinstance(ref, dict):
        return ref.get("uid")
    if isinstance(ref, str):
        return ref  # legacy: a data source name or "$datasource"
    return None


def variables(dash):
    return [v for v in (dash.get("templating") or {}).get("list") or [] if isinstance(v, dict)]


def var_query_text(v):
    q = v.get("query")
    if isinstance(q, dict):
        return q.get("query") or ""
    return q if isinstance(q, str) else ""


def datasource_vars(dash):
    return [v for v in variables(dash) if v.get("type") == "datasource"]


def prometheus_dashboard(dash):
    """Upstream applies the Prometheus rules only when the first datasource variable
    queries prometheus."""
    ds = datasource_vars(dash)
    return bool(ds) and ds[0].get("query") == "prometheus"


def is_loki_target(dash, t):
    ds = t.get("datasource")
    if isinstance(ds, dict) and ds.get("type") == "loki":
        return True
    dsv = datasource_vars(dash)
    return bool(dsv) and dsv[0].get("query") == "loki"


# ======================================================================================
# The 17 dashboard-linter rules
# ======================================================================================


def check_template_datasource(dash, add):
    ds = datasource_vars(dash)
    if not ds:
        add("template-datasource-rule", "does not have a templated data source")
        return
    for v in ds:
        query = str(v.get("query") or "")
        names = {f"{query.lower()}_datasource"}
        labels = {f"{query.title()} data source"}
        if len(ds) == 1:
            names.add("datasource")
            labels.add("Data source")
        if v.get("name") not in names:
            add("template-datasource-rule",
                f"templated data source variable named '{v.get('name')}', should be "
                f"named one of {sorted(names)}")
        elif v.get("label") not in labels:
            add("template-datasource-rule",
                f"templated data source variable labeled '{v.get('label')}', should be "
                f"labeled one of {sorted(labels)} (a warning upstream)")


def check_template(dash, name, rule, add):
    if not prometheus_dashboard(dash):
        return
    v = next((v for v in variables(dash) if v.get("name") == name), None)
    if v is None:
        add(rule, f"is missing the {name} template")
        return
    uid = ds_uid(v.get("datasource"))
    if uid not in ("$datasource", "${datasource}", "$prometheus_datasource",
                   "${prometheus_datasource}"):
        add(rule, f"{name} template should use datasource '$datasource', is currently "
                  f"'{uid}'")
    if v.get("type") != "query":
        add(rule, f"{name} template should be a Prometheus query, is currently "
                  f"'{v.get('type')}'")
    if v.get("label") != name.title():
        add(rule, f"{name} template should be labeled '{name.title()}', is currently "
                  f"'{v.get('label')}' (a warning upstream)")
    if v.get("multi") is not True:
        add(rule, f"{name} template should be a multi select")
    if v.get("allValue") != ".+":
        add(rule, f"{name} template allValue should be '.+', is currently "
                  f"'{v.get('allValue')}'")


def split_top_level(text):
    parts, depth, cur, quote = [], 0, "", None
    for ch in text:
        if quote:
            cur += ch
            if ch == quote and not cur.endswith("\\" + quote):
                quote = None
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    parts.append(cur.strip())
    return parts


LABEL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def template_query_error(query):
    m = re.fullmatch(r"\s*([a-z_]+)\((.*)\)\s*", query, re.S)
    if not m:
        return f"invalid 'query': {query!r}"
    func, arg = m.group(1), m.group(2)
    if func not in ("label_names", "label_values", "metrics", "query_result"):
        return f"invalid 'function': {func}"
    try:
        if func == "label_values":
            parts = split_top_level(arg)
            if len(parts) == 1:
                label = parts[0]
            elif len(parts) == 2:
                parse_promql(expand_variables(parts[0]))
                label = parts[1]
            else:
                return "label_values takes (label) or (selector, label)"
            if not LABEL_NAME_RE.match(label):
                return f"invalid label name {label!r}"
        elif func == "label_names":
            if arg.strip():
                parse_promql(expand_variables(arg))
        elif func == "query_result":
            parse_promql(expand_variables(arg))
        elif func == "metrics":
            re.compile(arg)
    except (PromQLError, re.error) as e:
        return f"invalid PromQL in {func}(): {e}"
    return None


def check_template_label_promql(dash, add):
    if not prometheus_dashboard(dash):
        return
    for v in variables(dash):
        if v.get("type") != "query":
            continue
        err = template_query_error(var_query_text(v))
        if err:
            add("template-label-promql-rule",
                f"template '{v.get('name')}' invalid templated label "
                f"'{var_query_text(v)}': {err}")


def check_template_reload(dash, add):
    for v in variables(dash):
        if v.get("type") == "query" and v.get("refresh") != 2:
            add("template-on-time-change-reload-rule",
                f"template variable '{v.get('name')}' should refresh 'On Time Range Change' "
                f"(refresh: 2), is currently '{v.get('refresh')}'")


def check_uneditable(dash, add):
    if dash.get("editable") is not False:
        add("uneditable-dashboard", "is editable, it should be set to 'editable: false'")


def check_panel_rules(dash, p, add):
    ptype = p.get("type")
    if ptype in TYPES_DATASOURCE:
        allowed = set()
        for v in datasource_vars(dash):
            allowed |= {f"${v.get('name')}", f"${{{v.get('name')}}}"}
        uid = ds_uid(p.get("datasource"))
        if uid not in allowed:
            add("panel-datasource-rule", f"does not use a templated datasource, uses '{uid}'")
    if ptype in TYPES_TITLE_UNITS_TARGETS:
        if not p.get("title") or not p.get("description"):
            add("panel-title-description-rule",
                f"panel with id '{p.get('id')}' has missing title or description")
        fc = p.get("fieldConfig") or {}
        defaults = fc.get("defaults") or {}
        mappings = defaults.get("mappings") or []
        stat_fields = (ptype == "stat" and
                       ((p.get("options") or {}).get("reduceOptions") or {}).get("fields"))
        if not mappings and not stat_fields:
            unit = ""
            for o in fc.get("overrides") or []:
                for prop in o.get("properties") or []:
                    if prop.get("id") == "unit":
                        unit = prop.get("value") or ""
            unit = unit or defaults.get("unit") or ""
            if unit not in VALID_UNITS:
                add("panel-units-rule", f"has no or invalid units defined: '{unit}'")
        if not p.get("targets"):
            add("panel-no-targets-rule", "has no targets")


def check_target_rules(dash, p, idx, t, add):
    ptype = p.get("type")
    expr = t.get("expr")
    if is_loki_target(dash, t):
        # No LogQL parser here: a Loki target cannot be checked, so it is refused. The
        # provisioner dashboards have only Prometheus targets.
        add("target-logql-rule", "Loki target: LogQL cannot be validated by this checker")
        if isinstance(expr, str) and re.search(r"\[(?!\$__auto\])[^\]]*\]", expr):
            add("target-logql-auto-rule",
                "LogQL query uses fixed duration: should use $__auto")
        return
    if not prometheus_dashboard(dash):
        return
    if not expr:
        ref = t.get("panelId")
        if ref and any(q.get("id") == ref for q in all_panels(dash)):
            return
        if ptype in TYPES_PROMQL or p.get("targets"):
            add("target-promql-rule", "empty expression"
                + (f" and invalid panel reference {ref}" if ref else ""))
        return
    try:
        node = parse_promql(expand_variables(expr))
    except PromQLError as e:
        add("target-promql-rule", f"invalid PromQL query '{expr}': {e}")
        return

    # target-rate-interval-rule
    for n, parents in walk(node):
        if not isinstance(n, MatrixSelector) or n.range == MAGIC_RATE_INTERVAL or not parents:
            continue
        parent = parents[-1]
        if not isinstance(parent, Call):
            add("target-rate-interval-rule",
                f"invalid PromQL query '{expr}': range vector outside a function call")
        elif parent.func in ("rate", "irate"):
            add("target-rate-interval-rule",
                f"invalid PromQL query '{expr}': should use $__rate_interval in "
                f"{parent.func}(), not [{n.range}]")

    # target-job-rule, target-instance-rule
    for label, rule in (("job", "target-job-rule"), ("instance", "target-instance-rule")):
        for sel in selectors(node):
            found = [(op, val) for name, op, val in sel.all_matchers() if name == label]
            if ("=~", f"${label}") not in found:
                what = (f"{label} selector is {found[0][0]}\"{found[0][1]}\", not "
                        f"=~\"${label}\"" if found else f"{label} selector not found")
                add(rule, f"selector '{sel.metric_name() or '{…}'}' in '{expr}': {what}")

    # target-counter-agg-rule (by metric name, as §4.3 states it)
    for n, parents in walk(node):
        if not isinstance(n, VectorSelector):
            continue
        name = n.metric_name() or ""
        if not name.endswith("_total"):
            continue
        ok = (len(parents) >= 2 and isinstance(parents[-1], MatrixSelector) and
              isinstance(parents[-2], Call) and
              parents[-2].func in ("rate", "irate", "increase"))
        if not ok:
            add("target-counter-agg-rule",
                f"counter metric '{name}' is not aggregated with rate, irate, or increase")


# ======================================================================================
# Structural checks
# ======================================================================================

METRIC_NAME_IN_DOC_RE = re.compile(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|", re.M)
# Series every Prometheus adds to a scrape target; not in docs/metrics.md.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                     "scrape_samples_post_metric_relabeling", "scrape_series_added"}
# Issue 11 renames provisioner_estimated_savings_hours_total to ..._seconds_total (the
# daemon already exports the new name). Accepted until docs/metrics.md lists it.
RENAMED_IN_ISSUE_11 = {"provisioner_estimated_savings_seconds_total"}
RENAMED_AWAY = {"provisioner_estimated_savings_hours_total":
                "provisioner_estimated_savings_seconds_total"}


def known_metrics(doc_path):
    with open(doc_path, encoding="utf-8") as f:
        names = set(METRIC_NAME_IN_DOC_RE.findall(f.read()))
    if not names:
        raise SystemExit(f"{doc_path}: no metric table rows found")
    histograms = set()
    with open(doc_path, encoding="utf-8") as f:
        for line in f:
            m = METRIC_NAME_IN_DOC_RE.match(line)
            if m and re.search(r"\|\s*histogram\s*\|", line):
                histograms.add(m.group(1))
    out = set(names) | PROMETHEUS_SERIES | RENAMED_IN_ISSUE_11
    for h in histograms:
        out |= {h + "_bucket", h + "_sum", h + "_count"}
        out.discard(h)  # the bare name of a histogram matches no series (§0.4)
    return out


def text_contains(obj, needle):
    if isinstance(obj, str):
        return needle in obj
    if isinstance(obj, dict):
        return any(text_contains(k, needle) or text_contains(v, needle)
                   for k, v in obj.items())
    if isinstance(obj, list):
        return any(text_contains(v, needle) for v in obj)
    return False


def check_structure(dash, add, metrics):
    if not isinstance(dash.get("title"), str) or not dash.get("title"):
        add("structure-title", "dashboard has no title")
    uid = dash.get("uid")
    if not isinstance(uid, str) or not UID_RE.match(uid):
        add("structure-uid", f"uid {uid!r} must be 1-40 characters of [A-Za-z0-9_-] "
                             f"(stable URLs, provisioning by uid)")
    sv = dash.get("schemaVersion")
    if not isinstance(sv, int) or not SCHEMA_VERSION_MIN <= sv <= SCHEMA_VERSION_MAX:
        add("structure-schema-version",
            f"schemaVersion {sv!r} must be an integer in {SCHEMA_VERSION_MIN}.."
            f"{SCHEMA_VERSION_MAX}")
    if "__inputs" in dash or "__requires" in dash or text_contains(dash, "${DS_"):
        add("structure-no-inputs", "export-for-sharing placeholders (__inputs, ${DS_...}) "
                                   "do not resolve under file provisioning")
    time = dash.get("time") or {}
    if not time.get("from") or not time.get("to"):
        add("structure-time", "dashboard needs time.from and time.to")
    if not isinstance(dash.get("panels"), list) or not dash.get("panels"):
        add("structure-json", "dashboard has no panels")

    for v in variables(dash):
        if v.get("type") == "query" and ds_uid(v.get("datasource")) != "${datasource}":
            add("structure-variable-datasource",
                f"variable '{v.get('name')}' must use datasource ${{datasource}}, uses "
                f"{v.get('datasource')!r}")

    seen_ids, boxes = {}, []
    runbook_link = False
    for p in all_panels(dash):
        title = p.get("title") or f"#{p.get('id')}"

        def padd(rule, msg, _title=title):
            add(rule, msg, panel=_title)

        ptype = p.get("type")
        if ptype not in ALLOWED_PANEL_TYPES and ptype != "row":
            padd("structure-panel-type",
                 f"panel type {ptype!r} not in {sorted(ALLOWED_PANEL_TYPES)}")
        pid = p.get("id")
        if not isinstance(pid, int) or isinstance(pid, bool):
            padd("structure-panel-id", f"panel id {pid!r} is not an integer")
        elif pid in seen_ids:
            padd("structure-panel-id", f"panel id {pid} also used by '{seen_ids[pid]}'")
        else:
            seen_ids[pid] = title
        gp = p.get("gridPos")
        if not isinstance(gp, dict) or not all(
                isinstance(gp.get(k), int) and not isinstance(gp.get(k), bool)
                for k in "hwxy"):
            padd("structure-gridpos", f"gridPos {gp!r} needs integer h, w, x, y")
        elif not (1 <= gp["w"] <= 24 and gp["x"] >= 0 and gp["x"] + gp["w"] <= 24 and
                  gp["h"] >= 1 and gp["y"] >= 0):
            padd("structure-gridpos", f"gridPos {gp} does not fit the 24-column grid")
        else:
            boxes.append((title, gp))
        if ptype != "row" and (not p.get("title") or not p.get("description")):
            padd("structure-panel-description", "every panel needs a title and a description")
        if ptype == "text" and RUNBOOKS_URL in str((p.get("options") or {}).get("content")):
            runbook_link = True

        tgts = p.get("targets") or []
        if ptype in NUMERIC_PANEL_TYPES:
            if not tgts:
                padd("structure-target-refid", "data panel without targets")
            if p.get("datasource") != DATASOURCE_REF:
                padd("structure-panel-datasource",
                     f"panel datasource must be {DATASOURCE_REF}, is {p.get('datasource')!r}")
            defaults = (p.get("fieldConfig") or {}).get("defaults") or {}
            if defaults.get("unit") not in VALID_UNITS:
                padd("structure-panel-unit",
                     f"fieldConfig.defaults.unit {defaults.get('unit')!r} missing or not a "
                     f"Grafana unit")
            if ptype in THRESHOLD_PANEL_TYPES:
                steps = (defaults.get("thresholds") or {}).get("steps")
                if not isinstance(steps, list) or not steps or steps[0].get("value") is not None:
                    padd("structure-thresholds",
                         "fieldConfig.defaults.thresholds.steps must start with a base step "
                         "(value null)")
                else:
                    values = [s.get("value") for s in steps[1:]]
                    if any(not isinstance(x, (int, float)) for x in values) or \
                            values != sorted(values):
                        padd("structure-thresholds", f"threshold steps not ascending: {values}")
        elif tgts:
            padd("structure-panel-type", f"panel type {ptype!r} must not have targets")

        refids = set()
        for i, t in enumerate(tgts):
            if t.get("datasource") != DATASOURCE_REF:
                add("structure-target-datasource",
                    f"target datasource must be {DATASOURCE_REF}, is {t.get('datasource')!r}",
                    panel=title, target_idx=i)
            ref = t.get("refId")
            if not ref or ref in refids:
                add("structure-target-refid", f"refId {ref!r} missing or duplicated",
                    panel=title, target_idx=i)
            refids.add(ref)
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                add("structure-target-refid", "target has no expr", panel=title,
                    target_idx=i)
                continue
            if metrics is None:
                continue
            try:
                node = parse_promql(expand_variables(expr))
            except PromQLError:
                continue  # target-promql-rule reports it
            for sel in selectors(node):
                name = sel.metric_name()
                if name is None:
                    add("structure-metric-known", "selector without a metric name",
                        panel=title, target_idx=i)
                elif name in RENAMED_AWAY:
                    add("structure-metric-known",
                        f"metric '{name}' was renamed to '{RENAMED_AWAY[name]}'",
                        panel=title, target_idx=i)
                elif name not in metrics:
                    add("structure-metric-known",
                        f"metric '{name}' is not in docs/metrics.md (nor a Prometheus "
                        f"scrape series)", panel=title, target_idx=i)

    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            (ta, ga), (tb, gb) = boxes[a], boxes[b]
            if (ga["x"] < gb["x"] + gb["w"] and gb["x"] < ga["x"] + ga["w"] and
                    ga["y"] < gb["y"] + gb["h"] and gb["y"] < ga["y"] + ga["h"]):
                add("structure-gridpos-overlap", f"gridPos {ga} overlaps panel '{tb}' {gb}",
                    panel=ta)
    if not runbook_link:
        add("structure-runbook-link", f"no text panel links the runbooks index {RUNBOOKS_URL}")


# ======================================================================================
# Driver
# ======================================================================================


def lint_dashboard(dash, where="", metrics=None):
    """Returns the violations of one parsed dashboard (before exclusions)."""
    out = []
    title = dash.get("title") if isinstance(dash, dict) else None

    def add(rule, message, panel=None, target_idx=None):
        out.append(Violation(rule, message, title or "?", panel, target_idx, where))

    if not isinstance(dash, dict):
        add("structure-json", "top level is not a JSON object")
        return out
    check_template_datasource(dash, add)
    check_template(dash, "job", "template-job-rule", add)
    check_template(dash, "instance", "template-instance-rule", add)
    check_template_label_promql(dash, add)
    check_template_reload(dash, add)
    check_uneditable(dash, add)
    for p in all_panels(dash):
        ptitle = p.get("title") or f"#{p.get('id')}"
        check_panel_rules(dash, p, lambda r, m, _t=ptitle: add(r, m, panel=_t))
        for i, t in enumerate(p.get("targets") or []):
            if isinstance(t, dict):
                check_target_rules(dash, p, i, t,
                                   lambda r, m, _t=ptitle, _i=i: add(r, m, panel=_t,
                                                                     target_idx=_i))
    check_structure(dash, add, metrics)
    return out


def load_lint_config(path):
    """Reads a .lint file (the JSON subset of YAML). Returns (exclusions, errors)."""
    errors = []
    if not os.path.exists(path):
        return [], errors
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except ValueError as e:
        return [], [f"{path}: must be JSON (the JSON subset of YAML): {e}"]
    entries = []
    for section in ("exclusions", "warnings"):
        for rule, spec in (cfg.get(section) or {}).items():
            rule = RULE_ALIASES.get(rule, rule)
            if rule not in LINTER_RULES and rule not in STRUCTURE_RULES:
                errors.append(f"{path}: unknown rule {rule!r}")
                continue
            spec = spec or {}
            items = spec.get("entries") or []
            if not items:
                errors.append(f"{path}: {rule}: an exclusion must list its entries "
                              f"(a rule-wide exclusion hides new mistakes)")
            for e in items:
                if not (e.get("reason") or spec.get("reason")):
                    errors.append(f"{path}: {rule}: entry {e} has no reason")
                entries.append({"section": section, "rule": rule, "entry": e, "used": False})
    return entries, errors


def entry_matches(e, v):
    """As the Go linter's ConfigurationEntry.IsMatch, plus an optional "metric" key
    (ignored by the Go linter) that limits the entry to violations naming that metric, so
    that a changed expression is not silently covered by an old exclusion."""
    if e.get("metric") and f"'{e['metric']}'" not in v.message:
        return False
    if e.get("dashboard") != v.dashboard:
        return False
    if v.panel is not None and e.get("panel") != v.panel:
        return False
    if v.panel is None and e.get("panel"):
        return False
    idx = e.get("targetIdx")
    if v.target_idx is not None and idx not in (None, ""):
        try:
            if int(idx) != v.target_idx:
                return False
        except ValueError:
            return False
    return True


def apply_exclusions(violations, entries):
    kept, warned = [], []
    for v in violations:
        hit = None
        for ent in entries:
            if ent["rule"] == v.rule and entry_matches(ent["entry"], v):
                ent["used"] = True
                hit = ent
        if hit is None:
            kept.append(v)
        elif hit["section"] == "warnings":
            warned.append(v)
    return kept, warned


def default_paths():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", "..", ".."))
    return (sorted(glob.glob(os.path.join(root, "monitoring", "grafana", "dashboards",
                                          "*.json"))),
            os.path.join(root, "docs", "metrics.md"))


def run(paths, metrics_doc, quiet=False):
    metrics = known_metrics(metrics_doc) if metrics_doc else None
    failures = []
    titles, uids = {}, {}
    config_entries, config_errors = [], []
    for d in sorted({os.path.dirname(os.path.abspath(p)) for p in paths}):
        entries, errors = load_lint_config(os.path.join(d, ".lint"))
        config_entries += entries
        config_errors += errors
    for path in paths:
        rel = os.path.relpath(path)
        rel = path if rel.startswith("..") else rel
        try:
            with open(path, encoding="utf-8") as f:
                dash = json.load(f)
        except (OSError, ValueError) as e:
            failures.append(Violation("structure-json", str(e), "?", where=rel))
            continue
        found = lint_dashboard(dash, rel, metrics)
        if isinstance(dash, dict):
            for key, seen, rule in ((dash.get("title"), titles, "structure-title"),
                                    (dash.get("uid"), uids, "structure-uid")):
                if key in seen:
                    found.append(Violation(rule, f"{key!r} also used by {seen[key]}",
                                           dash.get("title") or "?", where=rel))
                seen[key] = rel
        kept, warned = apply_exclusions(found, config_entries)
        failures += kept
        if not quiet:
            for w in warned:
                print(f"warning: {w}")
        if not quiet:
            n_targets = sum(len(p.get("targets") or []) for p in all_panels(dash))
            print(f"{rel}: {len(all_panels(dash))} panels, {n_targets} targets, "
                  f"{len(kept)} violation(s), {len(found) - len(kept)} excluded by .lint")
    for ent in config_entries:
        # Stale only if its dashboard was linted (a subset of the files may be given).
        if not ent["used"] and ent["entry"].get("dashboard") in titles:
            config_errors.append(f".lint: {ent['rule']} entry {ent['entry']} matches nothing "
                                 f"(stale exclusion)")
    for err in config_errors:
        failures.append(Violation("structure-lint-config", err, "-"))
    for v in failures:
        print(v)
    return failures


# ======================================================================================
# Self-test
# ======================================================================================

def _good_dashboard():
    ds = dict(DATASOURCE_REF)
    sel = 'job=~"$job",instance=~"$instance"'
    return {
        "uid": "selftest-good", "title": "Self test", "schemaVersion": 39, "editable": False,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus"},
            {"name": "job", "label": "Job", "type": "query", "datasource": ds,
             "query": {"query": "label_values(provisioner_build_info, job)"},
             "refresh": 2, "multi": True, "includeAll": True, "allValue": ".+"},
            {"name": "instance", "label": "Instance", "type": "query", "datasource": ds,
             "query": {"query": 'label_values(provisioner_build_info{job=~"$job"}, instance)'},
             "refresh": 2, "multi": True, "includeAll": True, "allValue": ".+"},
        ]},
        "panels": [
            {"id": 1, "type": "timeseries", "title": "Requests", "description": "d",
             "datasource": ds, "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
             "fieldConfig": {"defaults": {"unit": "reqps"}, "overrides": []},
             "targets": [{"datasource": ds, "refId": "A",
                          "expr": f"sum by (status) (rate(http_requests_total{{{sel}}}"
                                  f"[$__rate_interval]))"}]},
            {"id": 2, "type": "stat", "title": "Memory", "description": "d",
             "datasource": ds, "gridPos": {"h": 8, "w": 6, "x": 12, "y": 0},
             "fieldConfig": {"defaults": {"unit": "bytes", "thresholds": {
                 "mode": "absolute", "steps": [{"color": "green", "value": None},
                                               {"color": "red", "value": 1e9}]}},
                 "overrides": []},
             "targets": [{"datasource": ds, "refId": "A",
                          "expr": f"process_resident_memory_bytes{{{sel}}}"}]},
            {"id": 3, "type": "text", "title": "Runbooks", "description": "d",
             "gridPos": {"h": 8, "w": 6, "x": 18, "y": 0},
             "options": {"mode": "markdown", "content": f"[runbooks]({RUNBOOKS_URL})"}},
        ],
    }


def _self_test_parser():
    good = [
        'sum by (le) (rate(x_bucket{a="b"}[5m]))',
        "histogram_quantile(0.9, sum(rate(x_bucket[1m])) by (le))",
        'a / on (job, instance) group_left b * 3600',
        "1 + 2 * 3 ^ 2 ^ 1", "-x", "x offset 5m", "x[5m:1m]", "rate(x[5m] offset 1h)",
        "sum(x) > bool 0", "count_values(\"v\", x)", "topk(3, x)", "x @ 1609746000",
        "vector(0)", "time() - x", "label_replace(x, \"a\", \"$1\", \"b\", \"(.*)\")",
        "x and y", "x unless on (a) y", "{__name__=\"x\"}", "Inf", "(x)", "x or vector(0)",
        "max_over_time(x[1h30m])", "sort_desc(sum by (a) (increase(x[$__range])))",
        "quantile(0.5, x) without (a)", "clamp_min(x, 1)", "round(x)", "round(x, 0.1)",
    ]
    bad = [
        "rate(x)", "rate(x[5])", "sum(x", "x{a=\"b\"", "foo(x)", "x[5m]$", "1 > 2",
        "histogram_quantile(x, y)", "x and 1", "{a=~\".*\"}", "x[5m][5m]", "sum(x[5m])",
        "rate(x[5 m])", "(x)[5m]", "x{a=\"b\" c=\"d\"}", "topk(x)",
        "x + on(a) group_left", "1 and 2", "x{a=~\"(\"}", "x offset", "sum by (a b) (x)",
        "x[5m:1m:1m]", "label_join(x)",
    ]
    for expr in good:
        try:
            parse_promql(expand_variables(expr))
        except PromQLError as e:
            raise AssertionError(f"parser rejected valid {expr!r}: {e}")
    for expr in bad:
        try:
            parse_promql(expand_variables(expr))
        except PromQLError:
            continue
        raise AssertionError(f"parser accepted invalid {expr!r}")
    return len(good) + len(bad)


def _mutations():
    """(name, expected rule, mutate(dashboard)) — each must trigger its rule."""
    ds_other = {"type": "prometheus", "uid": "prom-1"}

    def panel(d, i=0):
        return d["panels"][i]

    def var(d, name):
        return next(v for v in d["templating"]["list"] if v["name"] == name)

    def set_expr(expr, i=0):
        def f(d):
            panel(d, i)["targets"][0]["expr"] = expr
        return f

    def chain(*fs):
        def f(d):
            for g in fs:
                g(d)
        return f

    sel = 'job=~"$job",instance=~"$instance"'
    return [
        ("no datasource variable", "template-datasource-rule",
         lambda d: d["templating"]["list"].pop(0)),
        ("datasource variable misnamed", "template-datasource-rule",
         lambda d: var(d, "datasource").update(name="ds")),
        ("datasource variable mislabeled", "template-datasource-rule",
         lambda d: var(d, "datasource").update(label="Source")),
        ("no job variable", "template-job-rule",
         lambda d: d["templating"]["list"].pop(1)),
        ("job variable not multi", "template-job-rule",
         lambda d: var(d, "job").update(multi=False)),
        ("job allValue .*", "template-job-rule",
         lambda d: var(d, "job").update(allValue=".*")),
        ("job variable fixed datasource", "template-job-rule",
         lambda d: var(d, "job").update(datasource=ds_other)),
        ("job variable custom type", "template-job-rule",
         lambda d: var(d, "job").update(type="custom")),
        ("no instance variable", "template-instance-rule",
         lambda d: d["templating"]["list"].pop(2)),
        ("instance label lowercase", "template-instance-rule",
         lambda d: var(d, "instance").update(label="instance")),
        ("variable query not a label function", "template-label-promql-rule",
         lambda d: var(d, "job").update(query={"query": "up"})),
        ("variable query bad PromQL", "template-label-promql-rule",
         lambda d: var(d, "instance").update(
             query={"query": "label_values(up{job=~\"$job\", instance)"})),
        ("variable refresh on load", "template-on-time-change-reload-rule",
         lambda d: var(d, "job").update(refresh=1)),
        ("timeseries fixed datasource", "panel-datasource-rule",
         lambda d: panel(d).update(datasource=ds_other)),
        ("no description", "panel-title-description-rule",
         lambda d: panel(d).update(description="")),
        ("no unit", "panel-units-rule",
         lambda d: panel(d)["fieldConfig"]["defaults"].pop("unit")),
        ("invalid unit", "panel-units-rule",
         lambda d: panel(d)["fieldConfig"]["defaults"].update(unit="seconds")),
        ("no targets", "panel-no-targets-rule", lambda d: panel(d).pop("targets")),
        ("unparsable expr", "target-promql-rule",
         set_expr(f"sum(rate(http_requests_total{{{sel}}}[$__rate_interval])")),
        ("unknown function", "target-promql-rule",
         set_expr(f"ratee(http_requests_total{{{sel}}}[$__rate_interval])")),
        ("empty expr", "target-promql-rule", set_expr("")),
        ("rate over fixed 5m", "target-rate-interval-rule",
         set_expr(f"rate(http_requests_total{{{sel}}}[5m])")),
        ("irate over $__interval", "target-rate-interval-rule",
         set_expr(f"irate(http_requests_total{{{sel}}}[$__interval])")),
        ("no job matcher", "target-job-rule",
         set_expr('rate(http_requests_total{instance=~"$instance"}[$__rate_interval])')),
        ("job equality matcher", "target-job-rule",
         set_expr('rate(http_requests_total{job="provisioner",instance=~"$instance"}'
                  '[$__rate_interval])')),
        ("job matcher in one of two selectors", "target-job-rule",
         set_expr(f'rate(http_requests_total{{{sel}}}[$__rate_interval]) / '
                  f'rate(process_cpu_seconds_total{{instance=~"$instance"}}[$__rate_interval])')),
        ("no instance matcher", "target-instance-rule",
         set_expr('rate(http_requests_total{job=~"$job"}[$__rate_interval])')),
        ("instance via ${instance}", "target-instance-rule",
         set_expr('rate(http_requests_total{job=~"$job",instance=~"${instance}"}'
                  '[$__rate_interval])')),
        ("bare counter", "target-counter-agg-rule",
         set_expr(f"http_requests_total{{{sel}}}")),
        ("counter in max_over_time", "target-counter-agg-rule",
         set_expr(f"max_over_time(http_requests_total{{{sel}}}[1h])")),
        ("loki target", "target-logql-rule",
         lambda d: panel(d)["targets"][0].update(
             datasource={"type": "loki", "uid": "${datasource}"}, expr='{job="x"}')),
        ("loki fixed range", "target-logql-auto-rule",
         lambda d: panel(d)["targets"][0].update(
             datasource={"type": "loki", "uid": "${datasource}"},
             expr='rate({job="x"}[5m])')),
        ("editable", "uneditable-dashboard", lambda d: d.update(editable=True)),
        ("no editable key", "uneditable-dashboard", lambda d: d.pop("editable")),
        # structural
        ("no title", "structure-title", lambda d: d.update(title="")),
        ("no panels", "structure-json", lambda d: d.update(panels=[])),
        ("uid too long", "structure-uid", lambda d: d.update(uid="x" * 41)),
        ("schemaVersion 16", "structure-schema-version", lambda d: d.update(schemaVersion=16)),
        ("__inputs", "structure-no-inputs", lambda d: d.update(__inputs=[])),
        ("DS_ placeholder", "structure-no-inputs",
         lambda d: panel(d).update(datasource={"type": "prometheus",
                                               "uid": "${DS_PROMETHEUS}"})),
        ("no time range", "structure-time", lambda d: d.pop("time")),
        ("graph panel", "structure-panel-type", lambda d: panel(d).update(type="graph")),
        ("duplicate panel id", "structure-panel-id", lambda d: panel(d, 1).update(id=1)),
        ("no gridPos", "structure-gridpos", lambda d: panel(d).pop("gridPos")),
        ("too wide", "structure-gridpos",
         lambda d: panel(d)["gridPos"].update(x=20, w=12)),
        ("overlap", "structure-gridpos-overlap",
         lambda d: panel(d, 1)["gridPos"].update(x=6)),
        ("stat fixed datasource", "structure-panel-datasource",
         lambda d: panel(d, 1).update(datasource=ds_other)),
        ("target fixed datasource", "structure-target-datasource",
         lambda d: panel(d)["targets"][0].update(datasource=ds_other)),
        ("target $datasource string", "structure-target-datasource",
         lambda d: panel(d)["targets"][0].update(datasource="$datasource")),
        ("duplicate refId", "structure-target-refid",
         lambda d: panel(d)["targets"].append(dict(panel(d)["targets"][0]))),
        ("stat with mappings but no unit", "structure-panel-unit",
         chain(lambda d: panel(d, 1)["fieldConfig"]["defaults"].pop("unit"),
               lambda d: panel(d, 1)["fieldConfig"]["defaults"].update(
                   mappings=[{"type": "value", "options": {}}]))),
        ("bargauge without unit", "structure-panel-unit",
         chain(lambda d: panel(d, 1).update(type="bargauge"),
               lambda d: panel(d, 1)["fieldConfig"]["defaults"].pop("unit"))),
        ("text panel without description", "structure-panel-description",
         lambda d: panel(d, 2).pop("description")),
        ("stat without thresholds", "structure-thresholds",
         lambda d: panel(d, 1)["fieldConfig"]["defaults"].pop("thresholds")),
        ("descending thresholds", "structure-thresholds",
         lambda d: panel(d, 1)["fieldConfig"]["defaults"]["thresholds"]["steps"].append(
             {"color": "blue", "value": 5})),
        ("workspace variable fixed datasource", "structure-variable-datasource",
         lambda d: d["templating"]["list"].append(
             {"name": "workspace", "label": "Workspace", "type": "query",
              "datasource": ds_other, "refresh": 2,
              "query": {"query": "label_values(provisioner_workspace_deployed, workspace)"}})),
        ("unknown metric", "structure-metric-known",
         set_expr(f"sum(rate(provisioner_deployments_succeeded_total{{{sel}}}"
                  f"[$__rate_interval]))")),
        ("old savings name", "structure-metric-known",
         set_expr(f"increase(provisioner_estimated_savings_hours_total{{{sel}}}[1h])")),
        ("bare histogram name", "structure-metric-known",
         set_expr(f"provisioner_deployment_duration_seconds{{{sel}}} > 1800", 1)),
        ("no runbook link", "structure-runbook-link",
         lambda d: panel(d, 2)["options"].update(content="nothing")),
    ]


def self_test(metrics_doc):
    metrics = known_metrics(metrics_doc) if metrics_doc else {
        "http_requests_total", "process_resident_memory_bytes", "up",
        "process_cpu_seconds_total", "provisioner_build_info",
        "provisioner_workspace_deployed"}
    n_parser = _self_test_parser()
    base = lint_dashboard(_good_dashboard(), "self-test", metrics)
    assert not base, "the good dashboard must pass:\n" + "\n".join(map(str, base))
    covered, failed = set(), []
    for name, rule, mutate in _mutations():
        d = copy.deepcopy(_good_dashboard())
        mutate(d)
        found = lint_dashboard(d, "self-test", metrics)
        rules = {v.rule for v in found}
        if rule in rules:
            covered.add(rule)
        else:
            failed.append(f"{name}: expected [{rule}], got {sorted(rules) or 'nothing'}")
    # Exclusions: an entry hides exactly the violation it names and nothing else.
    d = copy.deepcopy(_good_dashboard())
    d["panels"][1]["targets"][0]["expr"] = 'provisioner_jobs_running_total{job=~"$job",' \
                                           'instance=~"$instance"}'
    found = lint_dashboard(d, "self-test", metrics | {"provisioner_jobs_running_total"})
    entries = [{"section": "exclusions", "rule": "target-counter-agg-rule", "used": False,
                "entry": {"dashboard": "Self test", "panel": "Memory", "targetIdx": "0",
                          "reason": "a level"}}]
    kept, _ = apply_exclusions(found, entries)
    if [v.rule for v in found] != ["target-counter-agg-rule"] or kept or \
            not entries[0]["used"]:
        failed.append("exclusion did not hide exactly its violation")
    other = [{"section": "exclusions", "rule": "target-counter-agg-rule", "used": False,
              "entry": {"dashboard": "Self test", "panel": "Memory", "reason": "x",
                        "metric": "provisioner_templates_total"}}]
    kept, _ = apply_exclusions(found, other)
    if len(kept) != 1 or other[0]["used"]:
        failed.append("exclusion for another metric hid a violation")
    wrong = [{"section": "exclusions", "rule": "target-counter-agg-rule", "used": False,
              "entry": {"dashboard": "Self test", "panel": "Requests", "reason": "x"}}]
    kept, _ = apply_exclusions(found, wrong)
    if len(kept) != 1 or wrong[0]["used"]:
        failed.append("exclusion for another panel hid a violation")
    # .lint files: JSON only, a reason and entries for every exclusion, known rules.
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        cases = [('exclusions: {}', "must be JSON"),
                 ('{"exclusions": {"target-counter-agg-rule": {"entries": '
                  '[{"dashboard": "D", "panel": "P"}]}}}', "has no reason"),
                 ('{"exclusions": {"target-counter-agg-rule": {"reason": "r"}}}',
                  "must list its entries"),
                 ('{"exclusions": {"no-such-rule": {"reason": "r", "entries": [{}]}}}',
                  "unknown rule")]
        for text, want in cases:
            path = os.path.join(tmp, ".lint")
            with open(path, "w") as f:
                f.write(text)
            _, errors = load_lint_config(path)
            if not any(want in e for e in errors):
                failed.append(f".lint {text!r}: expected an error containing {want!r}, "
                              f"got {errors}")
        covered.add("structure-lint-config")
    missing = set(LINTER_RULES + STRUCTURE_RULES) - covered
    if missing:
        failed.append(f"rules without a self-test case: {sorted(missing)}")
    if failed:
        print("self-test FAILED:")
        for f in failed:
            print("  " + f)
        return 1
    print(f"self-test ok: parser {n_parser} cases, {len(_mutations())} bad dashboards, "
          f"{len(covered)} rules each caught their violation, exclusions ok")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="dashboard JSON files (default: all)")
    ap.add_argument("--metrics-doc", help="docs/metrics.md for the metric-name check "
                                          "(default: the repository's)")
    ap.add_argument("--no-metrics-doc", action="store_true", help="skip the metric-name check")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--list-rules", action="store_true")
    args = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` is fine
    files, doc = default_paths()
    doc = None if args.no_metrics_doc else (args.metrics_doc or doc)
    if args.list_rules:
        print("\n".join(LINTER_RULES + STRUCTURE_RULES))
        return 0
    if args.self_test:
        return self_test(doc)
    files = args.files or files
    if not files:
        print("no dashboards found", file=sys.stderr)
        return 1
    failures = run(files, doc)
    if failures:
        print(f"FAIL: {len(failures)} violation(s)")
        return 1
    print(f"OK: {len(files)} dashboard(s), no violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
