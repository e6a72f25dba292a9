"""Zoho Campaigns' response envelope and the documented error codes.

Zoho Campaigns answers most failures with HTTP 200 and a body whose ``code`` is not
``"0"``: ``{"code", "message", "status": "error", "uri", "version"}``
(https://www.zoho.com/campaigns/help/developers/error-codes.html, and the "Possible error
cases" table of each method page). The codes below are the ones those pages document.
"""

from __future__ import annotations

from typing import Any

API_VERSION = "1.1"
API_PREFIX = "/api/v1.1"

# Generic
MANDATORY_MISSING = "903"  # "Mandatory fields are missing." (addlistsubscribersinbulk, custom/add)
RESFMT_MISMATCH = "1001"  # '"resfmt" pattern does not match.' (createCampaign)
UNAUTHORIZED = "1007"  # unauthorised key / token (error-codes page)
# Lists and contacts
BAD_JSON = "2001"  # "Please enter correct XML(or)JSON format." (listsubscribe)
INVALID_EMAIL = "2004"  # "Invalid contact email address." (listsubscribe)
GROUP_EMAIL = "2005"  # "Group email address added." (listsubscribe)
RETRY_LATER = "2101"  # "Please retry after sometime." (listunsubscribe)
DUPLICATE_LIST_NAME = "2205"  # "Duplicate list name is found." (addlistandcontacts)
LIST_DELETED = "2206"  # "List has been deleted." (addlistsubscribersinbulk)
CONTACT_LIMIT = "2302"  # "You cannot add contacts as you've reached the maximum limit."
NO_MAILING_LIST = "2401"  # "No mailing list has been created. Please create a list."
LISTKEY_INVALID = "2501"  # "Listkey is empty or invalid." (listsubscribe, getlistsubscribers)
# Custom fields
NO_FIELDS = "910"  # "No fields found." (custom/add)
DUPLICATE_FIELD = "916"  # "Duplicate custom field found." (custom/add)
# Topics
TOPIC_NAME_EXISTS = "4013"
TOPIC_INVALID = "4014"  # "Product ID associated to topic is invalid" — closest documented code
TOPIC_NAME_EMPTY = "4017"
TOPIC_DESC_EMPTY = "4018"
# Campaigns and reports
REPORT_ERROR = "6001"
CAMPAIGN_NOT_SENT = "6002"  # "Invalid campaign key (or) campaign is not yet sent."
INVALID_CAMPAIGN_KEY = "6301"  # "Invalid campaign key." (getcampaigndetails)
CAMPAIGN_DELETED = "6503"
CAMPAIGN_ALREADY_SENT = "6600"  # "Campaign is sent."
CAMPAIGN_STATUS_CHANGED = "6605"
NO_LISTS_SELECTED = "6606"  # "No lists selected for this campaign."

# Simulator-chosen: the docs name the limit but no code for breaking it.
TOO_MANY_EMAILS = "2306"


class ZohoApiError(Exception):
    """A failure the handler reports in Zoho's envelope (HTTP 200 unless told otherwise)."""

    def __init__(self, code: str, message: str, http_status: int = 200) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


def success(uri: str, **fields: Any) -> dict[str, Any]:
    """The common success envelope: ``status``, ``code`` "0", ``uri``, ``version``."""
    return {"status": "success", "code": "0", "uri": uri, "version": API_VERSION, **fields}


def error_body(uri: str, code: str, message: str) -> dict[str, Any]:
    return {"status": "error", "code": code, "message": message, "uri": uri, "version": API_VERSION}
