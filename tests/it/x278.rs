//! X12 278 intake (issue 18): the reader's mapping (docs/X278.md), its
//! envelope and syntax checks, the corpus's 278 files held to
//! fixtures/corpus/x278.tsv, `import auths` by content, the API on both
//! stores, and `auths list`.

use serde_json::Value;

use crate::helpers::{corpus_dir, priorauth, root, temp_dir};
use crate::service::{get, send, Backend, Db, Server};
use priorauth::authorizations::{read_x278, AuthStatus, UnitType};

both!(
    api_imports_a_278_and_refuses_a_request,
    auths_list_filters_and_its_csv_reimports,
);

const ISA: &str = "ISA*00*          *00*          *ZZ*UMO            *ZZ*PROVIDER       *260101*1200*^*00501*000000001*0*P*:~GS*HI*UMO*PROV*20260101*1200*1*X*005010X217~";

/// A 278 interchange of the given sets' bodies (between ST and SE).
fn x278(sets: &[&str]) -> String {
    let mut out = ISA.to_string();
    for (i, body) in sets.iter().enumerate() {
        let control = format!("{:04}", i + 1);
        let n = body.matches('~').count() + 2;
        out.push_str(&format!(
            "ST*278*{control}*005010X217~{body}SE*{n}*{control}~"
        ));
    }
    out.push_str(&format!("GE*{}*1~IEA*1*000000001~", sets.len()));
    out
}

/// A response for a dependent: event-level A6 with days, two services.
const DEPENDENT: &str = "BHT*0007*11*R1*20260101*1200*18~HL*1**20*1~NM1*X3*2*UMO*****PI*1~HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~HL*3*2*22*1~NM1*IL*1*DOE*JOHN****MI*SUB001~HL*4*3*23*1~NM1*QC*1*DOE*JIM~DMG*D8*20150304*M~HL*5*4*EV*1~UM*AR*I~HCR*A6*ADM1~DTP*AAH*RD8*20260110-20260120~HSD*DY*5~HL*6*5*SS*0~HCR*A3*SV1X~DTP*472*D8*20260111~SV1*HC:70551**UN*2~NM1*SJ*1*SMITH*ANN****XX*1245319599~HL*7*5*SS*0~HCR*A4~REF*NT*ADMIN9~DTP*472*RD8*20260112-20260114~SV2*0120*HC:99221*100*DA*3~";

/// A response for the subscriber: visits, cancelled, NA, no number.
const SUBSCRIBER: &str = "BHT*0007*11*R2*20260101*1200*18~HL*1**20*1~NM1*X3*2*UMO*****PI*1~HL*2*1*21*1~NM1*FA*2*HOSP*****XX*1234567893~HL*3*2*22*1~NM1*IL*1*ROE*RITA****MI*SUB002~DMG*D8*19700101*F~HL*4*3*EV*1~UM*HS*I~HL*5*4*SS*0~HCR*A1*V1~DTP*AAH*RD8*20260201-20260430~HSD*VS*12~SV1*HC:97110**UN*1~HL*6*4*SS*0~HCR*C*V2~DTP*472*D8*20260202~SV1*HC:97112**UN*1~HL*7*4*SS*0~HCR*NA~DTP*472*D8*20260203~SV1*HC:97113~HL*8*4*SS*0~HCR*CT~DTP*472*D8*20260204~SV1*HC:97114~";

#[test]
fn each_decision_maps_as_docs_x278_says() {
    let out = read_x278(x278(&[DEPENDENT, SUBSCRIBER]).as_bytes());
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    assert_eq!(out.responses, 2);
    let by = |n: &str| {
        out.authorizations
            .iter()
            .find(|a| a.number == n)
            .unwrap_or_else(|| panic!("{n} not imported: {:?}", out.not_imported))
    };
    // Event level: AAH, HSD days, the event's codes (its services'), the
    // dependent's birth date, the requester's NPI (no 2010EA provider).
    let adm = by("ADM1");
    assert_eq!(adm.status, AuthStatus::Approved);
    assert_eq!(adm.member_id, "SUB001");
    assert_eq!(adm.patient_birth_date.unwrap().to_string(), "2015-03-04");
    assert_eq!(adm.provider_npi, "1234567893");
    assert_eq!(adm.unit_type, UnitType::Days);
    assert_eq!(adm.units.unwrap().to_string(), "5");
    assert_eq!(
        (adm.start_date.to_string(), adm.end_date.to_string()),
        ("2026-01-10".into(), "2026-01-20".into())
    );
    assert_eq!(adm.codes_text(), "70551|99221");
    // Service level: A3 denied, the 2010F servicing NPI, SV1 units.
    let sv = by("SV1X");
    assert_eq!(sv.status, AuthStatus::Denied);
    assert_eq!(sv.provider_npi, "1245319599");
    assert_eq!(sv.codes_text(), "70551");
    assert_eq!(sv.units.unwrap().to_string(), "2");
    assert_eq!(sv.start_date.to_string(), "2026-01-11");
    // A4 without HCR02: REF*NT is the number; SV2 DA: days; DTP*472 range.
    let nt = by("ADMIN9");
    assert_eq!(nt.status, AuthStatus::Pending);
    assert_eq!(nt.unit_type, UnitType::Days);
    assert_eq!(nt.units.unwrap().to_string(), "3");
    assert_eq!(nt.end_date.to_string(), "2026-01-14");
    // Subscriber (2000C DMG is not a dependent's): no birth date; visits.
    let v1 = by("V1");
    assert_eq!(v1.patient_birth_date, None);
    assert_eq!(v1.unit_type, UnitType::Visits);
    assert_eq!(v1.units.unwrap().to_string(), "12");
    assert_eq!(v1.provider_npi, "1234567893");
    assert_eq!(by("V2").status, AuthStatus::Cancelled);
    // NA and a decision without a number are reported, not imported.
    assert_eq!(out.authorizations.len(), 5);
    let reasons: Vec<&str> = out.not_imported.iter().map(|n| n.reason.as_str()).collect();
    assert_eq!(out.not_imported.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("NA"), "{reasons:?}");
    assert!(reasons[1].contains("REF*NT"), "{reasons:?}");
    // No PHI in what is reported.
    let text = format!("{:?}", out.not_imported);
    for phi in ["SUB00", "DOE", "ROE", "2015", "1970"] {
        assert!(!text.contains(phi), "{phi} in {text}");
    }
}

#[test]
fn a_broken_set_is_rejected_by_segment_and_element_the_others_read() {
    let bad = SUBSCRIBER.replace("HCR*C*V2", "HCR*ZZ*V2");
    let out = read_x278(x278(&[DEPENDENT, &bad]).as_bytes());
    assert_eq!(out.responses, 1);
    assert_eq!(out.rejected.len(), 1);
    let e = &out.rejected[0].errors[0];
    assert_eq!((e.id.as_str(), e.element, e.segment), ("HCR", Some(1), 18));
    assert!(e.message.contains("HCR01"), "{}", e.message);
    assert!(out.authorizations.iter().any(|a| a.number == "ADM1"));
    assert!(!out.authorizations.iter().any(|a| a.number == "V1"));
    // A wrong SE01 names SE01; a bad date names DTP03.
    let mut file = x278(&[DEPENDENT]);
    file = file.replace("SE*27*0001", "SE*9*0001");
    let out = read_x278(file.as_bytes());
    assert_eq!(out.rejected[0].errors[0].element, Some(1));
    assert!(out.rejected[0].errors[0].message.contains("SE01"));
    let out = read_x278(x278(&[&DEPENDENT.replace("20260111", "20261311")]).as_bytes());
    let e = &out.rejected[0].errors[0];
    assert_eq!((e.id.as_str(), e.element), ("DTP", Some(3)));
}

#[test]
fn one_number_is_one_record_the_first_decision_kept() {
    // The event and its service both certify under ADM1 (corpus file 11's
    // shape): the event's decision is imported, the service's reported.
    let dup = DEPENDENT.replace("HCR*A3*SV1X", "HCR*A1*ADM1");
    let out = read_x278(x278(&[&dup]).as_bytes());
    let adm: Vec<_> = out
        .authorizations
        .iter()
        .filter(|a| a.number == "ADM1")
        .collect();
    assert_eq!(adm.len(), 1);
    assert_eq!(adm[0].unit_type, UnitType::Days);
    let n = out
        .not_imported
        .iter()
        .find(|n| n.number.as_deref() == Some("ADM1"))
        .unwrap();
    assert_eq!((n.segment, n.action.as_str()), (18, "A1"));
    assert!(n.reason.contains("same number"), "{}", n.reason);
}

#[test]
fn a_request_is_refused_saying_so() {
    let req = DEPENDENT.replace("BHT*0007*11", "BHT*0007*13");
    let out = read_x278(x278(&[&req]).as_bytes());
    assert_eq!((out.requests, out.responses), (1, 0));
    assert!(out.authorizations.is_empty());
    assert!(out.refusal().unwrap().contains("request"));
    let dir = temp_dir("x278-request");
    let f = dir.join("req.x12");
    std::fs::write(&f, x278(&[&req])).unwrap();
    let db = format!("sqlite://{}", dir.join("p.db").display());
    let out = priorauth(&["import", "auths", f.to_str().unwrap(), "--database", &db]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("request") && err.contains("BHT02 13"), "{err}");
}

#[test]
fn every_corpus_278_matches_its_recorded_outcome() {
    let table = std::fs::read_to_string(root().join("fixtures/corpus/x278.tsv")).unwrap();
    let dir = temp_dir("x278-corpus");
    let mut failures = Vec::new();
    let mut rows = 0;
    for (i, l) in table.lines().skip(1).filter(|l| !l.is_empty()).enumerate() {
        rows += 1;
        let f: Vec<&str> = l.split('\t').collect();
        let (file, outcome, count, keyword) = (f[0], f[2], f[3].parse::<u64>().unwrap(), f[4]);
        let path = corpus_dir().join(file);
        assert!(path.exists(), "corpus file {} missing", path.display());
        let db = format!("sqlite://{}", dir.join(format!("{i}.db")).display());
        let out = priorauth(&["import", "auths", path.to_str().unwrap(), "--database", &db]);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        let said = format!("{stdout}{stderr}");
        let want_code = if outcome == "imported" { 0 } else { 2 };
        if out.status.code() != Some(want_code) {
            failures.push(format!(
                "{file}: exit {:?}, want {want_code}: {said}",
                out.status.code()
            ));
            continue;
        }
        if outcome == "imported" {
            let v: Value = serde_json::from_str(&stdout).unwrap();
            if v["imported"] != count {
                failures.push(format!("{file}: imported {}, want {count}", v["imported"]));
            }
        }
        let words: &[&str] = match keyword {
            "" => &[],
            "isa" => &["ISA"],
            "request" => &["request", "BHT02 13"],
            "se01" => &["SE01"],
            "npi" => &["NM108 XX"],
            k => panic!("unknown keyword {k}"),
        };
        for w in words {
            if !said.contains(w) {
                failures.push(format!("{file}: no \"{w}\" in {said}"));
            }
        }
    }
    assert_eq!(rows, 23, "x278.tsv lists every _278_test__parse_278_*.edi");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn api_imports_a_278_and_refuses_a_request(b: Backend) {
    let db = Db::fresh(b, "x278-api");
    let s = Server::start(&db, &[]);
    let file = x278(&[DEPENDENT, SUBSCRIBER]);
    let r = send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "application/edi-x12")],
        Some(file.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["imported"], 5);
    assert_eq!(v["added"], 5);
    assert_eq!(v["format"], "x12-278");
    assert_eq!(v["not_imported"].as_array().unwrap().len(), 2);
    let a = get(&s, "/v1/authorizations/ADM1").json();
    assert_eq!(a["unit_type"], "days");
    assert_eq!(a["patient_birth_date"], "2015-03-04");
    // A request: 422 saying so, nothing changed.
    let req = x278(&[&SUBSCRIBER
        .replace("BHT*0007*11*R2", "BHT*0007*13*R3")
        .replace("V1", "Q1")]);
    let r = send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "application/edi-x12")],
        Some(req.as_bytes()),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("request"), "{}", r.body);
    assert_eq!(get(&s, "/v1/authorizations/Q1").status, 404);
    // The same file as text/csv is told apart by content too.
    let r = send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "text/plain")],
        Some(file.as_bytes()),
    );
    assert_eq!(r.json()["replaced"], 5);
    // GET /v1/authorizations: the same filters as `auths list`.
    let l = get(&s, "/v1/authorizations?member=SUB002&status=cancelled").json();
    let list = l["authorizations"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["number"], "V2");
    let l = get(&s, "/v1/authorizations?provider=1245319599").json();
    assert_eq!(l["authorizations"][0]["number"], "SV1X");
    assert_eq!(
        get(&s, "/v1/authorizations").json()["authorizations"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(get(&s, "/v1/authorizations?status=maybe").status, 400);
}

fn auths_list_filters_and_its_csv_reimports(b: Backend) {
    let db = Db::fresh(b, "x278-list");
    let f = db.dir.join("a.x12");
    std::fs::write(&f, x278(&[DEPENDENT, SUBSCRIBER])).unwrap();
    let out = priorauth(&[
        "import",
        "auths",
        f.to_str().unwrap(),
        "--database",
        &db.url,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = |args: &[&str]| {
        let mut a = vec!["auths", "list", "--database", &db.url];
        a.extend_from_slice(args);
        let out = priorauth(&a);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let all: Value = serde_json::from_str(&list(&[])).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 5);
    let numbers = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["number"].as_str().unwrap().to_string())
            .collect()
    };
    let m: Value = serde_json::from_str(&list(&["--member", "SUB002"])).unwrap();
    assert_eq!(numbers(&m), ["V1", "V2"]);
    let p: Value =
        serde_json::from_str(&list(&["--provider", "1245319599", "--status", "denied"])).unwrap();
    assert_eq!(numbers(&p), ["SV1X"]);
    let n: Value = serde_json::from_str(&list(&["--number", "ADM1"])).unwrap();
    assert_eq!(n[0]["units_remaining"], "5");
    assert!(list(&["--format", "table", "--status", "pending"]).contains("ADMIN9"));
    // The CSV export is the import format: it re-imports into a new store.
    let csv = list(&["--format", "csv"]);
    assert!(csv.starts_with("number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status,patient_birth_date,unit_type\n"));
    let dir = temp_dir("x278-reimport");
    let c = dir.join("export.csv");
    std::fs::write(&c, &csv).unwrap();
    let other = format!("sqlite://{}", dir.join("o.db").display());
    let out = priorauth(&["import", "auths", c.to_str().unwrap(), "--database", &other]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"added":5,"imported":5,"readjudicated":0,"replaced":0}"#
    );
    let again = priorauth(&["auths", "list", "--format", "csv", "--database", &other]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), csv);
    // A bad status is a usage error.
    assert_eq!(
        priorauth(&["auths", "list", "--status", "maybe", "--database", &db.url])
            .status
            .code(),
        Some(2)
    );
}
