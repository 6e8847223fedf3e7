"""Azure OpenAI: the host and deployment come from the request, and the key goes in api-key.

Unified form: ``x-portkey-azure-resource-name``, ``-deployment-id``, ``-api-version`` headers (or
the config's ``resource_name``/``deployment_id``/``api_version``) build
``https://<resource>.openai.azure.com/openai/deployments/<dep>/<path>?api-version=<v>``; for the
Realtime API (``/realtime``, a WebSocket) the deployment goes in the query instead:
``…/openai/realtime?api-version=<v>&deployment=<dep>``, as Azure expects.
Legacy proxy form: the Azure host is the first segment of the path
(``/v1/proxy/<resource>.openai.azure.com/openai/deployments/...``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from proxy.errors import GatewayError
from proxy.providers.base import ProviderSpec

if TYPE_CHECKING:
    from proxy.chain import Call
    from proxy.config import Target


def build_url(spec: ProviderSpec, target: Target, call: Call, base: str) -> str:
    qs = f"?{call.query}" if call.query else ""
    first = call.path.lstrip("/").split("/", 1)[0]
    if first.endswith(".openai.azure.com"):
        return f"https://{call.path.lstrip('/')}{qs}"
    h = call.headers
    resource = target.resource_name or h.get("x-portkey-azure-resource-name")
    deployment = target.deployment_id or h.get("x-portkey-azure-deployment-id")
    version = target.api_version or h.get("x-portkey-azure-api-version")
    if target.custom_host:
        root = base
    elif resource:
        root = f"https://{quote(resource, safe='')}.openai.azure.com/openai"
    else:
        raise GatewayError(
            400, "azure-openai needs x-portkey-azure-resource-name (or a custom host)"
        )
    if deployment and call.path == "/realtime":
        # Azure's Realtime API names the deployment in the query, not the path.
        if "deployment=" not in call.query:
            dep = f"deployment={quote(deployment, safe='')}"
            qs = f"{qs}&{dep}" if qs else f"?{dep}"
    elif deployment and "/deployments/" not in call.path:
        root = f"{root}/deployments/{quote(deployment, safe='')}"
    url = root + call.path
    if version and "api-version=" not in call.query:
        qs = f"{qs}&api-version={quote(version)}" if qs else f"?api-version={quote(version)}"
    return url + qs


SPEC = ProviderSpec(slug="azure-openai", base_url=None, auth="api-key", build_url=build_url)
