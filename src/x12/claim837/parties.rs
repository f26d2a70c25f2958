//! The HL tree (billing provider 20 → subscriber 22 → patient 23) and the
//! parties named in it: NM1, SBR and PAT.

use super::*;

impl SetBuilder {
    pub(super) fn hl(&mut self, s: &Segment<'_>) {
        self.finish_claim(s);
        self.party = Party::Other;
        // Errors in this HL belong to the loop it opens.
        self.place = match s.element(3) {
            b"20" => Place::BillingProvider,
            b"22" => Place::Subscriber,
            _ => Place::Patient,
        };
        // TR3: HL01 starts at 1 in each transaction set and goes up by one.
        let expected = self.levels.len() as u32 + 1;
        if s.text(1).parse::<u32>().ok() != Some(expected) {
            self.element_error(s, 1, None, ErrorKind::InvalidCode, "hierarchical id number");
            if let Some(e) = self.errors.last_mut() {
                e.message = format!("HL01 must be {expected}: HL ids start at 1 in each transaction set and go up by one");
            }
        }
        let this_id = expected;
        let parent: Option<u32> = s.text(2).parse().ok();
        let level = match s.element(3) {
            b"20" => Level::BillingProvider,
            b"22" => Level::Subscriber,
            b"23" => Level::Patient,
            _ => {
                self.element_error(
                    s,
                    3,
                    None,
                    ErrorKind::InvalidCode,
                    "hierarchical level code",
                );
                if let Some(e) = self.errors.last_mut() {
                    e.message =
                        "HL03 must be 20 (billing provider), 22 (subscriber) or 23 (patient)"
                            .into();
                }
                self.levels.push(Level::Patient);
                // The subscriber and patient stay in force and may still be
                // changed (PAT, NM1*QC): take back copies of moved ones.
                self.unshare();
                return;
            }
        };
        let (want_parent, what) = match level {
            Level::BillingProvider => (None, "no parent"),
            Level::Subscriber => (
                self.last_billing_hl,
                "the billing provider HL (level 20) it follows",
            ),
            Level::Patient => (
                self.last_subscriber_hl,
                "the subscriber HL (level 22) it follows",
            ),
        };
        let parent_ok = match (level, parent) {
            // HL02 is not used at level 20; tolerate only an empty one.
            (Level::BillingProvider, p) => p.is_none() && s.element(2).is_empty(),
            (_, Some(p)) => Some(p) == want_parent,
            (_, None) => false,
        };
        if !parent_ok {
            let kind = if s.element(2).is_empty() {
                ErrorKind::ElementMissing
            } else {
                ErrorKind::InvalidCode
            };
            self.element_error(s, 2, None, kind, "hierarchical parent id");
            if let Some(e) = self.errors.last_mut() {
                e.message = format!(
                    "HL02 of HL {this_id} (level {}) must point to {what}",
                    String::from_utf8_lossy(s.element(3))
                );
            }
        }
        self.levels.push(level);
        match level {
            Level::BillingProvider => {
                self.last_billing_hl = Some(this_id);
                self.last_subscriber_hl = None;
                self.billing_npi = None;
                self.subscriber = None;
                self.subscriber_moved = false;
                self.patient = None;
                self.patient_moved = false;
                self.place = Place::BillingProvider;
            }
            Level::Subscriber => {
                self.last_subscriber_hl = Some(this_id);
                self.subscriber = Some(Subscriber::default());
                self.subscriber_moved = false;
                self.patient = None;
                self.patient_moved = false;
                self.place = Place::Subscriber;
            }
            Level::Patient => {
                self.patient = Some(Patient::default());
                self.patient_moved = false;
                self.place = Place::Patient;
            }
        }
    }

    /// Puts back copies of a subscriber and patient that were moved into
    /// the last claim, for an HL that leaves them in force.
    #[cold]
    pub(super) fn unshare(&mut self) {
        let last = self.claims.last();
        if self.subscriber_moved && self.subscriber.is_none() {
            self.subscriber = last.map(|c| c.subscriber.clone());
        }
        if self.patient_moved && self.patient.is_none() {
            self.patient = last.and_then(|c| c.patient.clone());
        }
        self.subscriber_moved = false;
        self.patient_moved = false;
    }

    /// The subscriber for a new claim: moved out of the builder for the
    /// first claim under it, copied from the claim before for later ones.
    pub(super) fn claim_subscriber(&mut self) -> Subscriber {
        match self.subscriber.take() {
            Some(sub) => {
                self.subscriber_moved = true;
                sub
            }
            None if self.subscriber_moved => self
                .claims
                .last()
                .map(|c| c.subscriber.clone())
                .unwrap_or_default(),
            None => Subscriber::default(),
        }
    }

    /// The patient for a new claim, shared like the subscriber.
    pub(super) fn claim_patient(&mut self) -> Option<Patient> {
        match self.patient.take() {
            Some(p) => {
                self.patient_moved = true;
                Some(p)
            }
            None if self.patient_moved => self.claims.last().and_then(|c| c.patient.clone()),
            None => None,
        }
    }

    pub(super) fn nm1(&mut self, s: &Segment<'_>) {
        let entity = s.element(1);
        self.party = Party::Other;
        match (self.place, entity) {
            (Place::BillingProvider, b"85") => {
                self.billing_npi = opt_text(s.element(9));
                self.billing_name = text(s.element(3));
            }
            (Place::Subscriber, b"IL") => {
                if let Some(sub) = self.subscriber.as_mut() {
                    sub.member_id = text(s.element(9));
                    sub.last_name = text(s.element(3));
                    sub.first_name = text(s.element(4));
                }
                self.party = Party::Subscriber;
            }
            (Place::Patient, b"QC") => {
                if let Some(p) = self.patient.as_mut() {
                    p.last_name = text(s.element(3));
                    p.first_name = text(s.element(4));
                }
                self.party = Party::Patient;
            }
            (Place::Claim | Place::ClaimProvider, _) => {
                if let Some(c) = self.open_claim() {
                    match entity {
                        b"82" => c.rendering_npi = opt_text(s.element(9)),
                        // 2310A attending provider: an 837I loop.
                        b"71" if c.kind == ClaimKind::Institutional => {
                            c.attending_npi = opt_text(s.element(9));
                        }
                        _ => {}
                    }
                }
                self.place = Place::ClaimProvider;
            }
            (Place::Line | Place::LineDetail, _) => {
                if entity == b"82" {
                    if let Some(l) = self.open_line() {
                        l.rendering_npi = opt_text(s.element(9));
                    }
                }
                self.place = Place::LineDetail;
            }
            _ => {}
        }
    }

    pub(super) fn sbr(&mut self, s: &Segment<'_>) {
        match self.place {
            Place::Subscriber => {
                if let Some(sub) = self.subscriber.as_mut() {
                    sub.payer_responsibility = text(s.element(1));
                    sub.filing_indicator = text(s.element(9));
                }
            }
            Place::Claim | Place::ClaimProvider | Place::OtherPayer => {
                self.place = Place::OtherPayer;
            }
            _ => {}
        }
    }

    /// DMG of the subscriber (2010BA) or the patient (2010CA): the birth
    /// date DMG02 (DMG01 `D8`). PHI: an unreadable date is dropped, and
    /// never echoed in an error.
    pub(super) fn dmg(&mut self, s: &Segment<'_>) {
        let birth = match s.element(1) {
            b"D8" => parse_ccyymmdd(s.element(2)),
            _ => None,
        };
        match (self.place, self.party) {
            (Place::Subscriber, Party::Subscriber) => {
                if let Some(sub) = self.subscriber.as_mut() {
                    sub.birth_date = birth;
                }
            }
            (Place::Patient, Party::Patient) => {
                if let Some(p) = self.patient.as_mut() {
                    p.birth_date = birth;
                }
            }
            _ => {}
        }
    }

    pub(super) fn pat(&mut self, s: &Segment<'_>) {
        if let (Place::Patient, Some(p)) = (self.place, self.patient.as_mut()) {
            p.relationship = text(s.element(1));
        }
    }
}
