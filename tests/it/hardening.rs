//! Issue 15, the rest of hardening: per-client limits on concurrent batch
//! transfers (429 with `Retry-After`), over real HTTP on both stores.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::service::{
    add_auth, add_client, batch_file, client_token, get, post_837, send, wait_for, Backend, Db,
    Server,
};

both!(batch_transfers_are_limited_per_client);

/// A raw connection that sent `head` (and perhaps part of a body) and
/// reads nothing more than the status line: the request stays under way.
fn held(s: &Server, head: &str) -> TcpStream {
    let addr = s.base.trim_start_matches("http://").to_string();
    // A small receive window (set before connecting): an answer of a few
    // hundred KB cannot all sit in the buffers while nothing reads it.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let to: std::net::SocketAddr = addr.parse().unwrap();
    socket.connect(&to.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .write_all(head.replace("{host}", &addr).as_bytes())
        .unwrap();
    stream
}

/// Reads from a held download until its status line is in: the handler
/// has run and the stream is being sent.
fn status_line(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "connection closed");
        got.push(byte[0]);
    }
    String::from_utf8_lossy(&got).trim().to_string()
}

/// Waits for the server (not for a result a test could poll for).
#[allow(clippy::disallowed_methods)]
fn let_time_pass(d: Duration) {
    std::thread::sleep(d);
}

/// Asserts that nothing has been answered on `stream` yet.
fn unanswered(stream: &mut TcpStream) {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the held request was answered: {other:?}"),
    }
    stream.set_nonblocking(false).unwrap();
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `PRIORAUTH_BATCH_UPLOADS` / `PRIORAUTH_BATCH_DOWNLOADS`: one client's
/// uploads and downloads beyond the limit are 429 with `Retry-After` while
/// its others are under way; another client is not held up; a slot is
/// free again once its transfer ends or its client goes away.
fn batch_transfers_are_limited_per_client(b: Backend) {
    const CLAIMS: usize = 10_000;
    let db = Db::fresh(b, "transfers");
    let s = Server::start(
        &db,
        &[
            ("PRIORAUTH_BATCH_UPLOADS", "1"),
            ("PRIORAUTH_BATCH_DOWNLOADS", "1"),
        ],
    );
    let (rid, rsecret) = add_client(&db, "reporting", &[], &["claims:read", "claims:submit"]);
    let other = client_token(&s.base, &rid, &rsecret, None).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let other = bearer(&other);

    // Uploads: one held with half its body sent.
    let mut upload = held(
        &s,
        &format!(
            "POST /v1/batches HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {}\r\nContent-Type: application/edi-x12\r\nContent-Length: 100000\r\n\r\nISA*00*",
            s.token
        ),
    );
    // A head start, so the held upload reaches its handler first (the two
    // connections may be served by different workers).
    let_time_pass(Duration::from_millis(300));
    // A second upload of the same client: a body that is no X12 would be a
    // 400 once it has a slot; while the held one has it, it is a 429.
    let mut refused = None;
    wait_for(
        "the held upload to take its slot",
        Duration::from_secs(30),
        || {
            let r = post_837(&s, "/v1/batches", "not X12", &[]);
            let busy = r.status == 429;
            if busy {
                refused = Some(r);
            } else {
                assert_eq!(r.status, 400, "{}", r.body);
            }
            busy
        },
    );
    let refused = refused.unwrap();
    unanswered(&mut upload);
    assert_eq!(
        refused.json()["error"],
        "too_many_requests",
        "{}",
        refused.body
    );
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("1 batch uploads of this client are under way"),
        "{}",
        refused.body
    );
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // Another client is not held up by it.
    add_auth(&s, "T1", "70551", Some("100000"));
    let file = batch_file("TR", CLAIMS, "T1");
    let r = send(
        "POST",
        &s.url("/v1/batches"),
        &[
            ("Authorization", &other),
            ("Content-Type", "application/edi-x12"),
        ],
        Some(file.as_bytes()),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    // The held upload's client goes away: its slot is free again.
    upload.write_all(b"   *").unwrap();
    drop(upload);
    wait_for(
        "the upload slot to be freed",
        Duration::from_secs(30),
        || post_837(&s, "/v1/batches", "not X12", &[]).status == 400,
    );

    wait_for("the batch to finish", Duration::from_secs(300), || {
        get(&s, &format!("/v1/batches/{id}")).json()["state"] == "done"
    });
    // Downloads: the NDJSON of the batch is megabytes, more than the buffers
    // of a connection with a small receive window hold, so a client that
    // stops reading keeps its download under way.
    let path = format!("/v1/batches/{id}/results");
    let mut download = held(
        &s,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {}\r\n\r\n",
            s.token
        ),
    );
    assert_eq!(status_line(&mut download), "HTTP/1.1 200 OK");
    for query in ["", "?format=835"] {
        let r = get(&s, &format!("{path}{query}"));
        assert_eq!(
            r.status,
            429,
            "{query}: {}",
            &r.body[..r.body.len().min(300)]
        );
        assert!(r.header("retry-after").is_some(), "{query}");
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("batch downloads"),
            "{}",
            r.body
        );
    }
    // Another client downloads beside it, to the end.
    let r = send("GET", &s.url(&path), &[("Authorization", &other)], None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.lines().count(), CLAIMS);
    // The server's send buffer grows up to tcp_wmem's maximum (4 MiB by
    // default) while the held client reads nothing.
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().last().and_then(|m| m.parse().ok()))
        .unwrap_or(4 << 20);
    assert!(
        r.body.len() > wmem_max + (1 << 20),
        "the results ({} bytes) must outgrow the socket buffers ({wmem_max})",
        r.body.len()
    );
    // The held download's client goes away: the next download gets through,
    // and one read to its end frees its slot for the one after.
    drop(download);
    wait_for(
        "the download slot to be freed",
        Duration::from_secs(30),
        || get(&s, &path).status == 200,
    );
    let r = get(&s, &format!("{path}?format=835"));
    assert!(r.status == 200 || r.status == 204, "{}", r.body);
}
