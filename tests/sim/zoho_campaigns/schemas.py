"""JSON Schemas of the documented Zoho Campaigns v1.1 JSON responses.

Each schema cites the page it follows. Where a Campaigns page shows only an XML sample,
the JSON shape is the one Zoho documents for the same method in Marketing Automation
(same engine, same keys) and/or the shape Airbyte's Zoho Campaigns connector reads
(airbytehq/airbyte, airbyte-integrations/connectors/source-zoho-campaign/manifest.yaml,
whose schemas were inferred from live responses). Values Zoho sends as strings are typed
as strings. Extra keys are allowed, as Zoho adds keys freely.
"""

from __future__ import annotations

from typing import Any

STR = {"type": "string"}
STR_OR_NULL = {"type": ["string", "null"]}
CODE_ZERO = {"const": "0"}
CODE_200 = {"const": "200"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def strings(*names: str) -> dict[str, Any]:
    return {name: STR for name in names}


ENVELOPE = strings("uri", "version") | {"status": {"const": "success"}, "code": CODE_ZERO}

# https://www.zoho.com/campaigns/help/developers/error-codes.html (and each page's
# "Possible error cases"): HTTP 200, code != "0".
ERROR = obj(
    {
        "status": {"const": "error"},
        "code": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        "message": STR,
        "uri": STR,
    }
)

# https://www.zoho.com/campaigns/help/developers/access-token.html (Zoho accounts)
TOKEN = obj(
    strings("access_token", "api_domain", "token_type") | {"expires_in": {"type": "integer"}}
)

# https://www.zoho.com/campaigns/help/developers/get-mailing-lists.html (XML sample fields)
MAILING_LIST = obj(
    strings("listkey", "listname", "listunino", "noofcontacts", "noofunsubcnt", "noofbouncecnt"),
    strings("created_time", "is_public", "lockstatus", "owner", "zuid", "listdesc")
    | {"segments": {"type": ["object", "null"]}},
)
GET_MAILING_LISTS = obj(
    ENVELOPE
    | strings("sort", "range", "fromindex")
    | {"list_of_details": {"type": "array", "items": MAILING_LIST}}
)

# https://www.zoho.com/campaigns/help/developers/list-advanced-details.html
LIST_ADVANCED_DETAILS = obj(
    ENVELOPE
    | {
        "list_details": obj(strings("ispublic", "noofcontacts", "listname")),
        "list_dashboard_data": obj(
            {"contact_stats": obj(strings("no_of_active", "no_of_unsub", "no_of_bounce"))}
        ),
    }
)

# https://www.zoho.com/campaigns/help/developers/delete-list.html,
# contact-unsubscribe.html, contact-subscribe.html, do-not-mail.html
MESSAGE = obj(ENVELOPE | {"message": STR})

# https://www.zoho.com/campaigns/help/developers/add-contacts-existing-list.html and
# add-new-list-contact.html
LIST_KEY_AND_NAME = obj(ENVELOPE | strings("listkey", "listname"))

# https://www.zoho.com/campaigns/help/developers/get-list-subscribers.html
SUBSCRIBER = obj(
    {"contact_email": STR},
    {
        name: STR_OR_NULL
        for name in ("firstname", "lastname", "companyname", "phone", "added_time", "zuid")
    },
)
GET_LIST_SUBSCRIBERS = obj(
    ENVELOPE
    | strings("sort", "range", "fromindex")
    | {
        "list_details": obj(strings("ispublic", "noofcontacts", "listname")),
        "list_of_details": {"type": "array", "items": SUBSCRIBER},
    }
)
LIST_SUBSCRIBERS_COUNT = obj(ENVELOPE | {"no_of_contacts": STR})

# https://www.zoho.com/marketingautomation/help/developers/get-all-leads-fields.html
# (Campaigns: getallcontactfields / contact/allfields in list-management.html)
ALL_FIELDS = obj(
    {
        "response": obj(
            {
                "message": STR,
                "code": CODE_ZERO,
                "fieldname": {
                    "type": "array",
                    "minItems": 1,
                    "items": obj(strings("DISPLAY_NAME", "FIELD_NAME", "no", "FIELD_ID")),
                },
            }
        )
    }
)

# https://www.zoho.com/campaigns/help/developers/create-custom-field.html (XML: message,
# mandatory_check)
CUSTOM_FIELD = obj(ENVELOPE | {"message": {"const": "Success"}, "mandatory_check": STR})

# https://www.zoho.com/campaigns/help/developers/get-topics.html
TOPICS = obj(
    {
        "code": CODE_200,
        "message": STR,
        "uri": STR,
        "topicDetails": {
            "type": "array",
            "items": obj({"topicId": STR, "topicName": STR, "primaryList": {"type": "integer"}}),
        },
    }
)
# https://www.zoho.com/campaigns/help/developers/create-topics.html
CREATE_TOPIC = obj({"code": CODE_200, "topic_id": STR, "message": STR, "uri": STR})

# https://www.zoho.com/campaigns/help/developers/create-campaign.html (XML: message,
# campaignKey, code 200, uri)
CREATE_CAMPAIGN = obj(
    {
        "message": {"const": "Campaign created successfully"},
        "campaignKey": STR,
        "code": CODE_200,
        "uri": STR,
    }
)

# https://www.zoho.com/marketingautomation/help/developers/v1/recent-campaign.html and
# Airbyte's recent_campaigns schema
CAMPAIGN = obj(
    strings("campaign_key", "campaign_name", "campaign_status", "created_time"),
    strings("created_date_string", "campaign_preview", "sent_time", "subject", "from_email"),
)
RECENT_CAMPAIGNS = obj(
    ENVELOPE | {"requestdetails": STR, "recent_campaigns": {"type": "array", "items": CAMPAIGN}}
)
# https://www.zoho.com/campaigns/help/developers/recently-sent-campaign.html
RECENT_SENT_CAMPAIGNS = obj(
    ENVELOPE | {"recent_sent_campaigns": {"type": "array", "items": CAMPAIGN}}
)
# https://www.zoho.com/marketingautomation/help/developers/v1/campaign-details.html
CAMPAIGN_DETAILS = obj(
    ENVELOPE
    | {
        "campaign-details": {"type": "array", "minItems": 1, "items": CAMPAIGN},
        "associated_mailing_lists": {
            "type": "array",
            "items": obj(strings("listkey", "listname", "liststatus")),
        },
    }
)
# https://www.zoho.com/campaigns/help/developers/send-campaign.html
SEND_CAMPAIGN = obj(
    {
        "response": obj(
            {"uri": STR, "code": CODE_200, "version": STR, "message": STR, "campaign_status": STR}
        )
    }
)
# https://www.zoho.com/campaigns/help/developers/campaign-reports.html and
# https://www.zoho.com/marketingautomation/help/developers/v1/campaign-reports.html
REPORT_COUNTS = (
    "emails_sent_count", "delivered_count", "delivered_percent", "opens_count", "open_percent",
    "unopened", "unique_clicks_count", "unique_clicked_percent", "bounces_count",
    "bounce_percent", "hardbounce_count", "softbounce_count", "unsub_count",
    "unsubscribe_percent", "complaints_count", "complaints_percent", "spams_count",
    "unsent_count", "forwards_count", "autoreply_count", "clicksperopenrate",
)  # fmt: skip
CAMPAIGN_REPORTS = obj(
    ENVELOPE
    | {
        "campaign-reports": {
            "type": "array",
            "minItems": 1,
            "items": obj(strings("campaign_name", *REPORT_COUNTS)),
        }
    }
)
# https://www.zoho.com/campaigns/help/developers/campaign-recipient-data.html (JSON form in
# the zoho.com.cn copy of the same page)
RECIPIENT = obj(
    strings("contactid", "contactemailaddress", "sent_time", "sentdate", "contactstatus"),
    strings("firstname", "lastname", "companyname", "phone", "timezone"),
)
CAMPAIGN_RECIPIENTS = obj(
    ENVELOPE
    | {
        "requestdetails": obj(
            {"range": {"type": "integer"}, "action": STR, "fromindex": {"type": "integer"}}
        ),
        "list_of_details": {"type": "array", "items": RECIPIENT},
    }
)
