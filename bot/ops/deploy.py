"""The load balancer's configuration, rendered from ``deploy/haproxy.cfg.j2``: the file operators install
and the one the fleet tests and ``bench --fleet`` run, so what ships is what is tested.

>>> print(render_haproxy(["10.0.0.11:8000"], system=False).splitlines()[-1].strip())
server replica1 10.0.0.11:8000
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

import typer
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.console import fail
from bot.settings import PROJECT_ROOT

DEPLOY_DIR = PROJECT_ROOT / "deploy"
HAPROXY_TEMPLATE = "haproxy.cfg.j2"
# host:port, with the host a name, an IPv4 address or a bracketed IPv6 address.
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}")


class DeployError(ValueError):
    """A value that cannot go into the configuration, said in one line."""


def render_haproxy(
    replicas: Sequence[str],
    *,
    bind: str = ":443",
    http_bind: str = ":80",
    tls_certificate: str | None = "/etc/haproxy/certs/faqbot.pem",
    system: bool = True,
    check_interval: str = "2s",
    replica_maxconn: int = 64,
) -> str:
    """The HAProxy configuration for these replicas (``host:port`` each).

    ``system`` adds what a system service has (syslog, chroot, the haproxy user, the admin socket); the
    tests leave it out to run HAProxy as themselves in a temporary folder. Without ``tls_certificate``
    it listens on plain HTTP at ``bind`` (behind another TLS terminator, or on loopback in the tests).
    """
    if not replicas:
        raise DeployError("name at least one replica as host:port")
    for address in [*replicas, bind, http_bind]:
        host_port = address if not address.startswith(":") else "0.0.0.0" + address
        if not _ADDRESS.fullmatch(host_port):
            raise DeployError(f"{address!r} is not an address like 10.0.0.11:8000")
    environment = Environment(
        loader=FileSystemLoader(DEPLOY_DIR), undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    template = environment.get_template(HAPROXY_TEMPLATE)
    return template.render(
        replicas=list(replicas),
        bind=bind,
        http_bind=http_bind,
        tls_certificate=tls_certificate,
        system=system,
        check_interval=check_interval,
        replica_maxconn=replica_maxconn,
    )


def haproxy_config(
    replicas: Annotated[list[str], typer.Argument(help="Each replica as host:port (its `faqbot serve` address).")],
    bind: Annotated[str, typer.Option(help="Where visitors connect (TLS).")] = ":443",
    certificate: Annotated[
        str, typer.Option(help="The TLS certificate and key in one PEM file; '' for plain HTTP on --bind.")
    ] = "/etc/haproxy/certs/faqbot.pem",
) -> None:
    """Print the load balancer's configuration (HAProxy) for these replicas, from deploy/haproxy.cfg.j2."""
    try:
        typer.echo(render_haproxy(replicas, bind=bind, tls_certificate=certificate or None), nl=False)
    except DeployError as error:
        fail(str(error), 2)
