//! The 2400 service lines: LX, SV1/SV2/SV3, closing a line.

use super::elements::common_code;
use super::*;

impl SetBuilder {
    pub(super) fn lx(&mut self, s: &Segment<'_>) {
        self.finish_line();
        if !self.claim_open {
            let msg = "LX (service line) must follow a CLM".to_string();
            self.segment_error(s, b"LX", ErrorKind::UnexpectedSegment, msg);
            return;
        }
        let number = match s.text(1).parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                self.element_error(s, 1, None, ErrorKind::InvalidNumber, "assigned line number");
                0
            }
        };
        self.line_open = true;
        self.lines.push(ServiceLine {
            number,
            procedure: None,
            revenue_code: None,
            charge: Decimal::ZERO,
            unit_basis: None,
            units: Decimal::ONE,
            place_of_service: None,
            emergency: false,
            service_date: None,
            prior_auths: Vec::new(),
            referrals: Vec::new(),
            control_number: None,
            rendering_npi: None,
        });
        self.line_has_service = false;
        self.line_segment = self.count;
        self.line_byte = s.byte;
        self.place = Place::Line;
    }

    pub(super) fn service(&mut self, s: &Segment<'_>) {
        let id = s.id();
        let wanted: &[u8] = match self.kind {
            Some(ClaimKind::Institutional) => b"SV2",
            Some(ClaimKind::Dental) => b"SV3",
            _ => b"SV1",
        };
        if self.place != Place::Line || self.line_has_service || id != wanted {
            let msg = format!(
                "{} is not expected here: each LX service line carries exactly one {} in this transaction set",
                String::from_utf8_lossy(id),
                String::from_utf8_lossy(wanted)
            );
            self.segment_error(s, id, ErrorKind::UnexpectedSegment, msg);
            return;
        }
        // (procedure element, charge element, units element)
        let (proc_el, charge_el, units_el): (usize, usize, usize) = match id {
            b"SV2" => (2, 3, 5),
            b"SV3" => (1, 2, 6),
            _ => (1, 2, 4),
        };
        let procedure = {
            let mut parts = s.components(proc_el);
            let qualifier = parts.next().unwrap_or_default();
            let code = parts.next().unwrap_or_default();
            (!code.is_empty()).then(|| Procedure {
                qualifier: common_code(qualifier),
                code: text(code),
                modifiers: parts.take(4).filter(|m| !m.is_empty()).map(text).collect(),
            })
        };
        if procedure.is_none() && id != b"SV2" {
            self.element_error(
                s,
                proc_el as u8,
                Some(2),
                ErrorKind::ElementMissing,
                "procedure code",
            );
        }
        let charge = self.required_decimal(s, charge_el, "line item charge amount");
        let units_raw = s.element(units_el);
        let units = if units_raw.is_empty() {
            Decimal::ONE
        } else {
            match decimal(units_raw) {
                Some(d) => d,
                None => {
                    self.element_error(
                        s,
                        units_el as u8,
                        None,
                        ErrorKind::InvalidNumber,
                        "service unit count",
                    );
                    Decimal::ONE
                }
            }
        };
        let revenue_code = if id == b"SV2" {
            let r = opt_text(s.element(1));
            if r.is_none() {
                self.element_error(
                    s,
                    1,
                    None,
                    ErrorKind::ElementMissing,
                    "service line revenue code",
                );
            }
            r
        } else {
            None
        };
        let (basis_el, pos_el) = match id {
            b"SV1" => (Some(3), Some(5)),
            b"SV2" => (Some(4), None),
            _ => (None, Some(3)),
        };
        let emergency = id == b"SV1" && s.element(9) == b"Y";
        let unit_basis = basis_el
            .map(|e| s.element(e))
            .filter(|b| !b.is_empty())
            .map(common_code);
        let place_of_service = pos_el.and_then(|e| opt_text(s.element(e)));
        if let Some(l) = self.open_line() {
            l.procedure = procedure;
            l.revenue_code = revenue_code;
            l.charge = charge;
            l.units = units;
            l.unit_basis = unit_basis;
            l.place_of_service = place_of_service;
            l.emergency = emergency;
        }
        self.line_has_service = true;
    }

    /// The service line being read, if any.
    pub(super) fn open_line(&mut self) -> Option<&mut ServiceLine> {
        if self.line_open {
            self.lines.last_mut()
        } else {
            None
        }
    }

    pub(super) fn finish_line(&mut self) {
        if !self.line_open {
            return;
        }
        self.line_open = false;
        let Some((number, line_has_date)) = self
            .lines
            .last()
            .map(|l| (l.number, l.service_date.is_some()))
        else {
            return;
        };
        if !self.line_has_service {
            let wanted = match self.kind {
                Some(ClaimKind::Institutional) => "SV2",
                Some(ClaimKind::Dental) => "SV3",
                _ => "SV1",
            };
            let msg = format!("service line LX*{} has no {wanted} segment", number);
            self.error(
                self.line_segment,
                wanted.as_bytes(),
                self.line_byte,
                None,
                None,
                ErrorKind::RequiredSegmentMissing,
                msg,
            );
        }
        let has_date = line_has_date
            || (self.claim_open
                && self
                    .claims
                    .last()
                    .is_some_and(|c| c.service_date.is_some() || c.statement_period.is_some()));
        if !has_date && self.line_has_service {
            let (msg, id) = match self.kind {
                Some(ClaimKind::Institutional) => (
                    format!("service line LX*{} has no service date: DTP*472 on the line or DTP*434 statement dates on the claim are required", number),
                    "DTP",
                ),
                _ => (
                    format!("service line LX*{} has no service date: DTP*472 is required on the line (or on the claim)", number),
                    "DTP",
                ),
            };
            self.error(
                self.line_segment,
                id.as_bytes(),
                self.line_byte,
                None,
                None,
                ErrorKind::RequiredSegmentMissing,
                msg,
            );
        }
    }
}
