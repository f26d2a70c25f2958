//! The staff console in a real browser: headless Chromium driven over
//! WebDriver (chromedriver, fantoccini) against `priorauth serve` on
//! loopback, on SQLite and PostgreSQL. Every page visited is saved as a
//! screenshot under the target dir (`console-screenshots/`).
//!
//! Needs `/usr/bin/chromedriver` and Chromium (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them). A test never skips when
//! they are missing: it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::root;
use crate::render::render;
use crate::service::{
    add_auth, add_client, client_token, import_auths, mri_claim, post_837, send, wait_for, Backend,
    Db, Server,
};

both!(staff_do_their_jobs_in_the_browser);

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(dir: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin = std::env::var("PRIORAUTH_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("chromedriver.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{bin}: {e} (install chromium and chromium-driver; .ci/run does)")
            });
        let url = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shots_dir() -> PathBuf {
    // The binary is <target>/debug/priorauth: screenshots go beside it.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_priorauth"));
    let target = bin
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| root().join("target"), Path::to_path_buf);
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `priorauth users add` with every role: (username, password).
fn add_staff(db: &Db) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_priorauth"))
        .args([
            "users",
            "add",
            "--username",
            "avery",
            "--role",
            "claims:read",
            "claims:submit",
            "rules:write",
            "auths:write",
            "admin",
            "--json",
            "--database",
            &db.url,
        ])
        .current_dir(&db.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    ("avery".into(), v["password"].as_str().unwrap().to_string())
}

struct Browser<'a> {
    c: Client,
    base: &'a str,
    tag: &'static str,
    shots: PathBuf,
}

impl Browser<'_> {
    async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_string()
    }

    async fn text(&self) -> String {
        self.c
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{}-{name}.png", self.tag)), png).unwrap();
    }

    async fn fill(&self, css: &str, value: &str) {
        let e = self.c.find(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    /// Submits a form and waits for the page it leads to.
    async fn submit(&self, form_css: &str) {
        self.js("window.__before = true; return null;").await;
        self.c
            .find(Locator::Css(&format!("{form_css} button[type=submit]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.loaded().await;
    }

    /// Waits until a new document replaced the one marked `__before`.
    async fn loaded(&self) {
        for _ in 0..600 {
            let v = self
                .c
                .execute(
                    "return window.__before === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(v, Ok(Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page after a form post never loaded");
    }

    /// Clicks a submit button and waits for the page it leads to.
    async fn click(&self, css: &str) {
        self.js("window.__before = true; return null;").await;
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.loaded().await;
    }

    async fn text_of(&self, css: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Fetches the link `css` points at with the page's session:
    /// "STATUS DISPOSITION BODY".
    async fn fetch(&self, css: &str) -> String {
        let css = serde_json::to_string(css).unwrap();
        let script = format!(
            "var a = document.querySelector({css}); if (!a) return 'no link ' + {css}; \
             return fetch(a.href).then(r => r.text().then(t => r.status + ' ' + r.headers.get('content-disposition') + ' ' + t));"
        );
        self.js(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn js(&self, script: &str) -> Value {
        self.c.execute(script, vec![]).await.unwrap()
    }

    /// Every visible input and select has a label (or an aria-label).
    async fn every_input_labelled(&self) {
        let unlabelled = self
            .js(
                "return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))\
                 .filter(e => !e.getAttribute('aria-label') && !(e.id && document.querySelector('label[for=\"' + e.id + '\"]')) && !e.closest('label'))\
                 .map(e => e.name);",
            )
            .await;
        assert_eq!(
            unlabelled,
            json!([]),
            "inputs without a label on {}",
            self.path().await
        );
    }

    /// Tab alone reaches every control of the page, in order.
    async fn tab_reaches_every_control(&self) {
        let n = self
            .js(
                "var c = Array.from(document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea'));\
                 c.forEach((e, i) => e.setAttribute('data-tab', i)); document.activeElement.blur(); return c.length;",
            )
            .await
            .as_u64()
            .unwrap();
        assert!(n > 0);
        let mut seen = std::collections::BTreeSet::new();
        let body = self.c.find(Locator::Css("body")).await.unwrap();
        body.click().await.ok();
        // A date input takes a Tab stop per part (month, day, year).
        for _ in 0..n * 4 + 4 {
            if seen.len() as u64 == n {
                break;
            }
            self.c
                .active_element()
                .await
                .unwrap()
                .send_keys("\u{e004}")
                .await
                .unwrap();
            if let Some(i) = self
                .js("return document.activeElement.getAttribute('data-tab');")
                .await
                .as_str()
            {
                seen.insert(i.parse::<u64>().unwrap());
            }
        }
        let missing: Vec<u64> = (0..n).filter(|i| !seen.contains(i)).collect();
        assert!(
            missing.is_empty(),
            "Tab never reached controls {missing:?} on {}",
            self.path().await
        );
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn staff_do_their_jobs_in_the_browser(b: Backend) {
    let db = Db::fresh(b, "console");
    let s = Server::start(&db, &[]);
    // A denied claim (no authorization on file) to look for.
    let r = post_837(
        &s,
        "/v1/claims",
        &render(&[mri_claim("CON-DENIED", "NOPE", "1")]),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    add_auth(&s, "AUTH-CON", "70551", Some("4"));
    let (user, password) = add_staff(&db);
    // A gold card: five approved MRI authorizations of another provider,
    // computed and stored with their evidence.
    let mut csv = String::from(
        "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n",
    );
    for i in 1..=5 {
        csv.push_str(&format!(
            "GC-{i},M9,1245319599,70551,1,0,2026-0{i}-01,2026-12-31,approved\n"
        ));
    }
    import_auths(&s, &csv);
    let out = Command::new(env!("CARGO_BIN_EXE_priorauth"))
        .args([
            "goldcard",
            "compute",
            "--as-of",
            "2026-06-30",
            "--apply",
            "--database",
            &db.url,
        ])
        .current_dir(&db.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The console's answers carry the headers it promises, and a
    // signed-out visitor (or a billing system's bearer token) is sent to
    // sign in.
    let (bid, bsecret) = add_client(&db, "billing", &["1234567893"], &["claims:read"]);
    let billing = client_token(&s.base, &bid, &bsecret, None).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = send(
        "GET",
        &s.url("/console/claims"),
        &[("Authorization", &format!("Bearer {billing}"))],
        None,
    );
    assert_eq!(r.status, 303);
    assert!(r
        .header("Location")
        .unwrap()
        .starts_with("/console/signin?next="));
    let csp = r.header("Content-Security-Policy").unwrap();
    assert!(
        !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));

    let driver = Driver::start(&db.dir);
    let tag = match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = db.dir.clone();
    let base = s.base.clone();
    block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("PRIORAUTH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap();
        let w = Browser {
            c,
            base: &base,
            tag,
            shots: shots_dir(),
        };

        // Signed out: a console page sends the browser to sign in.
        w.go("/console/claims?claim_id=CON-DENIED").await;
        assert_eq!(w.path().await, "/oauth/authorize");
        w.shot("01-sign-in").await;
        w.every_input_labelled().await;
        w.fill("input[name=username]", &user).await;
        w.fill("input[name=password]", &password).await;
        w.submit("form").await;
        // … and back to the page it asked for.
        assert_eq!(w.path().await, "/console/claims");
        let cookies = w.c.get_all_cookies().await.unwrap();
        let session = cookies.iter().find(|c| c.name() == "pa_console").unwrap();
        assert_eq!(session.http_only(), Some(true));
        assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");

        // Find the denied claim by CLM01 alone, open it, read why.
        let t = w.text().await;
        assert!(t.contains("CON-DENIED") && t.contains("denied"), "{t}");
        w.shot("02-claims").await;
        w.every_input_labelled().await;
        w.tab_reaches_every_control().await;
        w.js("window.__before = true; return null;").await;
        w.c.find(Locator::LinkText("CON-DENIED"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        w.loaded().await;
        let t = w.text().await;
        assert!(t.contains("CARC CO-197"), "{t}");
        assert!(t.contains("RARC M62"), "{t}");
        assert!(
            t.contains("Precertification/authorization/notification/pre-treatment absent"),
            "{t}"
        );
        assert!(t.contains("5.1.2-MRI"), "{t}");
        assert!(t.contains("NOPE"), "the reason names the number sent: {t}");
        // A number not on file is shown, not linked.
        assert!(t.contains("NOPE (not on file)"), "{t}");
        assert!(w.c.find(Locator::LinkText("NOPE")).await.is_err());
        // Downloads: the 835 of a claim denied in full, as the API
        // writes it (fetched with the page's session), and its 277CA,
        // written from the claim's stored facts.
        let x835 = w.fetch("#downloads a[href$='/835.x12']").await;
        assert!(x835.starts_with("200 attachment"), "{x835}");
        assert!(x835.contains("CLP*CON-DENIED*4*"), "{x835}");
        let x277 = w.fetch("#downloads a[href$='/277ca.x12']").await;
        assert!(x277.starts_with("200 attachment"), "{x277}");
        assert!(x277.contains("TRN*2*CON-DENIED~"), "{x277}");
        w.shot("03-claim").await;
        w.tab_reaches_every_control().await;

        // Does 70551 need PA?
        w.go("/console/check").await;
        w.fill("#f-code", "70551").await;
        w.c.find(Locator::Css("#f-lob option[value=medicare]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        w.fill("#f-date", "03/04/2026").await;
        w.submit("form.search").await;
        let t = w.text().await;
        assert!(t.contains("Prior authorization is required"), "{t}");
        assert!(t.contains("5.1.2-MRI"), "{t}");
        w.shot("04-check").await;
        w.every_input_labelled().await;
        w.tab_reaches_every_control().await;

        // An authorization CSV with a bad row: nothing imported, the row named.
        let csv = dir.join("auths.csv");
        std::fs::write(
            &csv,
            "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n\
             CSV-OK,M1,1234567893,70551,2,0,2026-01-01,2026-12-31,approved\n\
             CSV-BAD,M1,1234567893,70551,2,0,2026-13-01,2026-12-31,approved\n",
        )
        .unwrap();
        w.go("/console/auths").await;
        w.every_input_labelled().await;
        w.c.find(Locator::Id("f-csv"))
            .await
            .unwrap()
            .send_keys(csv.to_str().unwrap())
            .await
            .unwrap();
        w.submit("form[action='/console/auths/import']").await;
        let t = w.text().await;
        assert!(t.contains("Nothing was imported"), "{t}");
        assert!(t.contains("line 3"), "{t}");
        w.shot("05-auths-import-refused").await;

        // The authorization's page: units and ledger; a form posted
        // without its CSRF token is refused.
        w.go("/console/auths/AUTH-CON").await;
        let t = w.text().await;
        assert!(t.contains("Units remaining") && t.contains("4"), "{t}");
        w.shot("06-auth").await;
        w.tab_reaches_every_control().await;
        w.js("document.querySelector('form[action$=\"/status\"] input[name=csrf]').remove(); return null;").await;
        w.submit("form[action$='/status']").await;
        let t = w.text().await;
        assert!(t.contains("CSRF token"), "{t}");
        w.shot("07-csrf-refused").await;

        // A bad rule set: its problems by rule and field; then a good one.
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "version = \"bad\"\n[[rule]]\nid = \"X\"\nsection = \"5.1\"\ntitle = \"t\"\ncodes = [\"7055\"]\neffective = \"2026-13-01\"\n",
        )
        .unwrap();
        w.go("/console/rules").await;
        w.every_input_labelled().await;
        w.c.find(Locator::Id("f-rules"))
            .await
            .unwrap()
            .send_keys(bad.to_str().unwrap())
            .await
            .unwrap();
        w.submit("form[action='/console/rules']").await;
        let t = w.text().await;
        assert!(t.contains("was not put in force"), "{t}");
        assert!(t.contains("effective"), "{t}");
        w.shot("08-rules-refused").await;
        // A candidate without the MRI rule: before anything is put in
        // force, the impact page shows the denied MRI claim would no
        // longer need PA; cancelled, the set in force stays.
        let office = dir.join("office.toml");
        std::fs::write(
            &office,
            "version = \"office-only\"\n[[rule]]\nid = \"X-OFFICE\"\nsection = \"9.1\"\ntitle = \"Office visits\"\ncodes = [\"99213\"]\neffective = \"2026-01-01\"\n",
        )
        .unwrap();
        w.c.find(Locator::Id("f-rules"))
            .await
            .unwrap()
            .send_keys(office.to_str().unwrap())
            .await
            .unwrap();
        w.submit("form[action='/console/rules']").await;
        let t = w.text().await;
        assert!(t.contains("What rule set office-only would change"), "{t}");
        assert!(t.contains("not in force yet"), "{t}");
        assert!(t.contains("1 on 1 claims"), "{t}");
        let row = w.text_of("table:nth-of-type(1) tbody tr:first-child").await;
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["denied", "not_required", "1"],
            "{t}"
        );
        let row = w.text_of("table:nth-of-type(2) tbody tr:first-child").await;
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["5.1.2-MRI", "1", "1", "-1000.00"],
            "{t}"
        );
        assert!(t.contains("1234567893"), "{t}");
        w.every_input_labelled().await;
        w.shot("08b-rules-impact").await;
        w.click("#cancel").await;
        let t = w.text().await;
        assert!(t.contains("In force: version 2026.11"), "{t}");
        let good = dir.join("good.toml");
        let bundled = std::fs::read_to_string(root().join("fixtures/rules/hap-5.1.toml")).unwrap();
        std::fs::write(
            &good,
            bundled.replacen("version = \"2026.11\"", "version = \"2026.12\"", 1),
        )
        .unwrap();
        w.c.find(Locator::Id("f-rules"))
            .await
            .unwrap()
            .send_keys(good.to_str().unwrap())
            .await
            .unwrap();
        w.submit("form[action='/console/rules']").await;
        let t = w.text().await;
        assert!(t.contains("No line's decision would change"), "{t}");
        w.submit("form[action='/console/rules/activate']").await;
        let t = w.text().await;
        assert!(t.contains("Rule set 2026.12 is in force"), "{t}");
        w.shot("09-rules").await;

        // A provider's exemptions and the evidence behind them; an
        // authorization counted leads to its page.
        w.go("/console/exemptions?provider=1245319599").await;
        w.every_input_labelled().await;
        let t = w.text().await;
        assert!(t.contains("Exemptions of provider 1245319599"), "{t}");
        assert!(t.contains("1 exemption(s)"), "{t}");
        assert!(t.contains("5.1.2-MRI") && t.contains("in force"), "{t}");
        assert!(
            t.contains("the gold-card computation as of 2026-06-30"),
            "{t}"
        );
        assert!(t.contains("5 (at least 5 needed)"), "{t}");
        assert!(t.contains("at least 0.90 needed"), "{t}");
        assert!(t.contains("GC-1, GC-2, GC-3, GC-4, GC-5"), "{t}");
        w.shot("09b-exemptions").await;
        w.click("a[href='/console/auths/GC-3']").await;
        assert_eq!(w.path().await, "/console/auths/GC-3");
        w.go("/console/exemptions?provider=1000000004").await;
        assert!(w.text().await.contains("No exemption matches."));

        // A batch: upload, the bar reaches done, counts and downloads.
        w.go("/console/batches").await;
        w.every_input_labelled().await;
        let sample = root().join("fixtures/x12/837p-sample.x12");
        w.c.find(Locator::Id("f-batch"))
            .await
            .unwrap()
            .send_keys(sample.to_str().unwrap())
            .await
            .unwrap();
        w.submit("form[action='/console/batches']").await;
        assert!(w.path().await.starts_with("/console/batches/"));
        w.shot("10-batch-running").await;
        w.c.wait()
            .at_most(Duration::from_secs(120))
            .for_element(Locator::Id("counts"))
            .await
            .unwrap();
        let value = w.js("return document.getElementById('bar').value;").await;
        assert_eq!(value, json!(100));
        let t = w.text().await;
        assert!(
            t.contains("done") && t.contains("Decisions (NDJSON)"),
            "{t}"
        );
        w.shot("11-batch-done").await;
        // A claim of the batch: its 277CA, from the batch's file.
        w.go("/console/claims?claim_id=PCN-0001").await;
        w.click("table a[href^='/console/claims/']").await;
        let x277 = w.fetch("#downloads a[href$='/277ca.x12']").await;
        assert!(x277.starts_with("200 attachment"), "{x277}");
        assert!(x277.contains("TRN*2*PCN-0001~"), "{x277}");

        // The codes page, looked at and saved.
        w.go("/console/codes").await;
        w.every_input_labelled().await;
        w.shot("12-codes").await;

        admin_jobs(&w).await;

        // Signing out ends the session: the next page asks to sign in.
        w.go("/console/claims").await;
        w.submit("nav form").await;
        w.go("/console/claims").await;
        assert_eq!(w.path().await, "/oauth/authorize");
        w.c.close().await.unwrap();
    });
}

/// Admin: add a user, reset their password, disable them; register a
/// client (its secret gets a token), disable it (it no longer does);
/// rotate the signing key (the session goes on); the audit log filtered.
async fn admin_jobs(w: &Browser<'_>) {
    w.go("/console/admin").await;
    assert_eq!(w.path().await, "/console/admin");
    w.every_input_labelled().await;
    w.tab_reaches_every_control().await;

    w.fill("#f-username", "blake").await;
    w.c.find(Locator::Id("role-claims-read"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    w.submit("#add-user").await;
    let t = w.text().await;
    assert!(t.contains("User blake added"), "{t}");
    let first = w.text_of("#new-password").await;
    assert!(first.len() >= 20, "{first}");
    w.shot("13-admin-user-added").await;
    w.click("button[aria-label='Reset the password of blake']")
        .await;
    let t = w.text().await;
    assert!(t.contains("The password of blake was reset"), "{t}");
    let second = w.text_of("#new-password").await;
    assert!(second.len() >= 20 && second != first, "{first} {second}");
    w.click("button[aria-label='Disable blake']").await;
    assert_eq!(w.path().await, "/console/admin");
    let row = w
        .js("return Array.from(document.querySelectorAll('tr')).find(r => r.cells[0] && r.cells[0].textContent === 'blake').textContent;")
        .await;
    assert!(row.as_str().unwrap().contains("disabled"), "{row}");
    assert!(w
        .c
        .find(Locator::Css(
            "button[aria-label='Reset the password of blake']"
        ))
        .await
        .is_err());

    // A billing system registered here gets tokens, until disabled.
    w.fill("#f-name", "Riverside billing").await;
    w.fill("#f-npis", "1234567893").await;
    w.c.find(Locator::Id("scope-claims-read"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    w.submit("#add-client").await;
    let t = w.text().await;
    assert!(t.contains("Client Riverside billing registered"), "{t}");
    let id = w.text_of("#new-client").await;
    let secret = w.text_of("#new-secret").await;
    assert_eq!(client_token(w.base, &id, &secret, None).status, 200);
    w.shot("14-admin-client-added").await;
    w.click("button[aria-label='Disable client Riverside billing']")
        .await;
    assert_ne!(client_token(w.base, &id, &secret, None).status, 200);
    // The console's own client has no Disable button.
    let t = w.text().await;
    assert!(t.contains("priorauth-console"), "{t}");

    // Key rotation: the new key is published, the session goes on.
    w.submit("#rotate").await;
    let kid = w.text_of("#new-kid").await;
    let jwks = send(
        "GET",
        &format!("{}/.well-known/jwks.json", w.base),
        &[],
        None,
    );
    assert!(jwks.body.contains(&kid), "{kid}: {}", jwks.body);
    w.shot("15-admin-key-rotated").await;
    w.go("/console/admin").await;
    assert_eq!(w.path().await, "/console/admin");

    // The audit log, filtered by action and who.
    w.go("/console/admin/audit").await;
    w.every_input_labelled().await;
    w.fill("#f-action", "user.password").await;
    w.fill("#f-actor", "avery").await;
    w.submit("form.search").await;
    let rows = w
        .js("return Array.from(document.querySelectorAll('#audit tbody tr')).map(r => r.textContent);")
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].as_str().unwrap().contains("avery"), "{rows:?}");
    w.shot("16-audit").await;
    w.tab_reaches_every_control().await;
    w.go("/console/admin/audit?actor=avery&action=key.rotate")
        .await;
    assert!(w.text().await.contains("signing_key"));
    w.go("/console/admin/audit?since=2999-01-01T00:00").await;
    assert!(w.text().await.contains("No audit record matches"));
    w.go("/console/admin/audit?since=tomorrow").await;
    assert!(w.text().await.contains("not a UTC time"));
}
