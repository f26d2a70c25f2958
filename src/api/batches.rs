//! `/v1/batches`: large 837 files, kept in the database and adjudicated in
//! the background in chunks by whichever instances run (issue 17). The
//! upload is read once as it arrives: the file is stored in pieces and its
//! claims in chunks, and only then is the batch queued. Each chunk commits
//! its claims, its consumption and the batch's progress in one
//! transaction, so a batch cut off by a crash is finished by any instance
//! after the last committed chunk and never consumes twice.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

use super::body::{declared_length, expect_media, wants_x12, X12_MEDIA};
use super::guard::Actor;
use super::transfers::{Slot, Transfer};
use super::{ApiError, ApiResult, AppState};
use crate::model::{Claim, ClaimDecision};
use crate::store::{Batch, BatchState};
use crate::x12::{Remit835, RemitClaim, SetReader};

/// How long an idle worker waits before it looks for chunks again when
/// nobody told it of one (another instance's batch on SQLite cannot be;
/// on PostgreSQL this is the fallback of LISTEN/NOTIFY).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Pieces of the stored file.
const PIECE: usize = 1 << 20;

/// The batch worker's bell and stop flag.
pub(super) struct Queue {
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
}

impl Queue {
    pub(super) fn new() -> Queue {
        Queue {
            wake: Arc::new(Notify::new()),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Tells the worker there may be a chunk to work.
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Lets the worker finish its current chunk and end.
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

/// Starts this instance's batch worker. It has a thread and a small
/// runtime of its own: adjudicating is CPU work that must not hold up the
/// HTTP workers. The thread waits for work inside that runtime, never
/// outside it: database connections it opens are shared through the pool,
/// and their I/O is driven by the runtime that opened them.
pub(super) fn start_worker(state: &web::Data<AppState>) {
    let state = state.clone();
    let worker = format!("{}-{}", std::process::id(), Uuid::new_v4().simple());
    let spawned = std::thread::Builder::new()
        .name("priorauth-batches".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "batch worker cannot start");
                    return;
                }
            };
            rt.block_on(work(state, worker));
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "batch worker cannot start");
    }
}

async fn work(state: web::Data<AppState>, worker: String) {
    let (wake, stop) = (state.batches.wake.clone(), state.batches.stop.clone());
    while !stop.load(Ordering::SeqCst) {
        let rules = state.rules();
        match state.store.work_batch_chunk(&rules, &worker).await {
            Ok(Some(done)) => {
                state.metrics.decisions(&done.decisions);
                tracing::info!(batch = %done.batch_id, chunk = done.seq, claims = done.decisions.len(), worker = %worker, "batch chunk committed");
                if done.finished {
                    tracing::info!(batch = %done.batch_id, "batch done");
                }
            }
            Ok(None) => {
                let _ = tokio::time::timeout(IDLE_POLL, wake.notified()).await;
            }
            Err(e) if e.unavailable() => {
                tracing::warn!(error = %e, "database unavailable; batch waits for it");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "batch chunk not worked; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One chunk of an upload, cut as the file is read.
struct Cut {
    seq: i64,
    first_claim: i64,
    claims: Vec<Claim>,
}

/// Reads the spooled upload: checks that a billing system sends only
/// claims billed under its own NPIs, and hands the claims of the accepted
/// sets on in chunks of `size`; returns what the intake found.
fn cut_chunks(
    path: PathBuf,
    who: Actor,
    size: usize,
    tx: mpsc::Sender<Cut>,
) -> Result<crate::x12::Intake, ApiError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ApiError::Internal(format!("cannot read spooled batch: {e}")))?;
    let mut reader = SetReader::new(file, None);
    let (mut seq, mut first, mut chunk) = (0i64, 0i64, Vec::with_capacity(size));
    let send = |chunk: &mut Vec<Claim>, seq: &mut i64, first: &mut i64| {
        let claims = std::mem::replace(chunk, Vec::with_capacity(size));
        let n = claims.len() as i64;
        let cut = Cut {
            seq: *seq,
            first_claim: *first,
            claims,
        };
        *seq += 1;
        *first += n;
        // The receiver is gone only when the upload has failed already.
        tx.blocking_send(cut).is_ok()
    };
    while let Some(set) = reader.next_accepted() {
        super::claims::foreign_npis(
            &who,
            set.claims.iter().map(|c| (&c.claim_id, &c.billing_npi)),
        )?;
        for claim in set.claims {
            chunk.push(claim);
            if chunk.len() >= size && !send(&mut chunk, &mut seq, &mut first) {
                return Err(ApiError::Internal("batch upload stopped".into()));
            }
        }
    }
    if !chunk.is_empty() && !send(&mut chunk, &mut seq, &mut first) {
        return Err(ApiError::Internal("batch upload stopped".into()));
    }
    Ok(reader.finish())
}

/// `POST /v1/batches`: spools the body as it streams in (a scratch file,
/// removed before answering), stores the file and its claims in chunks,
/// queues the batch for every instance; 202 with the batch.
pub(super) async fn create(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    expect_media(req.headers(), X12_MEDIA)?;
    declared_length(req.headers(), state.config.batch_limit)?;
    let (id, bytes, claims) = accept(&state, &actor, payload).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/v1/batches/{id}")))
        .json(json!({
            "id": id, "state": "queued", "bytes": bytes,
            "claims_total": claims, "claims_done": 0,
        })))
}

/// Spools a batch file as it streams in, counts its claims (a billing
/// system's must all be its own), records and queues it: (id, bytes,
/// claims). The API's `POST /v1/batches` and the console's upload.
pub async fn accept<S, E>(
    state: &web::Data<AppState>,
    actor: &Actor,
    mut payload: S,
) -> ApiResult<(String, u64, u64)>
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let limit = state.config.batch_limit;
    // Held until the body is spooled and counted (dropped on every return).
    let _slot = state.transfers.take(actor, Transfer::Upload)?;
    let id = Uuid::new_v4().to_string();
    let spool: PathBuf = state.config.data_dir.join(format!("upload-{id}.x12"));
    let scratch = Scratch(spool.clone());
    let mut file = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&spool)
            .map_err(|e| ApiError::Internal(format!("cannot spool batch: {e}")))?,
    );
    let mut bytes = 0u64;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?;
        bytes += chunk.len() as u64;
        if bytes > limit {
            return Err(ApiError::TooLarge(limit));
        }
        file.write_all(&chunk)
            .map_err(|e| ApiError::Internal(format!("cannot spool batch: {e}")))?;
    }
    file.flush()
        .map_err(|e| ApiError::Internal(format!("cannot spool batch: {e}")))?;
    drop(file);
    let stored = store_upload(state, actor, &id, &spool).await;
    let intake = match stored {
        Ok(intake) => intake,
        Err(e) => {
            let _ = state.store.discard_batch_upload(&id).await;
            return Err(e);
        }
    };
    let summary = &intake.summary;
    if summary.interchanges == 0 {
        let _ = state.store.discard_batch_upload(&id).await;
        return Err(ApiError::BadRequest(
            "the body is not an X12 interchange (no ISA segment could be read)".into(),
        ));
    }
    actor.audit(state, "batch.create", "batch", &id).await?;
    state
        .store
        .queue_stored_batch(
            &id,
            bytes as i64,
            summary.claims as i64,
            &json!(intake.rejected),
            &actor.caller.client_id,
        )
        .await?;
    drop(scratch);
    state.batches.wake();
    tracing::info!(batch = %id, bytes, claims = summary.claims, "batch received");
    Ok((id, bytes, summary.claims as u64))
}

/// Stores the spooled upload: its claims in chunks (cut on a blocking
/// thread while this stores the ones before), then the file in pieces.
async fn store_upload(
    state: &web::Data<AppState>,
    actor: &Actor,
    id: &str,
    spool: &std::path::Path,
) -> ApiResult<crate::x12::Intake> {
    let (tx, mut rx) = mpsc::channel::<Cut>(2);
    let (path, who, size) = (spool.to_path_buf(), actor.clone(), state.config.batch_chunk);
    let cutting = web::block(move || cut_chunks(path, who, size, tx));
    let storing = async {
        while let Some(cut) = rx.recv().await {
            state
                .store
                .add_batch_chunk(id, cut.seq, cut.first_claim, &cut.claims)
                .await?;
        }
        Ok::<_, ApiError>(())
    };
    let (cut, stored) = futures_util::future::join(cutting, storing).await;
    let intake = cut.map_err(|e| ApiError::Internal(e.to_string()))??;
    stored?;
    let mut f = std::fs::File::open(spool)
        .map_err(|e| ApiError::Internal(format!("cannot read spooled batch: {e}")))?;
    let mut buf = vec![0u8; PIECE];
    let mut piece = 0i64;
    loop {
        let mut n = 0;
        while n < PIECE {
            let got = f
                .read(buf.get_mut(n..).unwrap_or_default())
                .map_err(|e| ApiError::Internal(format!("cannot read spooled batch: {e}")))?;
            if got == 0 {
                break;
            }
            n += got;
        }
        if n == 0 {
            break;
        }
        state
            .store
            .add_batch_piece(id, piece, buf.get(..n).unwrap_or_default())
            .await?;
        piece += 1;
    }
    Ok(intake)
}

/// The scratch file of an upload, removed however the request ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The 835 of a finished batch (SPEC §4): its claims denied in full,
/// streamed from the store a page at a time (memory stays flat in the
/// size of the batch), grouped by billing provider; 204 when it has none.
/// The stored decision has what the 835 needs but the patient's name and
/// the line dates of a range: the 835 leaves those out.
async fn remit(state: &web::Data<AppState>, batch: &crate::store::Batch, slot: Slot) -> ApiResult {
    if batch.state != BatchState::Done {
        return Err(ApiError::Conflict(format!(
            "batch {} is {}: its 835 is written once it is done",
            batch.id, batch.state
        )));
    }
    if state
        .store
        .batch_denials(&batch.id, None, 1)
        .await?
        .is_empty()
    {
        return Ok(HttpResponse::NoContent().finish());
    }
    let control_number = state.store.next_control_number("835").await?;
    let test = if batch.spool.is_empty() {
        sent_as_test(&state.store.batch_file_head(&batch.id, 106).await?)
    } else {
        spooled_as_test(&batch.spool)
    };
    let cfg = state
        .config
        .payer
        .remit(crate::store::now(), control_number, test);
    let writer = Remit835::new(&cfg);
    let id = batch.id.clone();
    let state = state.clone();
    // The slot rides in the stream: freed with its last page, or when the
    // client goes away and actix drops the stream.
    let pages =
        futures_util::stream::unfold(Some((writer, None::<(String, i64)>, slot)), move |cursor| {
            let state = state.clone();
            let id = id.clone();
            async move {
                let (mut writer, after, slot) = cursor?;
                let after_ref = after.as_ref().map(|(n, s)| (n.as_str(), *s));
                let page = match state.store.batch_denials(&id, after_ref, 500).await {
                    Ok(page) => page,
                    Err(e) => return Some((Err(ApiError::from(e)), None)),
                };
                let Some(last) = page.last() else {
                    return Some((Ok(Bytes::from(writer.finish())), None));
                };
                let next = (last.billing_npi.clone(), last.batch_seq);
                for row in &page {
                    let d: ClaimDecision = match serde_json::from_str(&row.decision) {
                        Ok(d) => d,
                        Err(e) => {
                            let e = ApiError::Internal(format!("stored decision: {e}"));
                            return Some((Err(e), None));
                        }
                    };
                    writer.push(&RemitClaim {
                        decision: &d,
                        billing_npi: &row.billing_npi,
                        frequency_code: &row.frequency,
                        claim: None,
                    });
                }
                Some((
                    Ok(Bytes::from(writer.take())),
                    Some((writer, Some(next), slot)),
                ))
            }
        });
    Ok(HttpResponse::Ok()
        .content_type("application/edi-x12")
        .streaming(pages))
}

/// True when the batch's file was sent as test data (ISA15 `T`): its 835
/// is marked test too. Reads the 106-byte ISA only.
fn spooled_as_test(spool: &str) -> bool {
    let mut isa = [0u8; 106];
    let Ok(mut f) = std::fs::File::open(spool) else {
        return false;
    };
    let n = f.read(&mut isa).unwrap_or(0);
    sent_as_test(isa.get(..n).unwrap_or_default())
}

/// True when an ISA says test data (ISA15 `T`).
fn sent_as_test(head: &[u8]) -> bool {
    let Some(&sep) = head.get(3) else {
        return false;
    };
    head.starts_with(b"ISA") && head.split(|b| *b == sep).nth(15) == Some(b"T")
}

/// The batch, when the caller may see it: a billing system sees only the
/// batches it sent (others are "not found").
async fn visible_batch(state: &AppState, actor: &Actor, id: &str) -> ApiResult<Batch> {
    let not_found = || ApiError::NotFound(format!("batch {id} not found"));
    let b = state.store.batch(id).await?.ok_or_else(not_found)?;
    let own = b.submitted_by.as_deref() == Some(actor.caller.client_id.as_str());
    if actor.caller.npis.is_some() && !own {
        return Err(not_found());
    }
    Ok(b)
}

/// `GET /v1/batches/{id}`: state and progress.
pub(super) async fn get(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> ApiResult {
    let id = path.into_inner();
    Ok(HttpResponse::Ok().json(visible_batch(&state, &actor, &id).await?))
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct ResultsQuery {
    /// ndjson (default) or 835.
    format: Option<String>,
}

/// `GET /v1/batches/{id}/results`: one claim decision per line, in file
/// order, streamed page by page (what is done so far while it runs); with
/// `?format=835` or `Accept: application/edi-x12`, the 835 of a finished
/// batch.
pub(super) async fn results(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ResultsQuery>,
) -> ApiResult {
    results_for(
        state,
        &actor,
        &req,
        path.into_inner(),
        query.into_inner().format,
    )
    .await
}

/// A batch's results as `GET /v1/batches/{id}/results` answers them (the
/// console's downloads too).
pub async fn results_for(
    state: web::Data<AppState>,
    actor: &Actor,
    req: &HttpRequest,
    id: String,
    format: Option<String>,
) -> ApiResult {
    let batch = visible_batch(&state, actor, &id).await?;
    actor
        .audit(&state, "batch.results.read", "batch", &id)
        .await?;
    let x12 = match format.as_deref() {
        None => wants_x12(req),
        Some("ndjson") => false,
        Some("835") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format={other}: use ndjson or 835"
            )))
        }
    };
    let slot = state.transfers.take(actor, Transfer::Download)?;
    if x12 {
        return remit(&state, &batch, slot).await;
    }
    let pages = futures_util::stream::unfold(Some((0i64, slot)), move |cursor| {
        let state = state.clone();
        let id = id.clone();
        async move {
            let (after, slot) = cursor?;
            match state.store.batch_results(&id, after, 2000).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = rows.last().map(|r| (r.0, slot));
                    let mut out = String::with_capacity(rows.len() * 1024);
                    for (_, json) in rows {
                        out.push_str(&json);
                        out.push('\n');
                    }
                    Some((Ok::<_, ApiError>(Bytes::from(out)), next))
                }
                Err(e) => Some((Err(ApiError::from(e)), None)),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header(("Batch-State", batch.state.as_str()))
        .streaming(pages))
}
