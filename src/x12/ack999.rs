//! The 999 implementation acknowledgment (005010X231A1).

use chrono::NaiveDateTime;

use super::parser::GroupAck;
use super::ta1::{ta1_segments, write_ta1, InterchangeAck};
use super::write::{Envelope, X12Writer};

/// Envelope values of the 999 priorauth writes.
#[derive(Debug, Clone)]
pub struct AckEnvelope {
    /// When the acknowledgment is made (passed in: the core reads no clock).
    pub created: NaiveDateTime,
    /// ISA13 / GS06 of the 999 interchange.
    pub control_number: u32,
    /// ISA15 test indicator.
    pub test: bool,
}

fn or_default<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() {
        default
    } else {
        s
    }
}

/// Writes one 999 interchange acknowledging every functional group in
/// `groups`: one ST*999 per group, with AK2 for each transaction set, IK3 /
/// IK4 for each error the parser found (an error inside a claim with
/// `CTX*CLM01:<patient control number>`), IK5 and AK9 results.
///
/// The 999 never copies element values (IK404 is left out): they may be PHI.
pub fn write_999(groups: &[GroupAck], env: &AckEnvelope) -> String {
    write_999_ta1(groups, &[], env)
}

/// As [`write_999`], with a TA1 in the interchange for each interchange
/// read whose own envelope is at fault or that asked for one (ISA14 `1`).
/// With no group read at all, the TA1s alone.
pub fn write_999_ta1(
    groups: &[GroupAck],
    interchanges: &[InterchangeAck],
    env: &AckEnvelope,
) -> String {
    if groups.is_empty() {
        return write_ta1(interchanges, env);
    }
    let mut w = X12Writer::new(true);
    let first = groups.first();
    // The 999 goes back to whoever sent the 837: sender and receiver swap.
    let (sender, receiver) = match first {
        Some(g) => (g.receiver.clone(), g.sender.clone()),
        None => (Default::default(), Default::default()),
    };
    let (app_sender, app_receiver) = match first {
        Some(g) => (g.app_receiver.as_str(), g.app_sender.as_str()),
        None => ("", ""),
    };
    let envelope = Envelope {
        sender: (&sender.0, &sender.1),
        receiver: (&receiver.0, &receiver.1),
        app_sender,
        app_receiver,
        functional_id: "FA",
        version: "005010X231A1",
        created: env.created,
        control: env.control_number,
        test: env.test,
    };
    w.begin(&envelope);
    for (i, g) in groups.iter().enumerate() {
        let st = format!("{:04}", i + 1);
        w.segment("ST", &["999", &st, "005010X231A1"]);
        w.segment(
            "AK1",
            &[
                or_default(&g.functional_id, "HC"),
                or_default(&g.control_number, "0"),
                &g.version,
            ],
        );
        let mut accepted = 0usize;
        for set in &g.sets {
            w.segment("AK2", &[&set.set_id, &set.control_number, &set.guide]);
            let mut ik5: Vec<&str> = Vec::new();
            for e in &set.errors {
                if let Some(ik3) = e.kind.ik3_code() {
                    let pos = e.segment.to_string();
                    let id = if super::valid_segment_id(e.id.as_bytes()) {
                        e.id.as_str()
                    } else {
                        "ZZZ"
                    };
                    w.segment("IK3", &[id, &pos, e.loop_id.unwrap_or(""), ik3]);
                    // The claim the error is in (its patient control
                    // number: the provider's own reference, not PHI).
                    if let Some(pcn) = &e.claim {
                        let ctx = w.composite(&["CLM01", pcn]);
                        w.segment("CTX", &[&ctx]);
                    }
                    if let (Some(ik4), Some(el)) = (e.kind.ik4_code(), e.element) {
                        let el = el.to_string();
                        let comp = e.component.map(|c| c.to_string()).unwrap_or_default();
                        let position = w.composite(&[&el, &comp]);
                        w.segment("IK4", &[&position, "", ik4]);
                    }
                }
                let code = e.kind.ik5_code();
                if !ik5.contains(&code) {
                    ik5.push(code);
                }
            }
            if set.errors.is_empty() {
                accepted += 1;
                w.segment("IK5", &["A"]);
            } else {
                let mut el: Vec<&str> = vec!["R"];
                el.extend(ik5.iter().take(5));
                w.segment("IK5", &el);
            }
        }
        let n = g.sets.len();
        let status = if n > 0 && accepted == n {
            if g.group_errors.is_empty() {
                "A"
            } else {
                "E"
            }
        } else if accepted == 0 {
            "R"
        } else {
            "P"
        };
        let (n, acc) = (n.to_string(), accepted.to_string());
        let mut ak9: Vec<&str> = vec![status, &n, &n, &acc];
        ak9.extend(g.group_errors.iter().take(5));
        w.segment("AK9", &ak9);
        w.end_set(&st);
    }
    // The TA1s follow the group: X12.5 would let them precede it too,
    // but pyx12 (the validator every answer must pass) takes them only here.
    w.segment(
        "GE",
        &[&groups.len().to_string(), &env.control_number.to_string()],
    );
    ta1_segments(&mut w, interchanges);
    w.segment("IEA", &["1", &format!("{:09}", env.control_number)]);
    w.finish()
}
