//! The CARC/RARC codes priorauth emits, as closed enums with stable codes,
//! and the catalogue staff look codes up in (SPEC §3 code meanings).

use serde::Serialize;

code_list! {
    /// Claim adjustment group code.
    Group {
        /// Contractual obligation: the provider may not bill the patient.
        CO = "CO",
        /// Other adjustment (used for duplicates).
        OA = "OA",
    }
}

code_list! {
    /// Claim adjustment reason codes priorauth emits. CARC 15 and 62 are
    /// deactivated in the X12 list and deliberately absent.
    Carc {
        /// 18: exact duplicate claim/service.
        C18 = "18",
        /// 39: services denied at the time authorization/pre-certification was requested.
        C39 = "39",
        /// 197: precertification/authorization/notification/pre-treatment absent.
        C197 = "197",
        /// 198: precertification/notification/authorization/pre-treatment exceeded.
        C198 = "198",
        /// 284: authorization number may be valid but does not apply to the billed services.
        C284 = "284",
        /// 296: authorization number may be valid but does not apply to the provider.
        C296 = "296",
        /// 302: precertification/notification/authorization/pre-treatment time limit has expired.
        C302 = "302",
    }
}

code_list! {
    /// Remittance advice remark codes priorauth emits.
    Rarc {
        /// M62: missing/incomplete/invalid treatment authorization code.
        M62 = "M62",
        /// N54: claim information is inconsistent with pre-certified/authorized services.
        N54 = "N54",
        /// N351: service date outside of the approved treatment plan service dates.
        N351 = "N351",
        /// N758: adjusted based on the prior authorization decision.
        N758 = "N758",
    }
}

/// One entry of the code catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CodeInfo {
    /// `carc` or `rarc`.
    pub list: &'static str,
    /// The code.
    pub code: &'static str,
    /// Its meaning, in short.
    pub description: &'static str,
    /// False for codes X12 has deactivated.
    pub active: bool,
    /// How priorauth uses it.
    pub used_for: &'static str,
}

/// The codes priorauth uses or explains (paraphrased from the X12 lists).
pub const CATALOGUE: &[CodeInfo] = &[
    CodeInfo { list: "carc", code: "15", description: "The authorization number is missing, invalid, or does not apply to the billed services or provider.", active: false, used_for: "never emitted: deactivated; split into 197, 284 and 296" },
    CodeInfo { list: "carc", code: "18", description: "Exact duplicate claim/service.", active: true, used_for: "group OA on every line of a duplicate original claim" },
    CodeInfo { list: "carc", code: "39", description: "Services denied at the time authorization/pre-certification was requested.", active: true, used_for: "the authorization on file was denied by utilization management" },
    CodeInfo { list: "carc", code: "62", description: "Payment denied/reduced for absence of, or exceeded, pre-certification/authorization.", active: false, used_for: "never emitted: deactivated; replaced by 197 and 198" },
    CodeInfo { list: "carc", code: "197", description: "Precertification/authorization/notification/pre-treatment absent.", active: true, used_for: "no authorization number, number not on file, wrong member, cancelled, or service before the authorization starts" },
    CodeInfo { list: "carc", code: "198", description: "Precertification/notification/authorization/pre-treatment exceeded.", active: true, used_for: "no units left, or billed units above the units left (on the excess)" },
    CodeInfo { list: "carc", code: "284", description: "Precertification/authorization/notification/pre-treatment number may be valid but does not apply to the billed services.", active: true, used_for: "the authorization covers other procedure or revenue codes" },
    CodeInfo { list: "carc", code: "296", description: "Precertification/authorization/notification/pre-treatment number may be valid but does not apply to the provider.", active: true, used_for: "the authorization was issued to another provider" },
    CodeInfo { list: "carc", code: "302", description: "Precertification/notification/authorization/pre-treatment time limit has expired.", active: true, used_for: "the service date is after the authorization's end date" },
    CodeInfo { list: "rarc", code: "M62", description: "Missing/incomplete/invalid treatment authorization code.", active: true, used_for: "with CARC 197 when the number is absent, unknown or cancelled" },
    CodeInfo { list: "rarc", code: "N54", description: "Claim information is inconsistent with pre-certified/authorized services.", active: true, used_for: "member, provider or codes differ from the authorization" },
    CodeInfo { list: "rarc", code: "N351", description: "Service date outside of the approved treatment plan service dates.", active: true, used_for: "the service date is outside the authorization's dates" },
    CodeInfo { list: "rarc", code: "N758", description: "This claim/service was adjusted based on the prior authorization decision.", active: true, used_for: "with CARC 39 when the authorization was denied" },
];

/// Looks a code up in the catalogue (`list` is `carc` or `rarc`).
pub fn lookup(list: &str, code: &str) -> Option<&'static CodeInfo> {
    CATALOGUE
        .iter()
        .find(|c| c.list.eq_ignore_ascii_case(list) && c.code.eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes are an external contract: pin them.
    #[test]
    fn codes_are_stable() {
        let carcs = [
            Carc::C18,
            Carc::C39,
            Carc::C197,
            Carc::C198,
            Carc::C284,
            Carc::C296,
            Carc::C302,
        ];
        let got: Vec<&str> = carcs.iter().map(|c| c.as_str()).collect();
        assert_eq!(got, ["18", "39", "197", "198", "284", "296", "302"]);
        let rarcs = [Rarc::M62, Rarc::N54, Rarc::N351, Rarc::N758];
        let got: Vec<&str> = rarcs.iter().map(|c| c.as_str()).collect();
        assert_eq!(got, ["M62", "N54", "N351", "N758"]);
        assert_eq!(serde_json::to_string(&Carc::C197).unwrap(), "\"197\"");
        assert_eq!(serde_json::from_str::<Carc>("\"198\"").unwrap(), Carc::C198);
        assert!(serde_json::from_str::<Rarc>("\"X1\"").is_err());
        for c in carcs {
            assert!(lookup("carc", c.as_str()).unwrap().active);
        }
        assert!(!lookup("carc", "15").unwrap().active);
        assert!(!lookup("CARC", "62").unwrap().active);
    }
}
