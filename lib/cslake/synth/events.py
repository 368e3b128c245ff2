"""The contract between the social-care simulation and the writers of CIN, SSDA903,
Annex A and the RIIA template: one pandas DataFrame per kind of event, across the whole
window and every LA of the region. Dates are `datetime.date` or None (open / not held).

`la` is the DfE code of the LA responsible when the event happened (a child who moves
has earlier events in one LA and later ones in another). Every row carries the true
`person_id` (ground truth, never written into a return; the writers look up the
identifiers an LA would hold via `Population.residents` / `identifiers_on`).

The simulation (cslake.synth.social_care.simulate_social_care) fills these; writers
select what falls in or overlaps a collection year. Column lists here are the contract:
a writer may rely on every column named, a simulation must fill them all.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import pandas as pd

EVENT_COLUMNS: dict[str, list[str]] = {
    # Annex A list 1: contacts to the front door (most do not become referrals).
    "contacts": ["contact_id", "person_id", "la", "contact_date", "contact_source"],
    # Annex A list 2: early help assessments.
    "early_help": ["eh_id", "person_id", "la", "start_date", "end_date", "organisation"],
    # CIN census CINdetails: one referral episode each. closure_date None = open.
    # unborn=True when referred before birth (ExpectedPersonBirthDate in the census).
    "cin_episodes": ["episode_id", "person_id", "la", "referral_date", "referral_source",
                     "primary_need", "referral_nfa", "closure_date", "reason_for_closure",
                     "unborn", "allocated_team", "allocated_worker"],
    # Assessments within an episode; factors is a list of AssessmentFactors codes.
    "assessments": ["assessment_id", "episode_id", "person_id", "la", "start_date",
                    "authorisation_date", "child_seen", "needs_support", "factors"],
    "cin_plans": ["cin_plan_id", "episode_id", "person_id", "la", "start_date", "end_date"],
    # Section 47 enquiries; icpc_date None when no ICPC held (icpc_not_required says why).
    "s47": ["s47_id", "episode_id", "person_id", "la", "start_date", "icpc_target_date",
            "icpc_date", "icpc_not_required", "resulted_in_cpp"],
    # CP plans; review_dates is a list of dates; number_previous as the LA would record it.
    "cp_plans": ["cpp_id", "episode_id", "person_id", "la", "start_date", "end_date",
                 "initial_category", "latest_category", "number_previous", "review_dates"],
    # SSDA903 episodes: one row per episode, all SSDA903 codes, dates as dates.
    "care_episodes": ["care_episode_id", "person_id", "la", "decom", "rne", "ls", "cin",
                      "place", "place_provider", "dec", "rec", "reason_place_change",
                      "home_postcode", "pl_postcode", "urn"],
    "uasc": ["person_id", "la", "duc"],
    "reviews": ["person_id", "la", "review_date", "review_code"],
    "missing": ["person_id", "la", "missing_type", "mis_start", "mis_end"],
    # OC2: one row per child looked after 12 months at 31 March of `year`.
    "oc2": ["person_id", "la", "year", "sdq_score", "sdq_reason", "convicted", "health_check",
            "immunisations", "teeth_check", "health_assessment", "substance_misuse",
            "intervention_received", "intervention_offered"],
    # OC3: care leavers at their 17th-21st birthdays in `year`.
    "oc3": ["person_id", "la", "year", "in_touch", "activ", "accom"],
    "ad1": ["person_id", "la", "date_int", "date_match", "foster_care", "nb_adoptr",
            "sex_adoptr", "ls_adoptr", "date_adopted"],
    "placed_adoption": ["person_id", "la", "date_placed", "date_placed_ceased", "reason_placed_ceased"],
    "prev_perm": ["person_id", "la", "prev_perm", "la_perm", "date_perm"],
    "social_worker": ["person_id", "la", "sw_id", "sw_decom", "sw_dec", "sw_reason"],
    # Annex A list 11: prospective adopters (adults, not children; adopter_id is an LA id).
    "adopters": ["adopter_id", "family_id", "la", "sex", "ethnicity", "disability",
                 "fostering_for_adoption", "enquiry_date", "stage1_start", "stage1_end",
                 "stage2_start", "stage2_end", "application_submitted", "application_approved",
                 "matched_date", "placed_date", "n_children_placed", "adoption_order_date",
                 "left_date", "left_reason"],
    # Children's disabilities (CIN Disabilities), for the whole window.
    "disabilities": ["person_id", "disability"],
}


@dataclass
class SocialCareEvents:
    contacts: pd.DataFrame
    early_help: pd.DataFrame
    cin_episodes: pd.DataFrame
    assessments: pd.DataFrame
    cin_plans: pd.DataFrame
    s47: pd.DataFrame
    cp_plans: pd.DataFrame
    care_episodes: pd.DataFrame
    uasc: pd.DataFrame
    reviews: pd.DataFrame
    missing: pd.DataFrame
    oc2: pd.DataFrame
    oc3: pd.DataFrame
    ad1: pd.DataFrame
    placed_adoption: pd.DataFrame
    prev_perm: pd.DataFrame
    social_worker: pd.DataFrame
    adopters: pd.DataFrame
    disabilities: pd.DataFrame

    def validate(self) -> None:
        for f in fields(self):
            df = getattr(self, f.name)
            missing = [c for c in EVENT_COLUMNS[f.name] if c not in df.columns]
            if missing:
                raise ValueError(f"events.{f.name} lacks columns {missing}")

    @classmethod
    def empty(cls) -> "SocialCareEvents":
        return cls(**{name: pd.DataFrame(columns=cols) for name, cols in EVENT_COLUMNS.items()})

    def for_la(self, name: str, la: str) -> pd.DataFrame:
        df = getattr(self, name)
        return df[df["la"] == la]
