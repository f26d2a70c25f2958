//! The owned claim model: what adjudication needs from an 837, nothing more.

// Before the modules, which use it.
/// Declares a closed list of codes or words from one table: the enum,
/// `as_str`, and serde as that string (stored decisions are read back
/// through it). Used by the CARC/RARC codes and the decision words.
macro_rules! code_list {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The code or word as written in answers.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)*
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                match &*s {
                    $($code => Ok($name::$variant),)*
                    other => Err(serde::de::Error::custom(format!("unknown code {other}"))),
                }
            }
        }
    };
}

pub mod carc;
mod claim;
mod codes;
mod dates;
mod decision;
mod network;

pub use claim::{
    Claim, ClaimKind, Frequency, LineOfBusiness, Member, MemberBirth, Patient, Procedure,
    ServiceLine, Subscriber,
};
pub use codes::{any_matches, code_key, CodeSpec, CodeSpecError};
pub use dates::{parse_ccyymmdd, DateRange, Ymd};
pub use decision::{
    money, Adjustment, ClaimDecision, ClaimStatus, Consumption, Decision, LineDecision,
};
pub use network::NetworkDirectory;
