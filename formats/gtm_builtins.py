"""What a container may use without defining it in the file.

Every entry comes from ../shared/reference/gtm-container.md (its source markers in brackets):
[obs] seen in the public exports of ../shared/corpus/gtm-containers/, [doc] the Tag Manager API
docs (tag and variable dictionaries). The API has no list of built-in type codes, so these
tables are what the validator knows; `sgtm validate --allow-type CODE` covers a real built-in
that is missing here.
"""

from __future__ import annotations

# Trigger ids that never appear in trigger[] (gtm-container.md section 0, rule 5).
BUILTIN_TRIGGER_IDS: dict[str, str] = {
    "2147479553": "All Pages (web)",
    "2147479572": "Consent Initialization",
    "2147479573": "Initialization - All Pages (web)",
    "2147479574": "All Pages (server)",
}

# `{{_event}}` is arg0 of every customEventFilter and is never declared.
RESERVED_VARIABLES = frozenset({"_event"})

# Server containers: every built-in code of the reference tables; all seven public server
# exports use only these [obs].
SERVER_TAG_TYPES = frozenset({"sgtmgaaw", "sgtmadsct", "sgtmadscl", "sgtmadsremarket", "sgtmfls"})
SERVER_CLIENT_TYPES = frozenset({"gaaw_client", "ua_client", "gtm_client", "mpaw_client"})
SERVER_VARIABLE_TYPES = frozenset(
    {"ed", "c", "rh", "qp", "sgtmk", "smm", "remm", "fs", "uv", "ctv"}
)
TRANSFORMATION_TYPES = frozenset({"tf_augment_event", "tf_exclude_params"})

# Web containers have a much larger catalogue (vendor tags, listeners); these are the codes of
# the reference, the public web exports and the API's tag/variable dictionaries [doc]. An
# unknown web code is reported as a warning, not an error, for that reason.
WEB_TAG_TYPES = frozenset(
    {"html", "img", "awct", "sp", "gclidw", "fls", "flc", "gaawc", "gaawe", "googtag", "ua"}
    # Seen in the reference's "other public exports" (sperciky GTM-MHKFW34_workspace473.json,
    # yanjumper gtm-web.json): Microsoft UET, Hotjar, Google Ads user-provided data.
    | {"baut", "hjtc", "awud"}
)
WEB_VARIABLE_TYPES = frozenset(
    {
        "k",
        "aev",
        "c",
        "ctv",
        "e",
        "jsm",
        "v",
        "d",
        "dbg",
        "f",
        "j",
        "r",
        "u",
        "uv",
        "vis",
        "remm",
        "smm",
        "awec",
        "gtes",
        "gtcs",
        "gas",
    }
)

# Display names of built-in variables, by export type [obs]. A `{{Name}}` that names one of
# these while its type is not enabled in builtInVariable[] gets a warning saying what to add.
BUILTIN_VARIABLE_NAMES: dict[str, str] = {
    "CLICK_CLASSES": "Click Classes",
    "CLICK_ELEMENT": "Click Element",
    "CLICK_ID": "Click ID",
    "CLICK_TARGET": "Click Target",
    "CLICK_TEXT": "Click Text",
    "CLICK_URL": "Click URL",
    "CLIENT_NAME": "Client Name",
    "CONTAINER_ID": "Container ID",
    "CONTAINER_VERSION": "Container Version",
    "DEBUG_MODE": "Debug Mode",
    "EVENT": "Event",
    "EVENT_NAME": "Event Name",
    "FORM_CLASSES": "Form Classes",
    "FORM_ELEMENT": "Form Element",
    "FORM_ID": "Form ID",
    "FORM_TARGET": "Form Target",
    "FORM_TEXT": "Form Text",
    "FORM_URL": "Form URL",
    "HTML_ID": "HTML ID",
    "PAGE_HOSTNAME": "Page Hostname",
    "PAGE_PATH": "Page Path",
    "PAGE_URL": "Page URL",
    "QUERY_STRING": "Query String",
    "RANDOM_NUMBER": "Random Number",
    "REFERRER": "Referrer",
    "REQUEST_METHOD": "Request Method",
    "REQUEST_PATH": "Request Path",
    "SCROLL_DEPTH_DIRECTION": "Scroll Direction",
    "SCROLL_DEPTH_THRESHOLD": "Scroll Depth Threshold",
    "SCROLL_DEPTH_UNITS": "Scroll Depth Units",
    "VISITOR_REGION": "Visitor Region",
}
BUILTIN_VARIABLE_TYPES_BY_NAME = {name: kind for kind, name in BUILTIN_VARIABLE_NAMES.items()}


def known_types(kind: str, usage_context: str) -> frozenset[str]:
    """Built-in type codes for an entity kind (tag, client, variable, transformation)."""
    if kind == "transformation":
        return TRANSFORMATION_TYPES
    if usage_context == "SERVER":
        return {
            "tag": SERVER_TAG_TYPES,
            "client": SERVER_CLIENT_TYPES,
            "variable": SERVER_VARIABLE_TYPES,
        }.get(kind, frozenset())
    return {"tag": WEB_TAG_TYPES, "variable": WEB_VARIABLE_TYPES}.get(kind, frozenset())
