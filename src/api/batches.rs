//! `/v1/batches`: large 837 files, spooled to disk as they stream in and
//! adjudicated in the background in chunks. Each chunk commits its claims,
//! its consumption and the batch's progress in one transaction, so a batch
//! cut off by a crash resumes after the last committed chunk and never
//! consumes twice.

use parking_lot::Mutex;
use std::io::Write as _;
use std::path::PathBuf;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::body::{declared_length, expect_media, wants_x12, X12_MEDIA};
use super::guard::Actor;
use super::transfers::{Slot, Transfer};
use super::{ApiError, ApiResult, AppState};
use crate::model::ClaimDecision;
use crate::store::{Batch, BatchState, StoreError, SubmitOptions, Submitted};
use crate::x12::{Remit835, RemitClaim, SetReader};

/// A batch to work on.
struct Job {
    id: String,
    state: web::Data<AppState>,
}

/// The background worker's inbox.
pub(super) struct Queue {
    tx: Mutex<Option<mpsc::UnboundedSender<Job>>>,
}

impl Queue {
    /// Starts the worker thread. It has its own small runtime: adjudicating
    /// is CPU work that must not hold up the HTTP workers. The thread waits
    /// for work inside that runtime, never outside it: database connections
    /// it opens are shared through the pool, and their I/O is driven by the
    /// runtime that opened them, which must therefore keep running.
    pub(super) fn start() -> Queue {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
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
                rt.block_on(async move {
                    while let Some(job) = rx.recv().await {
                        // The database gone (a restart, a failover): wait
                        // for it, then go on after the last committed chunk.
                        let mut outcome = run(&job).await;
                        while let Err(e) = &outcome {
                            let gone = e
                                .downcast_ref::<StoreError>()
                                .is_some_and(StoreError::unavailable);
                            if !gone {
                                break;
                            }
                            tracing::warn!(batch = %job.id, error = %e, "database unavailable; batch waits for it");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            outcome = run(&job).await;
                        }
                        if let Err(e) = outcome {
                            tracing::error!(batch = %job.id, error = %e, "batch failed");
                            let _ = job
                                .state
                                .store
                                .set_batch_state(
                                    &job.id,
                                    BatchState::Failed,
                                    None,
                                    Some(&e.to_string()),
                                )
                                .await;
                        }
                    }
                });
            })
            .ok();
        Queue {
            tx: Mutex::new(Some(tx)),
        }
    }

    fn push(&self, job: Job) {
        if let Some(tx) = self.tx.lock().as_ref() {
            let _ = tx.send(job);
        }
    }

    /// Lets the worker finish its current batch and end.
    pub(super) fn stop(&self) {
        self.tx.lock().take();
    }
}

/// Queues every batch a previous run left unfinished.
pub(super) async fn resume(state: &web::Data<AppState>) -> Result<(), StoreError> {
    for b in state.store.unfinished_batches().await? {
        tracing::info!(batch = %b.id, done = b.claims_done, total = b.claims_total, "resuming batch");
        state.batches.push(Job {
            id: b.id,
            state: state.clone(),
        });
    }
    Ok(())
}

/// Adjudicates a batch from where its last committed chunk left it.
async fn run(job: &Job) -> anyhow::Result<()> {
    let store = &job.state.store;
    let Some(batch) = store.batch(&job.id).await? else {
        return Ok(());
    };
    store
        .set_batch_state(&job.id, BatchState::Running, None, None)
        .await?;
    let file = std::fs::File::open(&batch.spool)
        .map_err(|e| anyhow::anyhow!("batch file is gone: {e}"))?;
    let chunk_size = job.state.config.batch_chunk;
    let mut reader = SetReader::new(file, None);
    let mut done = batch.claims_done;
    let mut seen = 0i64;
    let mut chunk = Vec::with_capacity(chunk_size);
    while let Some(set) = reader.next_accepted() {
        for claim in set.claims {
            seen += 1;
            if seen > done {
                chunk.push(claim);
            }
            if chunk.len() >= chunk_size && !commit(job, &mut chunk, &mut done).await? {
                return Ok(());
            }
        }
    }
    if !chunk.is_empty() && !commit(job, &mut chunk, &mut done).await? {
        return Ok(());
    }
    let rejected = reader.finish().rejected;
    store
        .set_batch_state(&job.id, BatchState::Done, Some(&json!(rejected)), None)
        .await?;
    tracing::info!(batch = %job.id, claims = done, "batch done");
    Ok(())
}

/// Commits one chunk: its claims, their consumption and the batch's
/// progress together. False when another worker has the batch.
async fn commit(
    job: &Job,
    chunk: &mut Vec<crate::model::Claim>,
    done: &mut i64,
) -> anyhow::Result<bool> {
    let rules = job.state.rules();
    let step = job
        .state
        .store
        .submit(
            &rules,
            chunk,
            SubmitOptions {
                idempotency: None,
                batch: Some((&job.id, *done)),
                audit: None,
            },
            &|_| String::new(),
        )
        .await;
    match step {
        Ok(Submitted::Fresh(decisions, _)) => {
            job.state.metrics.decisions(&decisions);
            *done += chunk.len() as i64;
            chunk.clear();
            Ok(true)
        }
        Ok(Submitted::Replay(_)) => {
            chunk.clear();
            Ok(true)
        }
        Err(StoreError::BatchMoved(_)) => {
            tracing::info!(batch = %job.id, "another worker has this batch");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/batches`: streams the body to the spool, counts its claims,
/// queues it; 202 with the batch.
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
    // Held until the body is spooled and counted (dropped on every return);
    // console uploads count too.
    let _slot = state.transfers.take(actor, Transfer::Upload)?;
    let id = Uuid::new_v4().to_string();
    let spool: PathBuf = state.config.data_dir.join(format!("batch-{id}.x12"));
    let mut file = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&spool)
            .map_err(|e| ApiError::Internal(format!("cannot spool batch: {e}")))?,
    );
    let mut bytes = 0u64;
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&spool);
                return Err(ApiError::BadRequest(format!("request body: {e}")));
            }
        };
        bytes += chunk.len() as u64;
        if bytes > limit {
            drop(file);
            let _ = std::fs::remove_file(&spool);
            return Err(ApiError::TooLarge(limit));
        }
        file.write_all(&chunk)
            .map_err(|e| ApiError::Internal(format!("cannot spool batch: {e}")))?;
    }
    file.into_inner()
        .map_err(|e| ApiError::Internal(format!("cannot spool batch: {e}")))?
        .sync_all()
        .map_err(|e| ApiError::Internal(format!("cannot spool batch: {e}")))?;
    // Count the claims first, so progress reads "done of total", and see
    // that a billing system sends only claims billed under its own NPIs.
    let path = spool.clone();
    let who = actor.clone();
    let counted = web::block(move || -> Result<_, ApiError> {
        let file = std::fs::File::open(path)
            .map_err(|e| ApiError::Internal(format!("cannot read spooled batch: {e}")))?;
        let mut reader = SetReader::new(file, None);
        while let Some(set) = reader.next_accepted() {
            super::claims::foreign_npis(
                &who,
                set.claims.iter().map(|c| (&c.claim_id, &c.billing_npi)),
            )?;
        }
        Ok(reader.finish().summary)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let summary = match counted {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&spool);
            return Err(e);
        }
    };
    if summary.interchanges == 0 {
        let _ = std::fs::remove_file(&spool);
        return Err(ApiError::BadRequest(
            "the body is not an X12 interchange (no ISA segment could be read)".into(),
        ));
    }
    actor.audit(state, "batch.create", "batch", &id).await?;
    state
        .store
        .create_batch(
            &id,
            &spool.to_string_lossy(),
            bytes as i64,
            summary.claims as i64,
            &actor.caller.client_id,
        )
        .await?;
    state.batches.push(Job {
        id: id.clone(),
        state: state.clone(),
    });
    tracing::info!(batch = %id, bytes, claims = summary.claims, "batch received");
    Ok((id, bytes, summary.claims as u64))
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
    let test = spooled_as_test(&batch.spool);
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
    use std::io::Read as _;
    let mut isa = [0u8; 106];
    let Ok(mut f) = std::fs::File::open(spool) else {
        return false;
    };
    let n = f.read(&mut isa).unwrap_or(0);
    let head = isa.get(..n).unwrap_or_default();
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
