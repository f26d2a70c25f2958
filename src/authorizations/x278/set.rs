//! One 278 transaction set: its HL tree read into events and services,
//! then each HCR decision turned into an authorization record (the
//! mapping of docs/X278.md).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

use super::{NotImported, RejectedSet};
use crate::authorizations::{Authorization, AuthorizationRecord};
use crate::model::DateRange;
use crate::x12::{ErrorKind, Segment, SyntaxError};

/// The HL levels of X217 (HL03).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// 2000A, `20`: the UMO.
    Umo,
    /// 2000B, `21`: the requester.
    Requester,
    /// 2000C, `22`: the subscriber.
    Subscriber,
    /// 2000D, `23`: the dependent.
    Dependent,
    /// 2000E, `EV`: the patient event.
    Event,
    /// 2000F, `SS`: a service.
    Service,
}

/// HCR with what follows it in its loop.
#[derive(Debug, Clone, Default)]
struct Decision {
    action: String,
    number: String,
    ref_nt: Option<String>,
    segment: u32,
}

/// A quantity and what it counts (`units`, `visits`, `days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Qty {
    amount: Option<Decimal>,
    unit_type: &'static str,
}

/// What one 2000E or 2000F loop says.
#[derive(Debug, Clone, Default)]
struct Loop {
    decision: Option<Decision>,
    /// DTP*AAH certification period.
    aah: Option<DateRange>,
    /// DTP*472 service date(s).
    service: Option<DateRange>,
    /// DTP*435 admission / DTP*096 discharge (2000E).
    admission: Option<NaiveDate>,
    discharge: Option<NaiveDate>,
    /// HSD.
    hsd: Option<Qty>,
    /// SV1/SV2/SV3 quantity.
    line: Option<Qty>,
    /// Procedure codes of SV1/SV2/SV3.
    codes: Vec<String>,
    /// Provider NPIs named in the loop (NM108 `XX`), with NM101; the
    /// servicing provider (`SJ`) first.
    providers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
struct Event {
    member: Option<String>,
    birth: Option<NaiveDate>,
    requester: Option<String>,
    body: Loop,
    services: Vec<Loop>,
}

/// What a finished set gives.
pub(super) enum Finished {
    Rejected(RejectedSet),
    Request,
    Response {
        /// Each record with its HCR's position and HCR01.
        authorizations: Vec<(Authorization, u32, String)>,
        not_imported: Vec<NotImported>,
    },
}

/// Reads one set's segments.
pub(super) struct SetReader {
    control: String,
    count: u32,
    errors: Vec<SyntaxError>,
    bht02: Option<String>,
    hl: Vec<(String, Level)>,
    level: Option<Level>,
    requester: Option<String>,
    member: Option<String>,
    /// Birth date of the dependent loop in force (2010D DMG02).
    dependent: Option<NaiveDate>,
    events: Vec<Event>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl SetReader {
    /// A set opened by `st`; `version` is GS08 (None outside a group).
    pub(super) fn start(st: &Segment<'_>, version: Option<String>) -> SetReader {
        let mut r = SetReader {
            control: text(st.element(2)),
            count: 1,
            errors: Vec::new(),
            bht02: None,
            hl: Vec::new(),
            level: None,
            requester: None,
            member: None,
            dependent: None,
            events: Vec::new(),
        };
        if version.is_none() {
            r.error(
                st,
                None,
                ErrorKind::UnexpectedSegment,
                "ST outside a functional group (no GS)".into(),
            );
        }
        if r.control.is_empty() {
            r.error(
                st,
                Some(2),
                ErrorKind::ElementMissing,
                "ST02 (transaction set control number) is required but missing".into(),
            );
        }
        if st.element(1) != b"278" {
            r.error(
                st,
                Some(1),
                ErrorKind::UnsupportedSet,
                "ST01: this transaction set is not a 278 (health care services review)".into(),
            );
        } else {
            let guide = match st.text(3) {
                "" => version.unwrap_or_default(),
                g => g.to_string(),
            };
            if !guide.starts_with("005010X217") {
                r.error(
                    st,
                    Some(3),
                    ErrorKind::UnsupportedGuide,
                    "ST03/GS08: implementation guide is not 005010X217 (the 5010 278)".into(),
                );
            }
        }
        r
    }

    fn error(&mut self, s: &Segment<'_>, element: Option<u8>, kind: ErrorKind, message: String) {
        let id = text(s.id());
        let message = match element {
            Some(e) => format!(
                "segment {} ({id}) element {id}{e:02}: {message}",
                self.count
            ),
            None => format!("segment {} ({id}): {message}", self.count),
        };
        self.push(id, element, s.byte, kind, message);
    }

    fn push(
        &mut self,
        id: String,
        element: Option<u8>,
        byte: u64,
        kind: ErrorKind,
        message: String,
    ) {
        if self.errors.len() < 100 {
            self.errors.push(SyntaxError {
                segment: self.count,
                id,
                loop_id: None,
                element,
                component: None,
                byte,
                claim: None,
                kind,
                message,
            });
        }
    }

    /// An error that ends the set where no SE was read.
    pub(super) fn error_at_end(&mut self, kind: ErrorKind, byte: u64, message: String) {
        self.count += 1;
        self.push("SE".into(), None, byte, kind, message);
    }

    /// The SE trailer: the segment count and control number.
    pub(super) fn trailer(&mut self, s: &Segment<'_>) {
        self.count += 1;
        if s.text(1).parse::<u32>().ok() != Some(self.count) {
            let m = format!(
                "SE01 says {} segments, the transaction set has {} (ST to SE inclusive)",
                s.text(1),
                self.count
            );
            self.error(s, Some(1), ErrorKind::SegmentCount, m);
        }
        if s.element(2) != self.control.as_bytes() {
            self.error(
                s,
                Some(2),
                ErrorKind::ControlNumberMismatch,
                "SE02 transaction set control number differs from ST02".into(),
            );
        }
    }

    fn date(&mut self, s: &Segment<'_>) -> Option<DateRange> {
        let d = DateRange::parse(s.element(2), s.element(3));
        if d.is_none() {
            self.error(
                s,
                Some(3),
                ErrorKind::InvalidDate,
                "is not a date of the DTP02 format (D8 CCYYMMDD or RD8 CCYYMMDD-CCYYMMDD)".into(),
            );
        }
        d
    }

    fn number(&mut self, s: &Segment<'_>, n: usize) -> Option<Decimal> {
        let t = s.text(n);
        if t.is_empty() {
            return None;
        }
        match Decimal::from_str(t) {
            Ok(d) if d >= Decimal::ZERO => Some(d),
            _ => {
                let e = u8::try_from(n).ok();
                self.error(
                    s,
                    e,
                    ErrorKind::InvalidNumber,
                    "is not a non-negative decimal".into(),
                );
                None
            }
        }
    }

    fn current(&mut self) -> Option<&mut Loop> {
        let ev = self.events.last_mut()?;
        match self.level {
            Some(Level::Event) => Some(&mut ev.body),
            Some(Level::Service) => ev.services.last_mut(),
            _ => None,
        }
    }

    /// ST02.
    pub(super) fn control(&self) -> &str {
        &self.control
    }

    /// One segment between ST and SE.
    pub(super) fn segment(&mut self, s: &Segment<'_>) {
        self.count += 1;
        match s.id() {
            b"BHT" => self.bht02 = Some(text(s.element(2))),
            b"HL" => self.hl_segment(s),
            b"NM1" => self.nm1(s),
            b"DMG" if self.level == Some(Level::Dependent) => {
                let b = crate::model::parse_ccyymmdd(s.element(2));
                if b.is_none() && !s.element(2).is_empty() {
                    self.error(
                        s,
                        Some(2),
                        ErrorKind::InvalidDate,
                        "is not a date (CCYYMMDD)".into(),
                    );
                }
                self.dependent = b;
            }
            b"HCR" => self.hcr(s),
            b"REF" if s.element(1) == b"NT" => {
                let v = text(s.element(2));
                if let Some(d) = self.current().and_then(|l| l.decision.as_mut()) {
                    d.ref_nt.get_or_insert(v);
                }
            }
            b"DTP" => {
                let q = s.element(1).to_vec();
                if !matches!(q.as_slice(), b"AAH" | b"472" | b"435" | b"096") {
                    return;
                }
                let d = self.date(s);
                if let (Some(d), Some(l)) = (d, self.current()) {
                    match q.as_slice() {
                        b"AAH" => l.aah = Some(d),
                        b"472" => l.service = Some(d),
                        b"435" => l.admission = Some(d.start),
                        _ => l.discharge = Some(d.end),
                    }
                }
            }
            b"HSD" => {
                let amount = self.number(s, 2);
                let unit_type = match s.element(1) {
                    b"VS" => "visits",
                    b"DY" => "days",
                    _ => "units",
                };
                let q = Qty { amount, unit_type };
                if let Some(l) = self.current() {
                    l.hsd = Some(q);
                }
            }
            b"SV1" | b"SV2" | b"SV3" => self.service_line(s),
            _ => {}
        }
    }

    fn hl_segment(&mut self, s: &Segment<'_>) {
        let id = text(s.element(1));
        let parent = s.element(2);
        let level = match s.element(3) {
            b"20" => Level::Umo,
            b"21" => Level::Requester,
            b"22" => Level::Subscriber,
            b"23" => Level::Dependent,
            b"EV" => Level::Event,
            b"SS" => Level::Service,
            _ => {
                self.error(
                    s,
                    Some(3),
                    ErrorKind::InvalidCode,
                    "is not a 278 hierarchical level (20, 21, 22, 23, EV, SS)".into(),
                );
                self.level = None;
                return;
            }
        };
        if id.is_empty() || self.hl.iter().any(|(h, _)| *h == id) {
            self.error(
                s,
                Some(1),
                ErrorKind::InvalidCode,
                "HL01 is missing or repeats an earlier HL01".into(),
            );
        }
        let parent_level = self
            .hl
            .iter()
            .find(|(h, _)| h.as_bytes() == parent)
            .map(|(_, l)| *l);
        if level != Level::Umo && parent_level.is_none() {
            self.error(
                s,
                Some(2),
                ErrorKind::InvalidCode,
                "HL02 names no earlier HL of this set".into(),
            );
        }
        match level {
            Level::Subscriber => {
                self.member = None;
                self.dependent = None;
            }
            Level::Dependent => self.dependent = None,
            Level::Event => {
                let birth = if parent_level == Some(Level::Dependent) {
                    self.dependent
                } else {
                    None
                };
                self.events.push(Event {
                    member: self.member.clone(),
                    birth,
                    requester: self.requester.clone(),
                    ..Event::default()
                });
            }
            Level::Service => match self.events.last_mut() {
                Some(ev) => ev.services.push(Loop::default()),
                None => {
                    self.error(
                        s,
                        Some(2),
                        ErrorKind::InvalidCode,
                        "a service (SS) level must be under a patient event (EV)".into(),
                    );
                }
            },
            _ => {}
        }
        self.hl.push((id, level));
        self.level = Some(level);
    }

    fn nm1(&mut self, s: &Segment<'_>) {
        let xx = (s.element(8) == b"XX").then(|| text(s.element(9)));
        match self.level {
            Some(Level::Requester) => {
                if let Some(npi) = xx {
                    self.requester = Some(npi);
                }
            }
            Some(Level::Subscriber) if s.element(1) == b"IL" => {
                self.member = Some(text(s.element(9)));
                if let Some(ev) = self.events.last_mut() {
                    ev.member.clone_from(&self.member);
                }
            }
            Some(Level::Event | Level::Service) => {
                let role = text(s.element(1));
                if let (Some(npi), Some(l)) = (xx, self.current()) {
                    if role == "SJ" {
                        l.providers.insert(0, (role, npi));
                    } else {
                        l.providers.push((role, npi));
                    }
                }
            }
            _ => {}
        }
    }

    fn hcr(&mut self, s: &Segment<'_>) {
        let action = text(s.element(1));
        if !matches!(
            action.as_str(),
            "A1" | "A2" | "A3" | "A4" | "A6" | "C" | "CT" | "NA"
        ) {
            self.error(
                s,
                Some(1),
                ErrorKind::InvalidCode,
                "is not an HCR01 action code of 005010X217 (A1, A2, A3, A4, A6, C, CT, NA)".into(),
            );
            return;
        }
        let d = Decision {
            action,
            number: text(s.element(2)).trim().to_string(),
            ref_nt: None,
            segment: self.count,
        };
        match self.current() {
            Some(l) => l.decision = Some(d),
            None => self.error(
                s,
                None,
                ErrorKind::UnexpectedSegment,
                "HCR belongs in a patient event (2000E) or service (2000F) loop".into(),
            ),
        }
    }

    fn service_line(&mut self, s: &Segment<'_>) {
        // SV1: SV101 composite, SV103 unit basis, SV104 quantity.
        // SV2: SV201 revenue code, SV202 composite, SV204 basis, SV205 quantity.
        // SV3: SV301 composite, SV306 procedure count.
        let (code, basis, qty) = match s.id() {
            b"SV1" => (s.component(1, 2), s.element(3), 4),
            b"SV2" => {
                let c = s.component(2, 2);
                let c = if c.is_empty() { s.element(1) } else { c };
                (c, s.element(4), 5)
            }
            _ => (s.component(1, 2), &b""[..], 6),
        };
        let code = text(code);
        let unit_type = if basis == b"DA" { "days" } else { "units" };
        let amount = self.number(s, qty);
        if let Some(l) = self.current() {
            if !code.is_empty() && !l.codes.contains(&code) {
                l.codes.push(code);
            }
            l.line = match (l.line, amount) {
                (None, Some(a)) => Some(Qty {
                    amount: Some(a),
                    unit_type,
                }),
                (Some(q), Some(a)) if q.unit_type == unit_type => Some(Qty {
                    amount: q.amount.map(|b| b + a),
                    unit_type,
                }),
                (l, _) => l,
            };
        }
    }

    /// The set's outcome.
    pub(super) fn finish(self) -> Finished {
        if !self.errors.is_empty() {
            return Finished::Rejected(RejectedSet {
                control_number: self.control,
                errors: self.errors,
            });
        }
        match self.bht02.as_deref() {
            Some("13") => return Finished::Request,
            Some("11") => {}
            _ => {
                return Finished::Rejected(RejectedSet {
                    control_number: self.control.clone(),
                    errors: vec![SyntaxError {
                        segment: 2,
                        id: "BHT".into(),
                        loop_id: None,
                        element: Some(2),
                        component: None,
                        byte: 0,
                        claim: None,
                        kind: ErrorKind::InvalidCode,
                        message: "segment 2 (BHT) element BHT02: a 278 is a request (13) or a response (11); this set is neither".into(),
                    }],
                })
            }
        }
        let mut authorizations = Vec::new();
        let mut not_imported = Vec::new();
        for ev in &self.events {
            let all: Vec<&Loop> = ev.services.iter().collect();
            if ev.body.decision.is_some() {
                record(
                    &self.control,
                    ev,
                    &ev.body,
                    &all,
                    &mut authorizations,
                    &mut not_imported,
                );
            }
            for sv in &ev.services {
                if sv.decision.is_some() {
                    record(
                        &self.control,
                        ev,
                        sv,
                        &[],
                        &mut authorizations,
                        &mut not_imported,
                    );
                }
            }
        }
        Finished::Response {
            authorizations,
            not_imported,
        }
    }
}

/// The record of `l`'s decision (an event's when `services` are its
/// services, a service's when `services` is empty and `l` is one of them).
fn record(
    set: &str,
    ev: &Event,
    l: &Loop,
    services: &[&Loop],
    out: &mut Vec<(Authorization, u32, String)>,
    skipped: &mut Vec<NotImported>,
) {
    let Some(d) = &l.decision else {
        return;
    };
    let event_level = std::ptr::eq(l, &ev.body);
    let number = if d.number.is_empty() {
        d.ref_nt.clone().filter(|n| !n.trim().is_empty())
    } else {
        Some(d.number.clone())
    };
    let mut skip = |reason: &str| {
        skipped.push(NotImported {
            set: set.to_string(),
            segment: d.segment,
            action: d.action.clone(),
            number: number.clone(),
            reason: reason.to_string(),
        });
    };
    let status = match d.action.as_str() {
        "A1" | "A2" | "A6" => "approved",
        "A3" => "denied",
        "A4" | "CT" => "pending",
        "C" => "cancelled",
        _ => {
            skip("HCR01 NA (no action required): the service needs no authorization, so there is none to record");
            return;
        }
    };
    let Some(number) = number.clone() else {
        skip("no certification number (HCR02) and no administrative reference number (REF*NT)");
        return;
    };
    let Some(member) = ev.member.clone().filter(|m| !m.is_empty()) else {
        skip("no subscriber member id (2010C NM1*IL NM109)");
        return;
    };
    let provider = l
        .providers
        .first()
        .or_else(|| (!event_level).then(|| ev.body.providers.first()).flatten())
        .map(|p| p.1.clone())
        .or_else(|| ev.requester.clone());
    let Some(provider) = provider else {
        skip("no provider NPI: neither the service provider (2010F), the patient event providers (2010EA) nor the requester (2010B) is identified by NM108 XX");
        return;
    };
    let mut codes: Vec<String> = l.codes.clone();
    for s in services {
        for c in &s.codes {
            if !codes.contains(c) {
                codes.push(c.clone());
            }
        }
    }
    let dates = l
        .aah
        .or(l.service)
        .or_else(|| span(services.iter().filter_map(|s| s.aah.or(s.service))))
        .or_else(|| {
            if event_level {
                None
            } else {
                ev.body.aah.or(ev.body.service)
            }
        })
        .or_else(|| {
            let start = ev.body.admission?;
            Some(DateRange {
                start,
                end: ev.body.discharge.filter(|&e| e >= start).unwrap_or(start),
            })
        });
    let Some(dates) = dates else {
        skip(
            "no certification period (DTP*AAH), service date (DTP*472) or admission date (DTP*435)",
        );
        return;
    };
    let qty = l.hsd.or(l.line).or_else(|| {
        let mut lines = services.iter().filter_map(|s| s.hsd.or(s.line));
        let first = lines.next()?;
        lines.try_fold(first, |acc, q| {
            (q.unit_type == acc.unit_type).then(|| Qty {
                amount: acc.amount.zip(q.amount).map(|(a, b)| a + b),
                unit_type: acc.unit_type,
            })
        })
    });
    let rec = AuthorizationRecord {
        number,
        member_id: member,
        provider_npi: provider,
        codes: codes.join("|"),
        units: qty.and_then(|q| q.amount).map(|u| u.to_string()),
        units_used: None,
        start_date: dates.start.to_string(),
        end_date: dates.end.to_string(),
        status: status.to_string(),
        patient_birth_date: ev.birth.map(|b| b.to_string()),
        unit_type: Some(qty.map_or("units", |q| q.unit_type).to_string()),
    };
    match rec.validate() {
        Ok(a) => out.push((a, d.segment, d.action.clone())),
        Err(p) => {
            // Field names only: values may be PHI.
            let fields: Vec<&str> = p.iter().map(|p| p.field).collect();
            skip(&format!(
                "the record it gives is not valid ({})",
                fields.join(", ")
            ));
        }
    }
}

fn span(mut dates: impl Iterator<Item = DateRange>) -> Option<DateRange> {
    let first = dates.next()?;
    Some(dates.fold(first, |a, d| DateRange {
        start: a.start.min(d.start),
        end: a.end.max(d.end),
    }))
}
