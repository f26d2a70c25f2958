//! The 2300 claim loop: CLM, its references (REF), dates (DTP) and
//! diagnoses (HI), and closing a claim.

use super::*;

impl SetBuilder {
    pub(super) fn clm(&mut self, s: &Segment<'_>) {
        self.finish_claim(s);
        let claim_id = text(s.element(1));
        // Errors in CLM itself are in loop 2300 and name the claim (CTX).
        let outer = self.place;
        self.place = Place::Claim;
        let errors_before = self.errors.len();
        if !matches!(outer, Place::Subscriber | Place::Patient) {
            let msg = "CLM must follow a subscriber (HL level 22) or patient (HL level 23) loop"
                .to_string();
            self.segment_error(s, b"CLM", ErrorKind::UnexpectedSegment, msg);
        }
        if claim_id.is_empty() {
            self.element_error(
                s,
                1,
                None,
                ErrorKind::ElementMissing,
                "patient control number",
            );
        }
        let total_charge = self.required_decimal(s, 2, "total claim charge amount");
        let facility_code = text(s.component(5, 1));
        if facility_code.is_empty() {
            self.element_error(
                s,
                5,
                Some(1),
                ErrorKind::ElementMissing,
                "place of service or facility type code",
            );
        }
        let frequency_code = text(s.component(5, 3));
        if frequency_code.is_empty() {
            self.element_error(
                s,
                5,
                Some(3),
                ErrorKind::ElementMissing,
                "claim frequency type code",
            );
        }
        self.place = outer;
        let billing_npi = match &self.billing_npi {
            Some(n) => n.clone(),
            None => {
                let msg = "billing provider NM1*85 with an identifier (NM109) is missing before this claim".to_string();
                self.segment_error(s, b"NM1", ErrorKind::RequiredSegmentMissing, msg);
                String::new()
            }
        };
        let subscriber = self.claim_subscriber();
        if subscriber.member_id.is_empty()
            && matches!(self.place, Place::Subscriber | Place::Patient)
        {
            let msg = "subscriber NM1*IL with a member id (NM109) is missing before this claim"
                .to_string();
            self.segment_error(s, b"NM1", ErrorKind::RequiredSegmentMissing, msg);
        }
        let patient = self.claim_patient();
        if !claim_id.is_empty() {
            for e in self.errors.iter_mut().skip(errors_before) {
                e.claim = Some(claim_id.clone());
            }
        }
        self.claim_open = true;
        self.claims.push(Claim {
            kind: self.kind.unwrap_or(ClaimKind::Professional),
            claim_id,
            total_charge,
            frequency: Frequency::from_code(&frequency_code),
            frequency_code,
            facility_code,
            billing_npi,
            billing_name: self.billing_name.clone(),
            rendering_npi: None,
            attending_npi: None,
            subscriber,
            patient,
            prior_auths: Vec::new(),
            referrals: Vec::new(),
            payer_claim_number: None,
            trace_number: None,
            diagnoses: Vec::new(),
            service_date: None,
            statement_period: None,
            admission_type: None,
            lines: Vec::new(),
            transaction_set: self.control_number.clone(),
        });
        self.claim_segment = self.count;
        self.claim_byte = s.byte;
        self.place = Place::Claim;
    }

    pub(super) fn reference(&mut self, s: &Segment<'_>) {
        let value = s.element(2);
        match self.place {
            Place::Claim => {
                if let Some(c) = self.open_claim() {
                    match s.element(1) {
                        b"G1" => c.prior_auths.push(text(value)),
                        b"9F" => c.referrals.push(text(value)),
                        b"F8" => c.payer_claim_number = Some(text(value)),
                        b"D9" => c.trace_number = Some(text(value)),
                        _ => {}
                    }
                }
            }
            Place::Line => {
                // X223 has no 2400 REF*G1: one on an 837I line is not read.
                let institutional = self.kind == Some(ClaimKind::Institutional);
                if let Some(l) = self.open_line() {
                    match s.element(1) {
                        b"G1" if !institutional => l.prior_auths.push(text(value)),
                        b"9F" => l.referrals.push(text(value)),
                        b"6R" => l.control_number = Some(text(value)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn dtp(&mut self, s: &Segment<'_>) {
        let qualifier = s.element(1);
        let target = match (self.place, qualifier) {
            (Place::Claim, b"472") => 1,
            (Place::Claim, b"434") => 2,
            (Place::Line, b"472") => 3,
            _ => return,
        };
        let Some(range) = DateRange::parse(s.element(2), s.element(3)) else {
            let what = if matches!(s.element(2), b"D8" | b"RD8") {
                "date (D8 CCYYMMDD or RD8 CCYYMMDD-CCYYMMDD)"
            } else {
                "date, with DTP02 format qualifier D8 or RD8"
            };
            let el = if matches!(s.element(2), b"D8" | b"RD8") {
                3
            } else {
                2
            };
            self.element_error(s, el, None, ErrorKind::InvalidDate, what);
            return;
        };
        match target {
            1 => {
                if let Some(c) = self.open_claim() {
                    c.service_date = Some(range);
                }
            }
            2 => {
                if let Some(c) = self.open_claim() {
                    c.statement_period = Some(range);
                }
            }
            _ => {
                if let Some(l) = self.open_line() {
                    l.service_date = Some(range);
                }
            }
        }
    }

    pub(super) fn hi(&mut self, s: &Segment<'_>) {
        if self.place != Place::Claim {
            return;
        }
        let Some(c) = self.open_claim() else {
            return;
        };
        let comp = s.delimiters().component;
        for n in 1..=12 {
            let el = s.element(n);
            if el.is_empty() {
                break;
            }
            let qualifier = crate::x12::segment::component(el, comp, 1);
            if matches!(
                qualifier,
                b"ABK" | b"ABF" | b"ABJ" | b"APR" | b"ABN" | b"BK" | b"BF" | b"BJ" | b"PR" | b"BN"
            ) {
                c.diagnoses
                    .push(text(crate::x12::segment::component(el, comp, 2)));
            }
        }
    }

    /// Closes the open claim at segment `s` (the one that ends it).
    pub(super) fn finish_claim(&mut self, s: &Segment<'_>) {
        self.finish_claim_at(self.count, s.id(), s.byte);
    }

    pub(super) fn finish_claim_at(&mut self, pos: u32, id: &[u8], byte: u64) {
        self.finish_line();
        if !self.claim_open {
            return;
        }
        // The claim was built in place at the end of `claims` (moving a
        // finished claim into the vector was a measurable copy).
        let mut lines = Vec::with_capacity(self.lines.len());
        lines.append(&mut self.lines);
        let no_lines = lines.is_empty();
        if let Some(claim) = self.claims.last_mut() {
            claim.lines = lines;
        }
        if no_lines {
            let msg = format!(
                "claim at segment {} (CLM) has no service line: LX is required before {}",
                self.claim_segment,
                String::from_utf8_lossy(id)
            );
            self.place = Place::Claim;
            self.error(
                pos,
                b"LX",
                byte,
                None,
                None,
                ErrorKind::RequiredSegmentMissing,
                msg,
            );
        }
        self.claim_open = false;
    }

    /// The claim being built, if one is open.
    pub(super) fn open_claim(&mut self) -> Option<&mut Claim> {
        if self.claim_open {
            self.claims.last_mut()
        } else {
            None
        }
    }

    /// Ends the set at its SE (or wherever it was cut off).
    pub fn finish(&mut self, pos: u32, id: &[u8], byte: u64) {
        self.finish_claim_at(pos, id, byte);
    }
}
