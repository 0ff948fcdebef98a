//! Evolution across machines, with PostgreSQL as the queue and the store (no network
//! protocol of our own). The coordinator (`minerva evolve --fleet URL`) publishes a
//! *run* — the study's settings and its tapes — then each generation's new candidates
//! as *job* rows; workers (`minerva worker URL`, any number, on any machine) claim jobs
//! with `FOR UPDATE SKIP LOCKED`, backtest them on the run's tapes (read from the same
//! database) and write the outcome back.
//!
//! A worker renews the lease of the job it holds while the backtest runs; a job whose
//! lease ran out (its worker died or lost the network) is claimed again, up to
//! [`MAX_ATTEMPTS`] times. Outcomes are pure functions of the job, so whichever worker
//! answers, the evolution is the one a single machine runs with the same seed.
//!
//! Cold path throughout: a job is a whole backtest.

use super::Outcome;
use super::study::{Study, StudyError, Window};
use crate::backtest::{BacktestConfig, tape::Tape};
use crate::core::SymbolSpec;
use crate::store::postgres::{client, detail, redact};
use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A job is given up (its outcome an error) after this many leases ran out: a
/// candidate that kills every worker that takes it must not stall the evolution.
pub const MAX_ATTEMPTS: i32 = 3;

/// The tables, created when absent (under an advisory lock: workers and coordinators
/// may start together).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS minerva_evolve_tapes(
    sha256 TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL,
    stored TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS minerva_evolve_runs(
    id BIGSERIAL PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL DEFAULT now(),
    version TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    spec TEXT NOT NULL,
    lease_ms BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'running',
    heartbeat TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS minerva_evolve_jobs(
    id BIGSERIAL PRIMARY KEY,
    run BIGINT NOT NULL REFERENCES minerva_evolve_runs(id) ON DELETE CASCADE,
    generation INT NOT NULL,
    slot INT NOT NULL,
    genes TEXT NOT NULL,
    from_ns BIGINT NOT NULL,
    to_ns BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    worker TEXT,
    attempts INT NOT NULL DEFAULT 0,
    claimed TIMESTAMPTZ,
    lease_until TIMESTAMPTZ,
    done TIMESTAMPTZ,
    fitness DOUBLE PRECISION,
    trades BIGINT,
    net_pnl DOUBLE PRECISION,
    max_drawdown DOUBLE PRECISION,
    error TEXT);
CREATE INDEX IF NOT EXISTS minerva_evolve_jobs_open
    ON minerva_evolve_jobs(id) WHERE state <> 'done';
";

/// The channel workers listen on for new jobs.
const JOBS_CHANNEL: &str = "minerva_evolve_jobs";
/// The channel coordinators listen on for outcomes.
const DONE_CHANNEL: &str = "minerva_evolve_done";

/// A coordinator whose heartbeat is older than this many leases is taken for dead:
/// workers leave its jobs alone.
const COORDINATOR_LEASES: i64 = 5;

/// What went wrong with the queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The server refused or could not be reached.
    #[error("PostgreSQL {url}: {what}: {why}")]
    Db {
        /// The URL, password masked.
        url: String,
        /// What was being done.
        what: &'static str,
        /// The server's or client's message.
        why: String,
    },
    /// A row that does not read as what this version writes.
    #[error("evolution run {run}: {why}")]
    Run {
        /// The run.
        run: i64,
        /// What is wrong.
        why: String,
    },
    /// The study could not be set up from the run's settings.
    #[error("evolution run {run}: {source}")]
    Study {
        /// The run.
        run: i64,
        /// The study's complaint.
        source: StudyError,
    },
}

/// Everything a worker needs to judge a run's candidates as the coordinator would:
/// written once per run as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// The strategy file's text.
    pub text: String,
    /// Command-line overrides under the genes.
    pub fixed: Vec<(String, String)>,
    /// The backtest's models, window and fitness.
    pub backtest: BacktestConfig,
    /// The holdout share (it moves the training window's end).
    pub holdout: f64,
    /// SHA-256 of each symbol's tape file, in the study's order.
    pub tapes: Vec<String>,
}

impl RunSpec {
    /// A study over `markets` with these settings.
    ///
    /// # Errors
    /// [`StudyError`] as [`Study::new`].
    pub fn study<'a>(
        &'a self,
        markets: Vec<(&'a Tape, &'a SymbolSpec)>,
    ) -> Result<Study<'a>, StudyError> {
        Study::new(
            markets,
            &self.text,
            self.fixed
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect(),
            self.backtest.clone(),
            self.holdout,
        )
    }
}

/// One candidate to judge on one window.
pub type Job<'g> = (Vec<(&'g str, String)>, Window);

/// How a generation's jobs stand, for the coordinator's progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Jobs answered.
    pub done: usize,
    /// Jobs a worker holds now.
    pub running: usize,
    /// Jobs in the batch.
    pub total: usize,
    /// Seconds since any of the batch's jobs was last claimed or answered.
    pub idle_secs: u64,
}

/// A tape's key in the tapes table: the SHA-256 of its file, hex.
pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(b))
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Waits up to `d` for a notification on the channels `c` listens on, then takes
/// every one pending (one look at the tables answers them all).
fn wait(c: &mut Client, d: Duration) -> Result<(), postgres::Error> {
    let mut n = c.notifications();
    if n.timeout_iter(d).next()?.is_some() {
        while n.iter().next()?.is_some() {}
    }
    Ok(())
}

/// A connection with the schema in place.
fn connect(url: &str) -> Result<Client, QueueError> {
    let db = |what, e: postgres::Error| QueueError::Db {
        url: redact(url),
        what,
        why: detail(&e),
    };
    let mut c = client(url).map_err(|e| db("connect", e))?;
    let mut tx = c.transaction().map_err(|e| db("schema", e))?;
    // One creator at a time: concurrent CREATE ... IF NOT EXISTS can still collide.
    tx.batch_execute("SELECT pg_advisory_xact_lock(7235291848563)")
        .and_then(|()| tx.batch_execute(SCHEMA))
        .map_err(|e| db("schema", e))?;
    tx.commit().map_err(|e| db("schema", e))?;
    Ok(c)
}

/// The coordinator's side: one run, its jobs published a batch at a time.
pub struct Coordinator {
    client: Client,
    url: String,
    run: i64,
}

impl Coordinator {
    /// Publishes a run: the tapes (each stored once, by content), the settings and the
    /// lease a worker holds a job for between renewals. `fingerprint` is the study's:
    /// a worker that rebuilds another refuses the run.
    ///
    /// # Errors
    /// [`QueueError::Db`] when the server cannot be reached or refuses.
    pub fn publish(
        url: &str,
        spec: &RunSpec,
        tapes: &[Vec<u8>],
        fingerprint: &str,
        lease: Duration,
    ) -> Result<Self, QueueError> {
        let mut client = connect(url)?;
        let db = |what, e: postgres::Error| QueueError::Db {
            url: redact(url),
            what,
            why: detail(&e),
        };
        for bytes in tapes {
            client
                .execute(
                    "INSERT INTO minerva_evolve_tapes(sha256, bytes) VALUES ($1, $2)
                     ON CONFLICT (sha256) DO NOTHING",
                    &[&sha256_hex(bytes), bytes],
                )
                .map_err(|e| db("store a tape", e))?;
        }
        let text = sonic_rs::to_string(spec).expect("a run spec serialises");
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let run: i64 = client
            .query_one(
                "INSERT INTO minerva_evolve_runs(version, fingerprint, spec, lease_ms)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&version(), &fingerprint, &text, &lease_ms],
            )
            .map_err(|e| db("publish the run", e))?
            .get(0);
        client
            .batch_execute(&format!("LISTEN {DONE_CHANNEL}"))
            .map_err(|e| db("listen", e))?;
        Ok(Self {
            client,
            url: url.to_string(),
            run,
        })
    }

    /// The run's id (`minerva worker --run ID` serves only it).
    pub fn run(&self) -> i64 {
        self.run
    }

    fn db(&self, what: &'static str, e: postgres::Error) -> QueueError {
        QueueError::Db {
            url: redact(&self.url),
            what,
            why: detail(&e),
        }
    }

    /// Publishes `jobs` as generation `generation`'s (-1: the checks after the search)
    /// and waits for every outcome, in their order. `watch` sees the progress about twice a second and returns `false`
    /// to stop waiting: the jobs not answered yet are withdrawn and read
    /// `not run: stopped`.
    ///
    /// # Errors
    /// [`QueueError::Db`] when the server is lost (the run's jobs stay in it).
    pub fn evaluate(
        &mut self,
        generation: i32,
        jobs: &[Job<'_>],
        watch: &mut dyn FnMut(Progress) -> bool,
    ) -> Result<Vec<Result<Outcome, String>>, QueueError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let genes: Vec<String> = jobs
            .iter()
            .map(|(o, _)| sonic_rs::to_string(o).expect("overrides serialise"))
            .collect();
        let from: Vec<i64> = jobs.iter().map(|(_, w)| w.from_ns as i64).collect();
        let to: Vec<i64> = jobs.iter().map(|(_, w)| w.to_ns as i64).collect();
        let rows = self
            .client
            .query(
                "INSERT INTO minerva_evolve_jobs(run, generation, slot, genes, from_ns, to_ns)
                 SELECT $1, $2, (u.k - 1)::int, u.g, u.f, u.t
                 FROM UNNEST($3::text[], $4::bigint[], $5::bigint[]) WITH ORDINALITY AS u(g, f, t, k)
                 RETURNING id, slot",
                &[&self.run, &generation, &genes, &from, &to],
            )
            .map_err(|e| self.db("publish jobs", e))?;
        let mut ids = vec![0i64; jobs.len()];
        for r in rows {
            let slot: i32 = r.get(1);
            ids[slot as usize] = r.get(0);
        }
        self.client
            .batch_execute(&format!("NOTIFY {JOBS_CHANNEL}"))
            .map_err(|e| self.db("notify", e))?;
        let slot_of: HashMap<i64, usize> = ids.iter().enumerate().map(|(k, &id)| (id, k)).collect();
        let mut out: Vec<Option<Result<Outcome, String>>> = vec![None; jobs.len()];
        let mut done = 0;
        let mut last_move = Instant::now();
        let mut last_running = 0;
        let mut beat: Option<Instant> = None;
        loop {
            // The run is alive; jobs whose leases ran out too often are given up (at
            // most once a second).
            if beat.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                beat = Some(Instant::now());
                self.beat(&ids)?;
            }
            let open: Vec<i64> = ids
                .iter()
                .zip(&out)
                .filter(|(_, o)| o.is_none())
                .map(|(&id, _)| id)
                .collect();
            let rows = self
                .client
                .query(
                    "SELECT id, state, fitness, trades, net_pnl, max_drawdown, error
                     FROM minerva_evolve_jobs WHERE id = ANY($1) AND state <> 'queued'",
                    &[&open],
                )
                .map_err(|e| self.db("read outcomes", e))?;
            let mut running = 0;
            for r in rows {
                let id: i64 = r.get(0);
                let state: &str = r.get(1);
                if state != "done" {
                    running += 1;
                    continue;
                }
                let error: Option<String> = r.get(6);
                let outcome = match error {
                    Some(e) => Err(e),
                    None => Ok(Outcome {
                        fitness: r.get::<_, Option<f64>>(2).unwrap_or(f64::NAN),
                        trades: r.get::<_, Option<i64>>(3).unwrap_or(0).max(0) as usize,
                        net_pnl: r.get::<_, Option<f64>>(4).unwrap_or(f64::NAN),
                        max_drawdown: r.get::<_, Option<f64>>(5).unwrap_or(f64::NAN),
                    }),
                };
                out[slot_of[&id]] = Some(outcome);
                done += 1;
                last_move = Instant::now();
            }
            if running != last_running {
                last_running = running;
                last_move = Instant::now();
            }
            if done == jobs.len() {
                break;
            }
            let progress = Progress {
                done,
                running,
                total: jobs.len(),
                idle_secs: last_move.elapsed().as_secs(),
            };
            if !watch(progress) {
                let open: Vec<i64> = ids
                    .iter()
                    .zip(&out)
                    .filter(|(_, o)| o.is_none())
                    .map(|(&id, _)| id)
                    .collect();
                self.client
                    .execute(
                        "UPDATE minerva_evolve_jobs SET state = 'done', done = now(),
                             error = 'not run: stopped'
                         WHERE id = ANY($1) AND state <> 'done'",
                        &[&open],
                    )
                    .map_err(|e| self.db("withdraw jobs", e))?;
                for o in out.iter_mut().filter(|o| o.is_none()) {
                    *o = Some(Err("not run: stopped".into()));
                }
                break;
            }
            // Woken by a worker's answer, or after half a second to look again.
            wait(&mut self.client, Duration::from_millis(500)).map_err(|e| self.db("wait", e))?;
        }
        Ok(out.into_iter().map(|o| o.expect("all answered")).collect())
    }

    /// Keeps the run alive in the workers' eyes, and gives up the jobs among `ids`
    /// whose leases ran out [`MAX_ATTEMPTS`] times.
    fn beat(&mut self, ids: &[i64]) -> Result<(), QueueError> {
        self.client
            .execute(
                "UPDATE minerva_evolve_runs SET heartbeat = now() WHERE id = $1",
                &[&self.run],
            )
            .map_err(|e| self.db("heartbeat", e))?;
        self.client
            .execute(
                "UPDATE minerva_evolve_jobs SET state = 'done', done = now(),
                     error = 'given up: ' || attempts || ' workers took it and their leases ran out'
                 WHERE id = ANY($1) AND state = 'running' AND lease_until < now()
                   AND attempts >= $2",
                &[&ids, &MAX_ATTEMPTS],
            )
            .map_err(|e| self.db("expire jobs", e))?;
        Ok(())
    }

    /// Marks the run ended (`done`, or `stopped` after Ctrl-C): workers stop taking
    /// its jobs. Its rows stay, as a record of every candidate and who judged it.
    ///
    /// # Errors
    /// [`QueueError::Db`].
    pub fn finish(&mut self, stopped: bool) -> Result<(), QueueError> {
        let state = if stopped { "stopped" } else { "done" };
        self.client
            .execute(
                "UPDATE minerva_evolve_runs SET state = $2 WHERE id = $1",
                &[&self.run, &state],
            )
            .map_err(|e| self.db("end the run", e))?;
        Ok(())
    }
}

/// A run as a worker holds it: its settings and its tapes, decoded once.
struct Loaded {
    spec: RunSpec,
    markets: Vec<(Tape, SymbolSpec)>,
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Jobs answered.
    pub jobs: u64,
    /// Runs refused (another version, or a study that rebuilds differently).
    pub refused_runs: u64,
}

/// A worker process's shared state: the runs it has loaded (tapes are read once per
/// process, whatever the number of threads) and those it refuses.
pub struct Worker {
    url: String,
    only_run: Option<i64>,
    runs: Mutex<HashMap<i64, Result<Arc<Loaded>, String>>>,
}

impl Worker {
    /// A worker for the queue at `url` (checked: reachable, tables in place); with
    /// `only_run`, it serves that run alone.
    ///
    /// # Errors
    /// [`QueueError::Db`]: a bad URL, an unreachable server, a refused login.
    pub fn connect(url: &str, only_run: Option<i64>) -> Result<Self, QueueError> {
        connect(url)?;
        Ok(Self {
            url: url.to_string(),
            only_run,
            runs: Mutex::new(HashMap::new()),
        })
    }

    fn db(&self, what: &'static str, e: postgres::Error) -> QueueError {
        QueueError::Db {
            url: redact(&self.url),
            what,
            why: detail(&e),
        }
    }

    /// The run, loaded once; `Err` when this worker cannot serve it.
    fn load(&self, c: &mut Client, run: i64) -> Result<Result<Arc<Loaded>, String>, QueueError> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = runs.get(&run) {
            return Ok(r.clone());
        }
        let row = c
            .query_one(
                "SELECT version, fingerprint, spec FROM minerva_evolve_runs WHERE id = $1",
                &[&run],
            )
            .map_err(|e| self.db("read the run", e))?;
        let (v, fingerprint, text): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let loaded = if v != version() {
            Err(format!(
                "published by minerva {v}; this worker is {}: run the same version on every machine",
                version()
            ))
        } else {
            self.read(c, run, &text, &fingerprint)?
        };
        match &loaded {
            Ok(l) => tracing::info!(
                run,
                symbols = l.markets.len(),
                "evolution run loaded (tapes read)"
            ),
            Err(why) => tracing::warn!(run, "evolution run refused: {why}"),
        }
        runs.insert(run, loaded.clone());
        Ok(loaded)
    }

    fn read(
        &self,
        c: &mut Client,
        run: i64,
        text: &str,
        fingerprint: &str,
    ) -> Result<Result<Arc<Loaded>, String>, QueueError> {
        let spec: RunSpec = match sonic_rs::from_str(text) {
            Ok(s) => s,
            Err(e) => return Ok(Err(format!("its settings do not read: {e}"))),
        };
        let mut markets = Vec::with_capacity(spec.tapes.len());
        for sha in &spec.tapes {
            let rows = c
                .query(
                    "SELECT bytes FROM minerva_evolve_tapes WHERE sha256 = $1",
                    &[sha],
                )
                .map_err(|e| self.db("read a tape", e))?;
            let Some(row) = rows.first() else {
                return Ok(Err(format!("tape {sha} is not in the database")));
            };
            // The tape reads the row's bytes in place.
            let bytes: Vec<u8> = row.get(0);
            match Tape::from_vec(bytes, None) {
                Ok(m) => markets.push(m),
                Err(e) => return Ok(Err(format!("tape {sha}: {e}"))),
            }
        }
        let study = spec
            .study(markets.iter().map(|(t, s)| (t, s)).collect())
            .map_err(|source| QueueError::Study { run, source })?;
        let mine = study.fingerprint();
        if mine != fingerprint {
            return Ok(Err(format!(
                "the study rebuilds with fingerprint {mine}, the coordinator's is {fingerprint}"
            )));
        }
        drop(study);
        Ok(Ok(Arc::new(Loaded { spec, markets })))
    }

    /// Claims and judges jobs on one connection until `stop` says so, or, with
    /// `idle_exit`, after that long without a job. `name` is written on the jobs it
    /// takes.
    ///
    /// # Errors
    /// [`QueueError::Db`] when the server is lost (the job held is claimed again by
    /// another worker once its lease runs out).
    pub fn work(
        &self,
        name: &str,
        idle_exit: Option<Duration>,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<WorkerStats, QueueError> {
        let mut c = connect(&self.url)?;
        c.batch_execute(&format!("LISTEN {JOBS_CHANNEL}"))
            .map_err(|e| self.db("listen", e))?;
        // The lease of the job held is renewed on a connection and thread of its own,
        // so the backtest runs on this thread: a thread per job cost 10 ms a job here.
        let mut renewer = connect(&self.url)?;
        let held: Mutex<Option<Held>> = Mutex::new(None);
        let over = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| self.renew(&mut renewer, name, &held, &over));
            let r = self.serve(&mut c, name, idle_exit, stop, &held);
            over.store(true, std::sync::atomic::Ordering::Relaxed);
            r
        })
    }

    /// Renews the lease of the job held (a third of the lease after each renewal),
    /// until `over`.
    fn renew(
        &self,
        c: &mut Client,
        name: &str,
        held: &Mutex<Option<Held>>,
        over: &std::sync::atomic::AtomicBool,
    ) {
        while !over.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            let due = {
                let mut h = held.lock().unwrap_or_else(|p| p.into_inner());
                match h.as_mut() {
                    Some(h) if h.renewed.elapsed() >= h.lease / 3 => {
                        h.renewed = Instant::now();
                        Some(h.id)
                    }
                    _ => None,
                }
            };
            let Some(id) = due else { continue };
            let r = c.execute(
                "UPDATE minerva_evolve_jobs j
                 SET lease_until = now() + r.lease_ms * interval '1 millisecond'
                 FROM minerva_evolve_runs r
                 WHERE j.id = $1 AND j.worker = $2 AND j.state = 'running' AND r.id = j.run",
                &[&id, &name],
            );
            if let Err(e) = r {
                // The job may be taken again by another worker: the outcome is the same.
                tracing::warn!(worker = name, job = id, "lease not renewed: {}", detail(&e));
            }
        }
    }

    /// Claims and judges jobs (the body of [`Self::work`]).
    fn serve(
        &self,
        c: &mut Client,
        name: &str,
        idle_exit: Option<Duration>,
        stop: &(dyn Fn() -> bool + Sync),
        held: &Mutex<Option<Held>>,
    ) -> Result<WorkerStats, QueueError> {
        let mut stats = WorkerStats::default();
        let mut refused: Vec<i64> = Vec::new();
        let mut idle_since = Instant::now();
        while !stop() {
            let claimed = c
                .query_opt(
                    "WITH next AS (
                         SELECT j.id FROM minerva_evolve_jobs j
                         JOIN minerva_evolve_runs r ON r.id = j.run
                         WHERE j.state <> 'done'
                           AND (j.state = 'queued' OR j.lease_until < now())
                           AND r.state = 'running'
                           AND r.heartbeat > now() - r.lease_ms * $5 * interval '1 millisecond'
                           AND ($2::bigint IS NULL OR j.run = $2)
                           AND NOT (j.run = ANY($3))
                           AND j.attempts < $4
                         ORDER BY j.id
                         LIMIT 1
                         FOR UPDATE OF j SKIP LOCKED)
                     UPDATE minerva_evolve_jobs j
                     SET state = 'running', worker = $1, attempts = j.attempts + 1,
                         claimed = now(),
                         lease_until = now() + r.lease_ms * interval '1 millisecond'
                     FROM next, minerva_evolve_runs r
                     WHERE j.id = next.id AND r.id = j.run
                     RETURNING j.id, j.run, j.genes, j.from_ns, j.to_ns, r.lease_ms",
                    &[
                        &name,
                        &self.only_run,
                        &refused,
                        &MAX_ATTEMPTS,
                        &COORDINATOR_LEASES,
                    ],
                )
                .map_err(|e| self.db("claim a job", e))?;
            let Some(row) = claimed else {
                if idle_exit.is_some_and(|d| idle_since.elapsed() >= d) {
                    break;
                }
                // Woken by a coordinator's new jobs, or after a second to look again
                // (a lease may have run out meanwhile).
                wait(c, Duration::from_secs(1)).map_err(|e| self.db("wait", e))?;
                continue;
            };
            let (id, run): (i64, i64) = (row.get(0), row.get(1));
            let (genes, from_ns, to_ns): (String, i64, i64) = (row.get(2), row.get(3), row.get(4));
            let lease = Duration::from_millis(row.get::<_, i64>(5).max(1) as u64);
            let loaded = match self.load(c, run)? {
                Ok(l) => l,
                Err(_) => {
                    // Given back untouched (the attempt not counted) for a worker that
                    // can serve it; this one no longer asks for the run.
                    c.execute(
                        "UPDATE minerva_evolve_jobs SET state = 'queued', worker = NULL,
                             attempts = attempts - 1, lease_until = NULL
                         WHERE id = $1 AND worker = $2",
                        &[&id, &name],
                    )
                    .map_err(|e| self.db("give a job back", e))?;
                    refused.push(run);
                    stats.refused_runs += 1;
                    continue;
                }
            };
            let window = Window {
                from_ns: from_ns as u64,
                to_ns: to_ns as u64,
            };
            *held.lock().unwrap_or_else(|p| p.into_inner()) = Some(Held {
                id,
                lease,
                renewed: Instant::now(),
            });
            let outcome = judge(&loaded, &genes, window, (run, id));
            *held.lock().unwrap_or_else(|p| p.into_inner()) = None;
            let outcome = outcome?;
            let (fitness, trades, net_pnl, dd, error) = match &outcome {
                Ok(o) => (
                    Some(o.fitness),
                    Some(o.trades as i64),
                    Some(o.net_pnl),
                    Some(o.max_drawdown),
                    None,
                ),
                Err(e) => (None, None, None, None, Some(e.as_str())),
            };
            // The first answer stands (a job taken again after its lease ran out
            // gives the same outcome anyway).
            c.execute(
                "UPDATE minerva_evolve_jobs SET state = 'done', done = now(), worker = $2,
                     fitness = $3, trades = $4, net_pnl = $5, max_drawdown = $6, error = $7
                 WHERE id = $1 AND state <> 'done'",
                &[&id, &name, &fitness, &trades, &net_pnl, &dd, &error],
            )
            .and_then(|_| c.batch_execute(&format!("NOTIFY {DONE_CHANNEL}")))
            .map_err(|e| self.db("write an outcome", e))?;
            stats.jobs += 1;
            idle_since = Instant::now();
        }
        Ok(stats)
    }
}

/// The job a worker holds, for the renewing thread.
struct Held {
    id: i64,
    lease: Duration,
    renewed: Instant,
}

/// Backtests one job. A panic in the backtest is the job's outcome (an error), not the
/// worker's end.
fn judge(
    loaded: &Loaded,
    genes: &str,
    window: Window,
    (run, id): (i64, i64),
) -> Result<Result<Outcome, String>, QueueError> {
    let genes: Vec<(String, String)> = match sonic_rs::from_str(genes) {
        Ok(g) => g,
        Err(e) => return Ok(Err(format!("job {id}: its genes do not read: {e}"))),
    };
    let study = loaded
        .spec
        .study(loaded.markets.iter().map(|(t, s)| (t, s)).collect())
        .map_err(|source| QueueError::Study { run, source })?;
    let pairs: Vec<(&str, String)> = genes.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        study.evaluate(&pairs, window)
    }));
    Ok(outcome.unwrap_or_else(|_| Err(format!("job {id}: the backtest panicked"))))
}
