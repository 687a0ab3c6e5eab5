"""Loading ``target.yaml``: schema validation, then every cross-reference checked and located."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from paychaos._yaml import Located, format_loc, load_yaml, validate_located
from paychaos.errors import InvalidInput, did_you_mean
from paychaos.system._compose import file_services, not_host_network
from paychaos.system._model import BUILTIN_VALUES, PLACEHOLDER, POSTGRES, LoadSpec, Target, template_names


def load_target(path: str | Path) -> Target:
    """Read and check a target description.

    >>> target = load_target("targets/paystack/target.yaml")   # doctest: +SKIP
    >>> sorted(target.services)                                 # doctest: +SKIP
    ['bank', 'gateway', 'merchant', 'notifier', 'reconciler']
    """
    path = Path(path)
    if path.is_dir():
        path = path / "target.yaml"
    located = load_yaml(path)
    target = validate_located(located, Target)
    problems = [*_references(target, located), *_compose(target, located, path.parent)]
    if problems:
        raise InvalidInput("\n".join(problems))
    target._source = path.resolve()
    return target


def _unknown(located: Located, loc: tuple[str | int, ...], kind: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    hint = did_you_mean(name, known)
    listed = ", ".join(known) or "none are declared"
    return f"{located.where(loc)}: {format_loc(loc)}: unknown {kind} {name!r}; known: {listed}{hint}"


def _references(t: Target, located: Located) -> Iterable[str]:
    services = set(t.services)
    databases = set(t.postgres.databases) if t.postgres else set()
    for name, link in t.links.items():
        if link.source not in services:
            yield _unknown(located, ("links", name, "from"), "service", link.source, services)
        if link.to == POSTGRES:
            if t.postgres is None:
                where = located.where(("links", name, "to"))
                yield f"{where}: links.{name}.to: 'postgres' needs a top-level postgres: section"
            elif link.database is None:
                yield f"{located.where(('links', name))}: links.{name}: a link to postgres needs 'database'"
            elif link.database not in databases:
                yield _unknown(located, ("links", name, "database"), "database", link.database, databases)
        elif link.to not in services:
            yield _unknown(located, ("links", name, "to"), "service", link.to, services | {POSTGRES})
    for name, value in t.env.items():
        for ref in PLACEHOLDER.findall(value):
            if ref != "secret":
                yield (f"{located.where(('env', name))}: env.{name}: {{{ref}}} cannot be filled here; "
                       "the top-level env takes {secret} only "
                       "(put service addresses in a service's env)")  # fmt: skip
    for name, service in t.services.items():
        templates: list[tuple[str | int, str]] = [*enumerate(service.command or []), *service.env.items()]
        for place, text in templates:
            for ref in PLACEHOLDER.findall(text):
                problem = _placeholder(t, ref)
                if ref == "secret" and isinstance(place, int):
                    problem = "{secret} belongs in env: a command line is readable by every local user"
                if ref == "python" and service.compose is not None:
                    problem = ("{python} is paychaos's interpreter on this machine, which a container does "
                               "not have")  # fmt: skip
                if problem:
                    loc = ("services", name, "command" if isinstance(place, int) else "env", place)
                    yield f"{located.where(loc)}: {format_loc(loc)}: {problem}"
    for name, source in t.evidence.sources.items():
        if source.kind == "sql" and source.database not in databases:
            loc = ("evidence", "sources", name, "database")
            yield _unknown(located, loc, "database", str(source.database), databases)
        if source.kind == "http" and source.service not in services:
            yield _unknown(
                located, ("evidence", "sources", name, "service"), "service", str(source.service), services
            )
    for table_name, table in t.evidence.tables.items():
        found = t.evidence.sources.get(table.source)
        at = located.where(("evidence", "tables", table_name))
        if found is None:
            loc = ("evidence", "tables", table_name, "source")
            yield _unknown(located, loc, "evidence source", table.source, t.evidence.sources)
        elif found.kind == "sql" and not table.query:
            yield f"{at}: evidence.tables.{table_name}: an sql source needs a 'query'"
        elif found.kind == "http" and not table.path:
            yield f"{at}: evidence.tables.{table_name}: an http source needs a 'path'"
    for name, counter in t.coverage.items():
        found = t.evidence.sources.get(counter.source)
        if found is None:
            yield _unknown(
                located, ("coverage", name, "source"), "evidence source", counter.source, t.evidence.sources
            )
        elif found.kind != "sql":
            where = located.where(("coverage", name))
            yield f"{where}: coverage.{name}.source: a coverage counter needs an sql source, not {found.kind}"
    if t.load and t.load.service not in services:
        yield _unknown(located, ("load", "service"), "service", t.load.service, services)
    if t.load:
        yield from _scenarios(t.load, located)
    for name, endpoint in t.config.items():
        if endpoint.service not in services:
            yield _unknown(located, ("config", name, "service"), "service", endpoint.service, services)
    if t.defects and not t.defects_env:
        yield (
            f"{located.where(('defects',))}: defects: declaring defects needs 'defects_env', "
            "the environment variable that switches them on"
        )


def _compose(t: Target, located: Located, root: Path) -> Iterable[str]:
    """compose: services need the top-level compose: section, and (when its file can be read here)
    name services of it that use the host's network."""
    declared = {name: s.compose for name, s in t.services.items() if s.compose is not None}
    if t.compose is None:
        for name in declared:
            loc = ("services", name, "compose")
            yield (f"{located.where(loc)}: {format_loc(loc)}: a compose service needs the top-level "
                   "compose: section, naming the Compose file (compose: {file: compose.yaml})")  # fmt: skip
        return
    if not declared:
        yield (f"{located.where(('compose',))}: compose: no service says which Compose service it is; "
               "declare them under services: (e.g. api: {compose: api, port: 8000})")  # fmt: skip
        return
    seen: dict[str, str] = {}
    for name, service in declared.items():
        if service in seen:
            loc = ("services", name, "compose")
            yield (f"{located.where(loc)}: {format_loc(loc)}: services.{seen[service]} is Compose service "
                   f"{service!r} already; declare each once")  # fmt: skip
        seen.setdefault(service, name)
    path = root / t.compose.file
    in_file = file_services(path)
    if in_file is None:
        return  # not here, or not YAML: `paychaos validate --connect` asks Compose itself
    for name, service in declared.items():
        loc = ("services", name, "compose")
        if service not in in_file:
            yield _unknown(located, loc, f"service of {t.compose.file}", service, in_file)
        elif (other := not_host_network(in_file[service])) is not None:
            yield (f"{located.where(loc)}: {format_loc(loc)}: Compose service {service!r} has {other}; add "
                   f"network_mode: host to it in {t.compose.file}: its container must reach paychaos's "
                   "fault proxies, which listen on this machine's loopback")  # fmt: skip


def _scenarios(load: LoadSpec, located: Located) -> Iterable[str]:
    """Each scenario is defined somewhere, and every placeholder of its steps can be filled when sent."""
    for name in BUILTIN_VALUES:
        if name in load.values:
            spot = located.where(("load", "values", name), key=True)
            yield f"{spot}: load.values.{name}: paychaos makes {{{name}}} for every iteration; rename yours"
    stepped = False
    for name, scenario in load.scenarios.items():
        at: tuple[str | int, ...] = ("load", "scenarios", name)
        if scenario.steps is None:
            if load.module is None:
                yield (f"{located.where(at)}: {format_loc(at)}: no steps, and load names no module to find "
                       "it in; describe its requests under steps:, or name the Python module that holds "
                       "it in load.module")  # fmt: skip
            continue
        stepped = True
        known = {*BUILTIN_VALUES, *load.values}
        for i, step in enumerate(scenario.steps):
            later = {value: j for j, s in enumerate(scenario.steps) if j >= i for value in s.extract}
            for where, text in step.templates():
                loc = (*at, "steps", i, *where)
                try:
                    refs = template_names(text)
                except ValueError as exc:
                    yield f"{located.where(loc)}: {format_loc(loc)}: {exc}"
                    continue
                for ref in refs:
                    problem = _step_placeholder(ref, known, later, own_key=where == ("key",))
                    if problem:
                        yield f"{located.where(loc)}: {format_loc(loc)}: {problem}"
            for value in step.extract:
                if value in BUILTIN_VALUES:
                    loc = (*at, "steps", i, "extract", value)
                    yield (f"{located.where(loc, key=True)}: {format_loc(loc)}: paychaos makes {{{value}}} "
                           "for every iteration; name what you extract otherwise")  # fmt: skip
            known |= set(step.extract)
    if stepped and load.payment is None and load.module is None:
        yield (f"{located.where(('load',))}: load: scenarios with steps need payment:, where an answer "
               "carries its payment for the history (e.g. payment: {id: $.id, state: $.status}), or a "
               "load.module whose payment_of reads the answers")  # fmt: skip


def _step_placeholder(ref: str, known: set[str], later: dict[str, int], *, own_key: bool) -> str | None:
    """Why a step cannot fill ``{ref}``, or None; ``later``: values this step or later ones extract."""
    if own_key and ref == "idempotency_key":
        return "a key is not made of itself; build it from other values, e.g. refund:{order_id}"
    if ref in known:
        return None
    if ref in later:
        return (f"{{{ref}}} is extracted by steps[{later[ref]}] from its answer, after this step is sent; "
                "a step uses what earlier steps extracted")  # fmt: skip
    listed = ", ".join(sorted(known))
    return f"unknown placeholder {{{ref}}}; known here: {listed}{did_you_mean(ref, known)}"


def _placeholder(t: Target, ref: str) -> str | None:
    """Why ``{ref}`` cannot be filled in, or None if it can."""
    if ref in ("python", "port", "secret"):
        return None
    parts = ref.split(".")
    if parts[0] != "link" or len(parts) != 3:
        return (f"unknown placeholder {{{ref}}}; "
                "use {python}, {port}, {secret} or {link.NAME.url|address|dsn}")  # fmt: skip
    _, name, attr = parts
    if name not in t.links:
        return f"{{{ref}}} names no declared link {name!r}{did_you_mean(name, t.links)}"
    is_db = t.links[name].to == POSTGRES
    allowed = ("dsn", "address") if is_db else ("url", "address")
    if attr not in allowed:
        return f"{{{ref}}}: a link to {'postgres' if is_db else 'a service'} offers {' or '.join(allowed)}"
    return None
