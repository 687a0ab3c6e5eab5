"""Loading ``target.yaml``: schema validation, then every cross-reference checked and located."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness._yaml import Located, format_loc, load_yaml, validate_located
from harness.errors import InvalidInput, did_you_mean
from harness.system._model import PLACEHOLDER, POSTGRES, Target


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
    problems = list(_references(target, located))
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
        templates: list[tuple[str | int, str]] = [*enumerate(service.command), *service.env.items()]
        for place, text in templates:
            for ref in PLACEHOLDER.findall(text):
                problem = _placeholder(t, ref)
                if ref == "secret" and isinstance(place, int):
                    problem = "{secret} belongs in env: a command line is readable by every local user"
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
    for name, endpoint in t.config.items():
        if endpoint.service not in services:
            yield _unknown(located, ("config", name, "service"), "service", endpoint.service, services)
    if t.defects and not t.defects_env:
        yield (
            f"{located.where(('defects',))}: defects: declaring defects needs 'defects_env', "
            "the environment variable that switches them on"
        )


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
