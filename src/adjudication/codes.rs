//! The CARC/RARC codes priorauth emits, as closed enums with stable codes,
//! and the catalogue staff look codes up in (SPEC §3 code meanings).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Claim adjustment group code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Contractual obligation: the provider may not bill the patient.
    CO,
    /// Other adjustment (used for duplicates).
    OA,
}

/// Claim adjustment reason codes priorauth emits. CARC 15 and 62 are
/// deactivated in the X12 list and deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carc {
    /// 18: exact duplicate claim/service.
    C18,
    /// 39: services denied at the time authorization/pre-certification was requested.
    C39,
    /// 197: precertification/authorization/notification/pre-treatment absent.
    C197,
    /// 198: precertification/notification/authorization/pre-treatment exceeded.
    C198,
    /// 284: authorization number may be valid but does not apply to the billed services.
    C284,
    /// 296: authorization number may be valid but does not apply to the provider.
    C296,
    /// 302: precertification/notification/authorization/pre-treatment time limit has expired.
    C302,
}

/// Remittance advice remark codes priorauth emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rarc {
    /// M62: missing/incomplete/invalid treatment authorization code.
    M62,
    /// N54: claim information is inconsistent with pre-certified/authorized services.
    N54,
    /// N351: service date outside of the approved treatment plan service dates.
    N351,
    /// N758: adjusted based on the prior authorization decision.
    N758,
}

impl Group {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::CO => "CO",
            Group::OA => "OA",
        }
    }
}

impl Carc {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Carc::C18 => "18",
            Carc::C39 => "39",
            Carc::C197 => "197",
            Carc::C198 => "198",
            Carc::C284 => "284",
            Carc::C296 => "296",
            Carc::C302 => "302",
        }
    }
}

impl Rarc {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Rarc::M62 => "M62",
            Rarc::N54 => "N54",
            Rarc::N351 => "N351",
            Rarc::N758 => "N758",
        }
    }
}

macro_rules! serialize_as_str {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}
serialize_as_str!(Group, Carc, Rarc);

/// Reads the codes back from stored decisions: the inverse of `as_str`.
macro_rules! deserialize_from_str {
    ($($t:ty: [$($v:expr),*]),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                [$($v),*]
                    .into_iter()
                    .find(|c| c.as_str() == s)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown code {s}")))
            }
        }
    )*};
}
deserialize_from_str!(
    Group: [Group::CO, Group::OA],
    Carc: [Carc::C18, Carc::C39, Carc::C197, Carc::C198, Carc::C284, Carc::C296, Carc::C302],
    Rarc: [Rarc::M62, Rarc::N54, Rarc::N351, Rarc::N758]
);

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
        for c in carcs {
            assert!(lookup("carc", c.as_str()).unwrap().active);
        }
        assert!(!lookup("carc", "15").unwrap().active);
        assert!(!lookup("CARC", "62").unwrap().active);
    }
}
