"""The aiohttp application of the local Zoho CRM: routes and the API gate middleware."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from crmsync_testbed.sim import zoho_accounts
from crmsync_testbed.sim.common import FaultConfig, Handler, new_app
from crmsync_testbed.sim.zoho_crm import (
    auth,
    bulk_read,
    convert,
    coql,
    field_settings,
    fields,
    limits,
    notifications,
    records,
    related,
    users,
    visibility,
    writes,
)
from crmsync_testbed.sim.zoho_crm.context import CTX_KEY, CrmContext, ctx
from crmsync_testbed.sim.zoho_crm.errors import ZohoError
from crmsync_testbed.sim.zoho_crm.store import CrmStore

VENDOR_NAME = "zoho_crm"
API_PREFIXES = ("/crm/v8", "/crm/v2")
ADMIN = f"/_admin/{VENDOR_NAME}"


@web.middleware
async def api_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For ``/crm/...``: token check, concurrency slot, credits; Zoho errors as JSON."""
    if not request.path.startswith("/crm/"):
        return await handler(request)
    limit_state = ctx(request).limits
    entered = False
    try:
        auth.check_token(request)
        await limits.within_limits(request)
        limit_state.active += 1
        entered = True
        await limits.hold_slot(request)
        return await handler(request)
    except ZohoError as exc:
        return web.json_response(exc.body, status=exc.status, headers=exc.headers)
    finally:
        if entered:
            limit_state.active -= 1


def _api_routes(prefix: str) -> list[web.RouteDef]:
    p = prefix
    return [
        web.get(f"{p}/settings/modules", fields.get_modules),
        web.get(f"{p}/settings/modules/{{api_name}}", field_settings.get_module),
        web.get(f"{p}/settings/fields", field_settings.get_fields),
        web.get(f"{p}/settings/fields/{{field}}", field_settings.get_field),
        web.delete(f"{p}/settings/recycle_bin", writes.empty_recycle_bin),
        web.delete(f"{p}/settings/recycle_bin/{{record_id}}", writes.empty_recycle_bin),
        web.get(f"{p}/users", users.list_users),
        web.get(f"{p}/org", users.get_org),
        web.post(f"{p}/coql", coql.run_query),
        web.post(f"{p}/actions/watch", notifications.enable),
        web.put(f"{p}/actions/watch", notifications.enable),
        web.patch(f"{p}/actions/watch", notifications.patch),
        web.get(f"{p}/actions/watch", notifications.list_channels),
        web.delete(f"{p}/actions/watch", notifications.disable),
        web.post(f"{p}/Notes", related.create_notes),
        web.post(f"{p}/Leads/{{id}}/actions/convert", convert.convert_lead),
        web.get(f"{p}/{{module}}", records.list_records),
        web.post(f"{p}/{{module}}", writes.insert_records),
        web.put(f"{p}/{{module}}", writes.update_records),
        web.delete(f"{p}/{{module}}", writes.delete_records),
        web.post(f"{p}/{{module}}/upsert", writes.upsert_records),
        web.get(f"{p}/{{module}}/deleted", records.deleted_records),
        web.get(f"{p}/{{module}}/search", records.search_records),
        web.get(f"{p}/{{module}}/actions/count", records.count_records),
        web.get(f"{p}/{{module}}/{{id:[0-9]+}}", records.get_record),
        web.put(f"{p}/{{module}}/{{id:[0-9]+}}", writes.update_record),
        web.delete(f"{p}/{{module}}/{{id:[0-9]+}}", writes.delete_record),
        web.get(f"{p}/{{module}}/{{id:[0-9]+}}/{{related_list}}", related.get_related),
        web.put(f"{p}/{{module}}/{{id:[0-9]+}}/{{related_list}}", related.put_related),
        web.post(f"{p}/{{module}}/{{id:[0-9]+}}/{{related_list}}", related.post_related),
        web.delete(f"{p}/{{module}}/{{id:[0-9]+}}/{{related_list}}", related.delete_related),
        web.put(
            f"{p}/{{module}}/{{id:[0-9]+}}/{{related_list}}/{{related_id:[0-9]+}}",
            related.put_related_one,
        ),
        web.delete(
            f"{p}/{{module}}/{{id:[0-9]+}}/{{related_list}}/{{related_id:[0-9]+}}",
            related.delete_related_one,
        ),
    ]


def create_app(data_dir: Path, base_url: str, faults: FaultConfig | None) -> web.Application:
    store = CrmStore(data_dir / "crm.sqlite3")
    auth.install_client(store)
    users.install_users(store)
    app = new_app(VENDOR_NAME, faults)
    app.middlewares.append(api_gate)
    app[CTX_KEY] = CrmContext(
        store=store,
        base_url=base_url,
        notifier=notifications.Notifier(store, base_url),
        limits=limits.Limits.load(store),
    )
    zoho_accounts.install(app, ADMIN)
    app.router.add_post("/oauth/v2/token", auth.token_endpoint)
    app.router.add_post("/oauth/v2/token/revoke", auth.revoke_endpoint)
    for prefix in API_PREFIXES:
        app.router.add_routes(_api_routes(prefix))
    bulk_read.install(app, data_dir, ADMIN)
    app.router.add_routes(
        [
            web.get(f"{ADMIN}/credits", limits.admin_credits),
            web.post(f"{ADMIN}/credits/reset", limits.admin_reset_credits),
            web.put(f"{ADMIN}/limits", limits.admin_set_limits),
            web.post(f"{ADMIN}/grant_code", auth.admin_grant_code),
            web.post(f"{ADMIN}/tokens/expire", auth.admin_expire_tokens),
            web.get(f"{ADMIN}/notifications", notifications.admin_deliveries),
            web.post(f"{ADMIN}/users", users.admin_save_user),
            web.post(f"{ADMIN}/users/{{id}}/token", visibility.admin_user_token),
            web.post(f"{ADMIN}/emails/{{module}}/{{id}}", related.admin_capture_email),
        ]
    )

    async def close(app: web.Application) -> None:
        await app[CTX_KEY].notifier.close()
        store.close()

    app.on_cleanup.append(close)
    return app
