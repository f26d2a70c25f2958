//! The owned claim model: what adjudication needs from an 837, nothing more.

mod claim;
mod codes;
mod dates;

pub use claim::{
    Claim, ClaimKind, Frequency, LineOfBusiness, Patient, Procedure, ServiceLine, Subscriber,
};
pub use codes::{any_matches, code_key, CodeSpec, CodeSpecError};
pub use dates::{parse_ccyymmdd, DateRange, Ymd};
