//! X12 in and out: a zero-copy segment reader, envelope checks, the 837
//! claim builder, reading inputs set by set ([`SetReader`],
//! [`read_inputs`]), and the writers of the 999 acknowledgment, the 277CA
//! claim acknowledgment and the 835 remittance advice, built through one
//! answer builder ([`x12_answer`]). Uses the claim model only. Pure: no I/O
//! beyond the `io::Read` it is handed, no clock (callers pass a [`Stamp`]),
//! no async.
//!
//! ```
//! use priorauth::x12::Parser;
//! let x12 = std::fs::read("fixtures/x12/837p-sample.x12").unwrap();
//! let mut parser = Parser::new(&x12[..]);
//! while let Some(set) = parser.next_set() {
//!     for claim in &set.claims {
//!         println!("{} has {} lines", claim.claim_id, claim.lines.len());
//!     }
//! }
//! ```

mod ack277ca;
mod ack999;
mod answer;
mod claim837;
mod delimiters;
mod error;
mod intake;
mod lexer;
mod parser;
mod remit835;
mod segment;
mod ta1;
pub mod write;

pub use ack277ca::{write_277ca, AckClaimsConfig, AckedClaim};
pub use ack999::{write_999, write_999_ta1, AckEnvelope};
pub use answer::{nothing_to_say, x12_answer, Nothing, Payer, Stamp, X12Answer};
pub use claim837::valid_segment_id;
pub use delimiters::{Delimiters, IsaProblem};
pub use error::{EnvelopeError, ErrorKind, SyntaxError};
pub use intake::{read_inputs, unreadable, Input, Intake, Rejected, SetReader};
pub use lexer::{LexError, LexProblem, Lexed, SegmentReader, MAX_SEGMENT};
pub use parser::{kind_of_guide, GroupAck, Parser, SetAck, Summary, TransactionSet};
pub use remit835::{remittable, write_835, Remit835, RemitClaim, RemitConfig};
pub use segment::Segment;
pub use ta1::{write_ta1, InterchangeAck};
