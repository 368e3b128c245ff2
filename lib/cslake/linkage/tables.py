"""Declared schemas of the linkage tables (registered from code: conf/tables is shared)."""

from __future__ import annotations

from cslake.tables import TableSpec, TableSpecError, register_table_spec, table_spec

_PID = {"name": "person_id", "type": "string", "nullable": False,
        "description": "Pseudonymous person id: keyed hash (HMAC-SHA256) of the person's representative record"}

SPECS: dict[str, dict] = {
    "silver.person_spine": {
        "description": "One row per source record (a child as one return holds them) → person_id, with the rule that linked it.",
        "keys": ["collection", "table", "la", "year", "record_key"],
        "columns": [
            _PID,
            {"name": "collection", "type": "string", "nullable": False},
            {"name": "table", "type": "string", "nullable": False, "description": "Table of the collection schema (silver.<collection>_<table>)"},
            {"name": "la", "type": "string", "description": "3-digit DfE code of the LA that sent the return"},
            {"name": "year", "type": "int", "description": "Collection year ending 31 March"},
            {"name": "record_key", "type": "string", "nullable": False,
             "description": "The record's id as held in silver: LA child id hash, UPN hash (school census) or row:<file sha256>:<row> for records with no id"},
            {"name": "rule", "type": "string", "nullable": False,
             "description": "Highest-priority rule linking the record to its person (upn, former_upn, la_child_id, uln, demographic) or none"},
            {"name": "confidence", "type": "string", "description": "Confidence class of the rule (conf/linkage.yaml)"},
            {"name": "has_valid_upn", "type": "boolean", "nullable": False, "description": "The record carries a UPN whose check letter is valid"},
            {"name": "dob_month", "type": "date", "description": "Date of birth, first of the month"},
            {"name": "sex", "type": "string", "description": "M / F (other codes: null)"},
            {"name": "ethnicity", "type": "string", "description": "DfE main ethnicity code (extended codes mapped)"},
            {"name": "n_rows", "type": "bigint", "description": "Silver rows in the record"},
            {"name": "_file_sha256", "type": "string", "description": "First source file of the record"},
            {"name": "_row", "type": "bigint", "description": "First row of the record in that file"},
        ],
    },
    "silver.person": {
        "description": "One row per person: degraded attributes (most frequent across records), when and where seen.",
        "keys": ["person_id"],
        "columns": [
            _PID,
            {"name": "dob_month", "type": "date", "description": "Month of birth (first of the month)"},
            {"name": "sex", "type": "string"},
            {"name": "ethnicity", "type": "string", "description": "DfE main ethnicity code"},
            {"name": "first_seen_year", "type": "int"},
            {"name": "last_seen_year", "type": "int"},
            {"name": "collections", "type": "array<string>"},
            {"name": "las", "type": "array<string>"},
            {"name": "records", "type": "bigint"},
            {"name": "has_upn", "type": "boolean"},
            {"name": "has_conflict", "type": "boolean", "description": "An identifier of the person is in silver.linkage_conflicts"},
        ],
    },
    "silver.linkage_conflicts": {
        "description": "Identifiers whose records disagree (one UPN, two dates of birth or two sexes): reported, not silently resolved.",
        "keys": ["conflict", "key_hash"],
        "columns": [
            {"name": "conflict", "type": "string", "nullable": False,
             "description": "<key class>_<attribute>: upn_dob, upn_sex, la_child_id_dob, la_child_id_sex "
                            "(_dob: exact dates of birth differ, compared by their keyed hashes, or months differ)"},
            {"name": "key_class", "type": "string", "nullable": False},
            {"name": "key_hash", "type": "string", "nullable": False, "description": "Keyed hash of the identifier"},
            {"name": "person_id", "type": "string"},
            {"name": "values", "type": "array<string>",
             "description": "The distinct values found; for dates of birth the month, tagged with the first 8 characters of the exact date's hash (2012-01-01 #1a2b3c4d)"},
            {"name": "collections", "type": "array<string>"},
            {"name": "las", "type": "array<string>"},
            {"name": "records", "type": "bigint"},
            {"name": "resolution", "type": "string"},
            {"name": "run_id", "type": "string"},
        ],
    },
    "silver.cin_journey": {
        "description": "CIN census events per person in date order: referral, assessment, S47, ICPC, CIN plan, CP plan, closure (latest submission of each).",
        "keys": ["person_id", "la", "event", "event_date", "referral_date"],
        "columns": [
            _PID,
            {"name": "la", "type": "string"},
            {"name": "event_date", "type": "date"},
            {"name": "event", "type": "string", "nullable": False},
            {"name": "code", "type": "string", "description": "The event's code (referral source, closure reason, category of abuse...)"},
            {"name": "referral_date", "type": "date", "description": "Referral date of the CIN episode the event belongs to"},
            {"name": "year", "type": "int", "description": "Collection year of the submission used"},
            {"name": "source_table", "type": "string"},
        ],
    },
    "silver.care_journey": {
        "description": "silver.care_history (SSDA903 episodes chained across years, repairs flagged) keyed by person_id.",
        "keys": ["person_id", "la", "DECOM"],
        "columns": [
            _PID,
            {"name": "la", "type": "string"},
            {"name": "episode_no", "type": "int"},
            {"name": "DECOM", "type": "date"}, {"name": "DEC", "type": "date"}, {"name": "REC", "type": "string"},
            {"name": "repair_rule", "type": "string"},
            {"name": "RNE", "type": "string"}, {"name": "LS", "type": "string"}, {"name": "CIN", "type": "string"},
            {"name": "PLACE", "type": "string"}, {"name": "PLACE_PROVIDER", "type": "string"},
            {"name": "REASON_PLACE_CHANGE", "type": "string"},
            {"name": "HOME_POST_district", "type": "string"}, {"name": "PL_POST_district", "type": "string"},
            {"name": "URN", "type": "string"},
            {"name": "year", "type": "int"},
            {"name": "_file_sha256", "type": "string"}, {"name": "_row", "type": "bigint"},
        ],
    },
    "silver.send_journey": {
        "description": "SEN2 events per person: EHC needs assessment requests, outcomes, plans issued and ceased (each once).",
        "keys": ["person_id", "la", "event", "event_date", "request_date"],
        "columns": [
            _PID,
            {"name": "la", "type": "string"},
            {"name": "event_date", "type": "date"},
            {"name": "event", "type": "string", "nullable": False},
            {"name": "code", "type": "string"},
            {"name": "request_date", "type": "date", "description": "Date the request the event belongs to was received"},
            {"name": "year", "type": "int"},
            {"name": "source_table", "type": "string"},
        ],
    },
}


def ensure_specs() -> dict[str, TableSpec]:
    out = {}
    for name, raw in SPECS.items():
        try:
            out[name] = table_spec(name)
        except TableSpecError:
            out[name] = register_table_spec(TableSpec.from_dict(name, raw))
    return out
