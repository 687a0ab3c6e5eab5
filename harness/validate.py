"""What ``paychaos validate`` checks beyond the loader: all that can be checked without running.

:func:`~paychaos.experiment.load_experiment` checks the files and every name in them, and stays
fast and free of the user's code, because every run calls it too. A run could still die minutes
in, with the stack up, on what the files only name. :func:`deep_check` looks at that now:

- the target's scenario module (``load.module``) imports, holds ``SCENARIOS`` with every
  scenario target.yaml and the experiment name, and a ``payment_of`` function;
- each ``python`` invariant's module imports and holds its function;
- each ``sql`` invariant over the evidence is one SELECT that parses and reads only evidence
  tables (and, where it names a column through a table, that table's columns); the target's
  evidence and coverage queries are one SELECT that parses (they read the target's own
  tables, which validate cannot know).

Importing a module runs it, so every import happens in a child process of its own, with a time
limit: a module that hangs, exits or crashes is a located problem, never the end of validate.
Nothing the modules hold is called: no scenario, no invariant.

:func:`connect_check` (``--connect``) goes one step further, to what a run would reach, starting
nothing: the Toxiproxy and the PostgreSQL given, the containers the faults name, and the proxies
of the Toxiproxies links go through (``toxiproxy:`` in target.yaml).

>>> file = load_experiment("experiments/hello.yaml", invariants=REGISTRY)  # doctest: +SKIP
>>> deep_check(file)                                                       # doctest: +SKIP
[]
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError

from paychaos._evidence_tables import RUN_TABLES, TABLES
from paychaos._process import parent_death_signal, tail
from paychaos._yaml import Located, format_loc, load_yaml
from paychaos.errors import InvalidInput, did_you_mean
from paychaos.experiment import ExperimentFile
from paychaos.faults.kinds import FaultSpec

IMPORT_TIMEOUT = 15.0
"""Longest an import of a user's module may take before validate calls it hanging, in seconds."""

_SECRET = secrets.token_hex(16)  # {secret} in the target's env, as a run fills it: what the load sees
Columns = Sequence[tuple[str, str, str]]
EVIDENCE: dict[str, Columns] = {**TABLES, **RUN_TABLES}
"""Every table an ``sql`` invariant without ``database`` may read, with its columns."""


def deep_check(file: ExperimentFile, *, importer: Importer | None = None) -> list[str]:
    """Every problem a run of ``file`` would meet in what the files name, each located; [] if none."""
    importer = importer or Importer()
    experiment_at, target_at = load_yaml(file.path), load_yaml(file.target.source)
    return [
        *_scenario_module(file, experiment_at, target_at, importer),
        *_python_invariants(file, experiment_at, importer),
        *_sql_invariants(file, experiment_at),
        *_target_queries(file, target_at),
        *_unfaultable_links(file, experiment_at),
    ]


# -- importing the user's modules, each in a child process ----------------------------------


@dataclass(frozen=True)
class Imported:
    """What a child process found importing one module."""

    module: str
    origin: str | None = None  # the module's file, once it was found
    problem: str | None = None  # why it cannot be imported, in one line
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # the names asked for that it has
    callables: tuple[str, ...] = ()  # its public functions (and classes), for did-you-mean

    @property
    def shown(self) -> str:
        return f"{self.module} ({self.origin})" if self.origin else self.module


# The child: stdlib only. It writes what it found before the import (the module's file, for a
# hang) and after it, then ends at once: no atexit handler or thread of the module's holds it.
_PROBE = r"""
import importlib, importlib.util, json, os, sys, traceback
from collections.abc import Mapping

def said(exc):
    if isinstance(exc, SystemExit):
        return "called exit()" if exc.code is None else f"called exit({exc.code!r})"
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"raised {last} (at {exc.filename}:{exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    return f"raised {last}" + (f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else "")

def describe(value):
    found = {"type": type(value).__name__, "callable": callable(value)}
    if isinstance(value, Mapping):
        found["keys"] = [str(k) for k in value]
        found["uncallable"] = {str(k): type(v).__name__ for k, v in value.items() if not callable(v)}
    return found

def write(found):
    with open(out + ".tmp", "w") as f:
        json.dump(found, f)
    os.replace(out + ".tmp", out)

name, out, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
found = {"done": False}
try:
    spec = importlib.util.find_spec(name)
    if spec is None:
        found["missing"] = name
except ModuleNotFoundError as exc:
    if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
        found["missing"] = exc.name
    else:
        found["error"] = said(exc)
except BaseException as exc:
    found["error"] = said(exc)
else:
    if spec is not None:
        found["origin"] = spec.origin
        write(found)
        try:
            module = importlib.import_module(name)
            found["attrs"] = {a: describe(getattr(module, a)) for a in wanted if hasattr(module, a)}
            found["callables"] = sorted(k for k, v in vars(module).items() if k[:1] != "_" and callable(v))
        except BaseException as exc:
            found["error"] = said(exc)
found["done"] = True
write(found)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""


class Importer:
    """Imports modules in child processes, each module once, each within ``timeout`` seconds.

    >>> found = Importer(timeout=5)("paychaos_targets.paystack.scenarios", ["SCENARIOS"])  # doctest: +SKIP
    >>> found.problem, sorted(found.attrs["SCENARIOS"]["keys"])[:2]               # doctest: +SKIP
    (None, ['credit_pay', 'credit_rush'])
    """

    def __init__(self, timeout: float = IMPORT_TIMEOUT) -> None:
        self.timeout = timeout
        self._seen: dict[tuple[Any, ...], Imported] = {}

    def __call__(
        self,
        module: str,
        wanted: Sequence[str],
        *,
        cwd_first: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> Imported:
        """``cwd_first``: the current folder first on the path, as the Locust process has it (the
        ``python`` invariants' processes have the harness's own path). ``env`` is added to ours."""
        key = (module, tuple(wanted), cwd_first, tuple(sorted((env or {}).items())))
        if key not in self._seen:
            self._seen[key] = self._import(module, wanted, cwd_first, env or {})
        return self._seen[key]

    def _import(
        self, module: str, wanted: Sequence[str], cwd_first: bool, env: Mapping[str, str]
    ) -> Imported:
        path = [os.getcwd(), *sys.path] if cwd_first else sys.path
        pythonpath = os.pathsep.join(dict.fromkeys(os.path.abspath(p) for p in path))
        with tempfile.TemporaryDirectory(prefix="paychaos-validate-") as private:
            out, log = Path(private, "found.json"), Path(private, "output.log")
            with open(log, "wb") as output:
                child = subprocess.Popen(
                    [sys.executable, "-P", "-c", _PROBE, module, str(out), *wanted],
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    env={**os.environ, **env, "PYTHONPATH": pythonpath},
                    start_new_session=True, preexec_fn=parent_death_signal(signal.SIGKILL),
                )  # fmt: skip
            # A pidfd waits for the end without reaping, so the child's pid still names its
            # process group below: whatever the module started goes with it.
            pidfd = os.pidfd_open(child.pid)
            try:
                ended = bool(select.select([pidfd], [], [], self.timeout)[0])
            finally:
                os.close(pidfd)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            code = child.wait()
            try:
                found = json.loads(out.read_text())
            except (OSError, ValueError):
                found = {}
            last = tail(log, 1)
        origin = found.get("origin")
        if not ended:
            problem = (f"importing it did not finish within {self.timeout:g}s; importing a module must not "
                       "wait or loop (move such work into a function)")  # fmt: skip
        elif found.get("done"):
            problem = f"no module named {found['missing']!r}" if "missing" in found else found.get("error")
        elif code < 0:
            problem = f"its process was killed by {signal.Signals(-code).name} while importing it"
        else:
            problem = f"importing it ended the process (exit code {code}; os._exit?); its output ends: {last}"
        return Imported(
            module, origin, problem, found.get("attrs", {}) if problem is None else {},
            tuple(found.get("callables", ())),
        )  # fmt: skip


# -- the scenario module and python invariants -----------------------------------------------


def _scenario_module(file: ExperimentFile, experiment_at: Located, target_at: Located,
                     importer: Importer) -> Iterator[str]:  # fmt: skip
    load = file.target.load
    if load is None or load.module is None:
        return  # every scenario has steps in target.yaml, which its loader checked
    where = f"{target_at.where(('load', 'module'))}: load.module"
    env = {k: v.replace("{secret}", _SECRET) for k, v in file.target.env.items()}
    found = importer(load.module, ("SCENARIOS", "payment_of"), cwd_first=True, env=env)
    if found.problem is not None:
        yield (f"{where}: cannot import {found.shown}: {found.problem}; the load imports it the same way "
               "(from the current folder and PYTHONPATH): fix the module or the name")  # fmt: skip
        return
    # The scenarios without steps are the module's functions of the same name.
    python = [name for name, scenario in load.scenarios.items() if scenario.steps is None]
    named = [(target_at, name) for name in python]
    named += [(experiment_at, name) for name in file.experiment.load.scenarios or {} if name in python]
    scenarios = found.attrs.get("SCENARIOS")
    if scenarios is None and python:
        yield (f"{where}: {found.shown} has no SCENARIOS, where the load finds {', '.join(python)}; add "
               "SCENARIOS = {name: function}, each function taking a Context (paychaos.load)")  # fmt: skip
    elif scenarios is not None and "keys" not in scenarios:
        yield (f"{where}: {found.shown}: SCENARIOS is a {scenarios['type']}, not a mapping; write "
               "SCENARIOS = {name: function}, each function taking a Context (paychaos.load)")  # fmt: skip
    elif scenarios is not None:
        for name, kind in scenarios["uncallable"].items():
            yield f"{where}: {found.shown}: SCENARIOS[{name!r}] is a {kind}, not a function taking a Context"
        known = scenarios["keys"]
        for located, name in named:
            if name not in known:
                listed = ", ".join(sorted(known)) or "none"
                at = located.where(("load", "scenarios", name), key=True)
                yield (f"{at}: load.scenarios.{name}: no steps, and no {name!r} in the SCENARIOS of "
                       f"{found.shown}; it has: {listed}{did_you_mean(name, known)}")  # fmt: skip
    payment_of = found.attrs.get("payment_of")
    if load.payment is None and (payment_of is None or not payment_of["callable"]):
        what = "has no payment_of" if payment_of is None else f"holds payment_of as a {payment_of['type']}"
        yield (f"{where}: {found.shown} {what}, and target.yaml gives no load.payment; add def "
               "payment_of(body), which returns the payment id and state an answer's body carries "
               "((None, None) when none), for the history")  # fmt: skip


def _param(located: Located, i: int, name: str, key: str) -> tuple[str, str]:
    """Where the parameter ``key`` of invariant ``i`` is, and its dotted name, as the loader says them."""
    item = located.data["invariants"][i] if isinstance(located.data, dict) else None
    loc = ("invariants", i, "params" if isinstance(item, dict) and "params" in item else name, key)
    return located.where(loc), f"{format_loc(loc[:2])}.{name}.{key}"


def _python_invariants(file: ExperimentFile, located: Located, importer: Importer) -> Iterator[str]:
    for i, spec in enumerate(file.experiment.invariants):
        if spec.name != "python":
            continue
        where, name = _param(located, i, spec.name, "function")
        module, _, function = str(spec.params["function"]).partition(":")  # the loader checked the form
        found = importer(module, (function,))
        if found.problem is not None:
            yield (f"{where}: {name}: cannot import {found.shown}: {found.problem}; make it importable "
                   "where paychaos runs (from its package's folder, or set PYTHONPATH)")  # fmt: skip
        elif function not in found.attrs:
            listed = ", ".join(found.callables) or "none"
            yield (f"{where}: {name}: {found.shown} has no {function!r}; its functions: {listed}"
                   f"{did_you_mean(function, found.callables)}")  # fmt: skip
        elif not found.attrs[function]["callable"]:
            kind = found.attrs[function]["type"]
            yield f"{where}: {name}: {module}.{function} is a {kind}, not a function taking the evidence"


# -- SQL ---------------------------------------------------------------------------------------


def _sql_invariants(file: ExperimentFile, located: Located) -> Iterator[str]:
    for i, spec in enumerate(file.experiment.invariants):
        if spec.name != "sql":
            continue
        database = spec.params.get("database")
        known = file.target.postgres.databases if file.target.postgres else []
        if database is not None and database not in known:
            at, said = _param(located, i, spec.name, "database")
            listed = ", ".join(known) or "none (it declares no postgres databases)"
            yield (f"{at}: {said}: unknown database {database!r}; the target's: {listed}"
                   f"{did_you_mean(str(database), known)}")  # fmt: skip
        where, name = _param(located, i, spec.name, "query")
        # With a database, it reads the target's own tables, which validate cannot know: the query
        # is still checked to be one SELECT that parses and writes nothing.
        tables = EVIDENCE if database is None else None
        for problem in sql_problems(str(spec.params["query"]), tables=tables):
            yield f"{where}: {name}: {problem}"


def _target_queries(file: ExperimentFile, located: Located) -> Iterator[str]:
    evidence = file.target.evidence
    queries: list[tuple[tuple[str, ...], str | None, str]] = [
        (("evidence", "tables", n, "query"), t.query, t.source) for n, t in evidence.tables.items()
    ]
    queries += [(("coverage", n, "query"), c.query, c.source) for n, c in file.target.coverage.items()]
    for loc, query, source in queries:
        found = evidence.sources.get(source)
        if query and found is not None and found.kind == "sql":
            for problem in sql_problems(query):
                yield f"{located.where(loc)}: {format_loc(loc)}: {problem}"


def sql_problems(query: str, *, tables: Mapping[str, Columns] | None = None) -> list[str]:
    """Why ``query`` is not a single SELECT that parses, and, given ``tables``, one that reads only those.

    >>> sql_problems("SELECT * FROM debit", tables=EVIDENCE)
    ["reads 'debit', which is no evidence table; ...; did you mean 'debits'?"]
    """
    try:
        statements = parse_sql(query)
    except ParseError as exc:
        return [_syntax(query, exc)]
    if len(statements) != 1:
        found = f"{len(statements)} statements" if statements else "no statement"
        return [f"holds {found}; write one SELECT (or WITH … SELECT)"]
    statement = statements[0].stmt
    if not isinstance(statement, ast.SelectStmt):
        word = query[statements[0].stmt_location or 0 :].split(maxsplit=1)[0].upper()
        if word == "WITH":  # WITH … INSERT, UPDATE, DELETE, MERGE
            word = f"WITH … {type(statement).__name__.removesuffix('Stmt').upper()}"
        return [f"is {word} …, not a SELECT; write one SELECT (or WITH … SELECT): it only reads"]
    nodes = list(_nodes(statement))
    problems = [*_writes(nodes, query)]
    if tables is not None:
        problems += _reads(nodes, tables)
    return list(dict.fromkeys(problems))


def _syntax(query: str, exc: ParseError) -> str:
    message, at = exc.args[0], exc.args[1] if len(exc.args) > 1 else None
    if not isinstance(at, int):
        return f"does not parse: {message}"
    before = query[:at]  # a character offset, from 0
    line = before.count("\n") + 1
    column = at - (before.rfind("\n") + 1) + 1
    text = query.split("\n")[line - 1].strip()
    shown = text if len(text) <= 80 else text[:77] + "..."
    return f"does not parse: {message}, at line {line}, column {column} of the query: {shown!r}"


def _nodes(value: object) -> Iterator[ast.Node]:
    """Every node of a parse tree, but those under FOR UPDATE OF (names there are aliases)."""
    if isinstance(value, ast.Node) and not isinstance(value, ast.LockingClause):
        yield value
        for member in value:
            yield from _nodes(getattr(value, member))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _nodes(item)


def _writes(nodes: list[ast.Node], query: str) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, ast.CommonTableExpr) and not isinstance(node.ctequery, ast.SelectStmt):
            word = type(node.ctequery).__name__.removesuffix("Stmt").upper()
            yield f"WITH {node.ctename} AS ({word} …) writes; the query only reads"
        if isinstance(node, ast.SelectStmt) and node.intoClause is not None:
            yield "SELECT … INTO creates a table; the query only reads: remove INTO"


_CATALOGS = ("pg_catalog", "information_schema")
# Names after "alias." that are no column but still run: system columns, and functions called on
# the whole row in PostgreSQL's functional notation (d.row_to_json is row_to_json(d)).
_NOT_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "row_to_json", "to_json",
                          "to_jsonb", "text"})  # fmt: skip


def _reads(nodes: list[ast.Node], tables: Mapping[str, Columns]) -> Iterator[str]:
    ctes = {str(n.ctename) for n in nodes if isinstance(n, ast.CommonTableExpr)}
    aliases: dict[str, str | None] = {}  # a name before a dot -> the evidence table it surely means

    def names(name: str, table: str | None) -> None:
        aliases[name] = table if aliases.get(name, table) == table else None

    for node in nodes:
        if isinstance(node, ast.RangeVar):
            schema, name = node.schemaname, str(node.relname)
            cte = schema is None and name in ctes
            evidence = schema in (None, "public") and name in tables and not cte
            catalog = schema in _CATALOGS or (schema is None and name.startswith("pg_"))  # on the path first
            if not (evidence or cte or catalog):
                shown = f"{schema}.{name}" if schema else name
                known = sorted(tables)
                yield (f"reads {shown!r}, which is no evidence table; without 'database' an sql "
                       f"invariant reads the evidence tables: {', '.join(known)}"
                       f"{did_you_mean(name, known)}")  # fmt: skip
            alias = node.alias
            renamed = alias is not None and bool(alias.colnames)  # AS d(a, b): columns of its own names
            names(str(alias.aliasname) if alias else name, name if evidence and not renamed else None)
        elif isinstance(node, ast.CommonTableExpr):
            names(str(node.ctename), None)
        elif isinstance(alias := getattr(node, "alias", None), ast.Alias):  # subqueries, functions, joins
            names(str(alias.aliasname), None)
    for node in nodes:
        fields = node.fields if isinstance(node, ast.ColumnRef) else None
        if not fields or len(fields) != 2 or not all(isinstance(f, ast.String) for f in fields):
            continue  # unqualified, d.*, schema.table.column
        qualifier, column = (str(f.sval) for f in fields)
        table = aliases.get(qualifier)
        known = [c for c, _, _ in tables[table]] if table else []
        if table and column not in known and column not in _NOT_COLUMNS:
            yield (f"{qualifier}.{column}: {table} has no column {column!r}; it has: {', '.join(known)}"
                   f"{did_you_mean(column, known)}")  # fmt: skip


# -- --connect -------------------------------------------------------------------------------


@dataclass
class Reached:
    """What ``--connect`` checked (a line each) and the problems it found."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def connect_check(
    files: Sequence[ExperimentFile],
    *,
    toxiproxy: str | None = None,
    db: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Reached:
    """Reach what a run of ``files`` would use, starting nothing: the Toxiproxy given (``toxiproxy``
    or ``TOXIPROXY_URL``), the PostgreSQL given (``db``), the containers their faults name, the
    health of the url services, and the Compose command, file and images of the compose services.

    >>> connect_check([file], db="postgresql://postgres@127.0.0.1:5432").checked  # doctest: +SKIP
    ['Toxiproxy: none given; a run starts its own', 'PostgreSQL at 127.0.0.1:5432 as postgres: ...']
    """
    reached = Reached()
    _toxiproxy(reached, toxiproxy, (os.environ if env is None else env).get("TOXIPROXY_URL"))
    _postgres(reached, db)
    _fault_targets(reached, files)
    _remote_links(reached, files)
    _target_services(reached, files)
    return reached


def _toxiproxy(reached: Reached, given: str | None, from_env: str | None) -> None:
    import httpx

    from paychaos.faults import ToxiproxyClient

    url, source = (given, "--toxiproxy") if given else (from_env, "TOXIPROXY_URL")
    if not url:
        reached.checked.append("Toxiproxy: none given (--toxiproxy, TOXIPROXY_URL); a run starts its own")
        return
    try:
        with ToxiproxyClient(url, timeout=5) as client:
            version = client.version() if client.reachable() else None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        version, url = None, f"{url} ({exc})"
    if version is None:
        reached.problems.append(f"{source}: the Toxiproxy at {url} does not answer; start it, fix the URL, "
                                "or leave it out to let a run start its own")  # fmt: skip
    else:
        reached.checked.append(f"Toxiproxy at {url} (from {source}): answers, version {version}")


def _postgres(reached: Reached, db: str | None) -> None:
    from paychaos.invariants import EvidenceUnavailable, read_only
    from paychaos.postgres import external

    if not db:
        reached.checked.append("PostgreSQL: none given (--db); a run starts an embedded one")
        return
    try:
        server = external(db)
    except InvalidInput as exc:
        reached.problems.append(str(exc))
        return
    at = f"PostgreSQL at {server.host}:{server.port} as {server.user}"
    sql = ("SELECT version() AS version, (SELECT rolsuper OR rolcreatedb FROM pg_roles "
           "WHERE rolname = current_user) AS creates")  # fmt: skip
    try:
        (row,) = read_only(server.dsn("postgres"), sql, where=f"--db: {at}", timeout=10, connect_timeout=5)
    except EvidenceUnavailable as exc:
        reached.problems.append(f"{exc}; start it, or fix the URL")
        return
    reached.checked.append(f"{at}: connects ({str(row['version']).split(',')[0]})")
    if not row["creates"]:
        reached.problems.append(f"--db: {at}: the role may not create databases, and a run creates its own "
                                "there; give a role with CREATEDB")  # fmt: skip


def _remote_links(reached: Reached, files: Sequence[ExperimentFile]) -> None:
    """Each link through a Toxiproxy the user runs (``toxiproxy:``): it answers and has the proxy."""
    from paychaos.errors import InfrastructureError
    from paychaos.faults import LinkProxies, ToxiproxyClient

    targets = {file.target.source: file.target for file in files}
    for source, target in targets.items():
        for name, link in target.links.items():
            if link.toxiproxy is None:
                continue
            at = ("links", name, "toxiproxy")
            url, proxy = link.toxiproxy.url, link.toxiproxy.proxy
            with ToxiproxyClient(url, timeout=5) as client:
                if not client.reachable():
                    reached.problems.append(
                        f"{load_yaml(source).where((*at, 'url'))}: {format_loc((*at, 'url'))}: the Toxiproxy "
                        f"at {url} does not answer; start it, or fix the URL (a run uses it as it is)"
                    )
                    continue
                try:
                    found = LinkProxies.lookup(client, proxy)
                except InfrastructureError as exc:
                    reached.problems.append(f"{load_yaml(source).where((*at, 'proxy'))}: "
                                            f"{format_loc((*at, 'proxy'))}: {exc}")  # fmt: skip
                    continue
            others = f"; toxics on it now, left alone: {', '.join(found.toxics)}" if found.toxics else ""
            reached.checked.append(f"{source}: links.{name}: {found.describe()}{others}")


def _fault_targets(reached: Reached, files: Sequence[ExperimentFile]) -> None:
    """What each kind of fault says about what it would act on (containers exist, …)."""
    for file in files:
        by_kind: dict[type[FaultSpec], list[tuple[int, FaultSpec]]] = {}
        for i, fault in enumerate(file.experiment.faults):
            if not _in_the_runs_project(reached, file, i, fault):
                by_kind.setdefault(type(fault), []).append((i, fault))
        for kind, faults in by_kind.items():
            for found in kind.connect_check(faults):
                path = ("faults", found.index, *((found.key,) if found.key else ()))
                place = f"faults[{found.index}]" + (f".{found.key}" if found.key else "")
                if found.found:
                    reached.checked.append(f"{file.path}: {place}: {found.said}")
                else:
                    reached.problems.append(f"{load_yaml(file.path).where(path)}: {place}: {found.said}")


# -- the target's services: attached (url) and Compose ones ----------------------------------------


def _unfaultable_links(file: ExperimentFile, located: Located) -> Iterator[str]:
    """Faults on a link whose source is a url service, which paychaos cannot route through a proxy."""
    for i, fault in enumerate(file.experiment.faults):
        link = getattr(fault, "link", None)  # link faults and http faults
        if isinstance(link, str) and (why := file.target.unfaultable_link(link)) is not None:
            yield f"{located.where(('faults', i, 'link'))}: faults[{i}].link: {why}"


def _in_the_runs_project(reached: Reached, file: ExperimentFile, index: int, fault: FaultSpec) -> bool:
    """A fault on a compose service's container (a kind that says so, with ``compose_service``) acts
    on the run's own container, which only the run makes: nothing to look for now."""
    names = getattr(fault, "compose_service", None)
    service = names(file.target) if callable(names) else None
    if service is not None:
        reached.checked.append(f"{file.path}: faults[{index}].container: Compose service {service} of the "
                               "run's own project, brought up by the run")  # fmt: skip
    return service is not None


def _target_services(reached: Reached, files: Sequence[ExperimentFile]) -> None:
    """Each url service answers its health check; the Compose project could come up (see
    :func:`paychaos.system._compose.connect_check`)."""
    from paychaos.system._compose import connect_check as compose_check

    targets = {file.target.source: file.target for file in files}
    for source, target in targets.items():
        located = load_yaml(source)
        for name in target.services_of("url"):
            spec = target.services[name]
            health = f"{spec.url.rstrip('/') if spec.url else ''}{spec.health}"
            if _answers(health):
                reached.checked.append(f"{source}: services.{name}: {health} answers")
            else:
                where = located.where(("services", name, "url"))
                reached.problems.append(f"{where}: services.{name}.url: GET {health} answers no 2xx within "
                                        "5s; paychaos only attaches to a url service: start it, or fix its "
                                        "url or health")  # fmt: skip
        found, problems = compose_check(target)
        reached.checked += [f"{source}: compose: {line}" for line in found]
        where = located.where(("compose",))
        reached.problems += [f"{where}: compose: {problem}" for problem in problems]


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=5).is_success
    except (httpx.HTTPError, httpx.InvalidURL):
        return False
