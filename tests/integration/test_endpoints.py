"""From a Connection spec to client settings: hosts, data centres, credentials."""

from __future__ import annotations

import pytest

from crmsync.api.v1alpha1.connection import ConnectionSpec
from crmsync.providers.factory import Endpoint, open_crm, open_target
from crmsync.providers.http import AuthError, CallStats, ConfigError
from crmsync.providers.mailchimp import api_base_url
from crmsync.providers.zoho_auth import zoho_hosts


def test_endpoint_from_connection_keeps_secrets_out_of_the_repr() -> None:
    spec = ConnectionSpec.model_validate(
        {
            "provider": "zoho-crm",
            "credentialsSecretRef": {"name": "crm"},
            "dataCenter": "eu",
            "rateLimit": {"maxConcurrency": 7, "requestsPerSecond": 3},
        }
    )
    secret = {"clientId": "id", "clientSecret": "hush", "refreshToken": "hush-too"}
    endpoint = Endpoint.from_connection(spec, secret)
    assert (endpoint.provider, endpoint.data_center) == ("zoho-crm", "eu")
    assert (endpoint.max_concurrency, endpoint.requests_per_second) == (7, 3.0)
    assert "hush" not in repr(endpoint)


@pytest.mark.parametrize(
    ("dc", "api", "accounts"),
    [
        (None, "https://www.zohoapis.com", "https://accounts.zoho.com"),
        ("eu", "https://www.zohoapis.eu", "https://accounts.zoho.eu"),
        ("com.au", "https://www.zohoapis.com.au", "https://accounts.zoho.com.au"),
        ("ca", "https://www.zohoapis.ca", "https://accounts.zohocloud.ca"),
        ("sa", "https://www.zohoapis.sa", "https://accounts.zoho.sa"),
    ],
)
def test_zoho_data_centres(dc: str | None, api: str, accounts: str) -> None:
    hosts = zoho_hosts("crm", dc, None, None)
    assert (hosts.api_base_url, hosts.accounts_url) == (api, accounts)


def test_zoho_overrides_and_campaigns_hosts() -> None:
    assert zoho_hosts("campaigns", "in", None, None).api_base_url == "https://campaigns.zoho.in"
    local = zoho_hosts("crm", "eu", "http://127.0.0.1:1/", "http://127.0.0.1:2")
    assert (local.api_base_url, local.accounts_url) == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    with pytest.raises(ConfigError):
        zoho_hosts("crm", "mars", None, None)


def test_mailchimp_data_centre_from_the_key() -> None:
    assert api_base_url("abc-us6", None) == "https://us6.api.mailchimp.com/3.0"
    assert api_base_url("abc-us6", "http://127.0.0.1:9/") == "http://127.0.0.1:9/3.0"
    with pytest.raises(AuthError) as caught:
        api_base_url("keywithoutsuffix", None)
    assert "keywithoutsuffix" not in str(caught.value)


def test_wrong_roles_and_missing_credentials_are_refused() -> None:
    stats = CallStats()
    with pytest.raises(ConfigError):
        open_crm(Endpoint(provider="mailchimp", credentials={"apiKey": "k-us1"}), stats)
    with pytest.raises(ConfigError):
        open_target(Endpoint(provider="zoho-crm", credentials={}), stats)
    with pytest.raises(AuthError, match="clientSecret"):
        open_crm(Endpoint(provider="zoho-crm", credentials={"clientId": "x"}), stats)
