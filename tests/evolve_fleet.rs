//! `minerva evolve --fleet postgres://…` with `minerva worker` processes: the fleet finds
//! what one machine finds with the same seed, through a worker killed mid-run and a job
//! abandoned with its lease held. Needs a PostgreSQL server:
//! `MINERVA_TEST_POSTGRES=postgres://user@127.0.0.1:PORT/db` (`.ci/run` starts one).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn minerva() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_minerva"));
    c.current_dir(root());
    c
}

/// The shipped spot session, the strategy and a small search.
const SEARCH: [&str; 16] = [
    "evolve",
    "sample/hftbacktest/spot/btcusdt_20240808.gz",
    "sample/hftbacktest/spot/btcusdt_20240809.gz",
    "--exchange-info",
    "sample/exchange_info_spot_btcusdt.json",
    "--strategy",
    "strategy_0.toml",
    "--population",
    "6",
    "--generations",
    "4",
    "--min-trades",
    "2",
    "--maker-fee",
    "0",
    "--taker-fee",
];

fn db(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// Waits for `child` up to `secs`, killing it (and failing) past that.
fn wait_for(child: &mut Child, secs: u64, what: &str) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("{what} did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `query` (one `bigint` count) until it is positive.
fn until(c: &mut postgres::Client, query: &str, secs: u64, what: &str) {
    let t = Instant::now();
    loop {
        let n: i64 = c.query_one(query, &[]).unwrap().get(0);
        if n > 0 {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{what}: not within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The summary a run prints, from its `evolution:` line up to the file it wrote.
fn summary(stdout: &str) -> String {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("evolution: "))
        .take_while(|l| !l.starts_with("wrote "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_fleet_finds_what_one_machine_finds_through_dead_workers() {
    let Some(url) = common::fresh_postgres_db("fleet") else {
        return;
    };
    let tmp = common::fresh_dir("fleet-same");
    let dir = tmp.path();
    let file = |n: &str| dir.join(n).to_str().unwrap().to_string();

    // One machine.
    let local = minerva()
        .args(SEARCH)
        .args(["0", "--jobs", "1", "--out", &file("local.toml"), "--log"])
        .arg(file("local.csv"))
        .output()
        .unwrap();
    let local_out = String::from_utf8_lossy(&local.stdout).into_owned();
    assert!(
        local.status.success(),
        "{local_out}{}",
        String::from_utf8_lossy(&local.stderr)
    );

    // The fleet: the coordinator publishes, no worker yet.
    let mut coordinator = minerva()
        .args(SEARCH)
        .args([
            "0",
            "--fleet",
            &url,
            "--lease",
            "2s",
            "--out",
            &file("fleet.toml"),
        ])
        .args(["--log", &file("fleet.csv")])
        .stdout(std::fs::File::create(dir.join("coordinator.out")).unwrap())
        .stderr(std::fs::File::create(dir.join("coordinator.err")).unwrap())
        .spawn()
        .unwrap();
    let mut c = db(&url);
    until(
        &mut c,
        "SELECT count(*) FROM pg_tables WHERE tablename = 'minerva_evolve_jobs'",
        60,
        "the coordinator's tables",
    );
    until(
        &mut c,
        "SELECT count(*) FROM minerva_evolve_jobs",
        60,
        "the first generation's jobs",
    );
    // A worker that claims a job and dies at once: its lease is never renewed.
    let abandoned: i64 = c
        .query_one(
            "UPDATE minerva_evolve_jobs SET state = 'running', worker = 'dead', attempts = 1,
                 claimed = now(), lease_until = now() + interval '2 seconds'
             WHERE id = (SELECT min(id) FROM minerva_evolve_jobs) RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    let worker = |name: &str| {
        minerva()
            .args([
                "worker",
                &url,
                "--jobs",
                "1",
                "--idle-exit",
                "4s",
                "--name",
                name,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut a = worker("a");
    let mut b = worker("b");
    // Worker a is killed (SIGKILL) holding a job, once it has answered one.
    until(
        &mut c,
        "SELECT count(*) FROM minerva_evolve_jobs WHERE worker = 'a#0' AND state = 'done'",
        120,
        "worker a's first outcome",
    );
    until(
        &mut c,
        "SELECT count(*) FROM minerva_evolve_jobs WHERE worker = 'a#0' AND state = 'running'",
        120,
        "worker a holding a job",
    );
    a.kill().unwrap();
    let _ = a.wait();
    let held: Option<i64> = c
        .query_one(
            "SELECT max(id) FROM minerva_evolve_jobs WHERE worker = 'a#0' AND state = 'running'",
            &[],
        )
        .unwrap()
        .get(0);

    let status = wait_for(&mut coordinator, 300, "the coordinator");
    let fleet_out = std::fs::read_to_string(dir.join("coordinator.out")).unwrap();
    let fleet_err = std::fs::read_to_string(dir.join("coordinator.err")).unwrap();
    assert!(status.success(), "{fleet_out}{fleet_err}");
    assert!(wait_for(&mut b, 60, "worker b").success());
    let b_out = String::from_utf8_lossy(&b.wait_with_output().unwrap().stdout).into_owned();
    assert!(b_out.contains("jobs judged"), "{b_out}");

    // The same strategy file, the same log (fingerprint line included), the same summary.
    assert_eq!(
        std::fs::read_to_string(file("fleet.toml")).unwrap(),
        std::fs::read_to_string(file("local.toml")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(file("fleet.csv")).unwrap(),
        std::fs::read_to_string(file("local.csv")).unwrap()
    );
    assert_eq!(summary(&fleet_out), summary(&local_out));
    assert!(summary(&local_out).contains("backtests"), "{local_out}");

    // The abandoned job was taken again after its lease ran out, by a live worker.
    let r = c
        .query_one(
            "SELECT state, worker, attempts, error FROM minerva_evolve_jobs WHERE id = $1",
            &[&abandoned],
        )
        .unwrap();
    let (state, by, attempts, error): (String, String, i32, Option<String>) =
        (r.get(0), r.get(1), r.get(2), r.get(3));
    assert_eq!((state.as_str(), error), ("done", None));
    assert!(by == "a#0" || by == "b#0", "{by}");
    assert!(attempts >= 2, "{attempts}");
    // The job worker a held when killed was answered by the other.
    if let Some(id) = held {
        let r = c
            .query_one(
                "SELECT state, worker FROM minerva_evolve_jobs WHERE id = $1",
                &[&id],
            )
            .unwrap();
        assert_eq!(
            (r.get::<_, String>(0), r.get::<_, String>(1)),
            ("done".into(), "b#0".into())
        );
    }
    // No job was given up, both workers answered, and the run is closed.
    let given_up: i64 = c
        .query_one(
            "SELECT count(*) FROM minerva_evolve_jobs WHERE error IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(given_up, 0);
    let workers: i64 = c
        .query_one(
            "SELECT count(DISTINCT worker) FROM minerva_evolve_jobs WHERE state = 'done'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(workers, 2);
    let run: String = c
        .query_one("SELECT state FROM minerva_evolve_runs", &[])
        .unwrap()
        .get(0);
    assert_eq!(run, "done");
}

/// A run published by another version is left for workers of that version: the job
/// stays queued, untouched, and the worker says why.
#[test]
fn a_worker_leaves_a_run_of_another_version_alone() {
    let Some(url) = common::fresh_postgres_db("fleet_version") else {
        return;
    };
    // The tables, as any worker or coordinator makes them.
    minerva::evolve::queue::Worker::connect(&url, None).unwrap();
    let mut c = db(&url);
    let run: i64 = c
        .query_one(
            "INSERT INTO minerva_evolve_runs(version, fingerprint, spec, lease_ms)
             VALUES ('0.0.0-elsewhere', 'x', '{}', 60000) RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    c.execute(
        "INSERT INTO minerva_evolve_jobs(run, generation, slot, genes, from_ns, to_ns)
         VALUES ($1, 0, 0, '[]', 0, 1)",
        &[&run],
    )
    .unwrap();
    let out = minerva()
        .args([
            "worker",
            &url,
            "--jobs",
            "1",
            "--idle-exit",
            "2s",
            "--name",
            "v",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("refused") && err.contains("0.0.0-elsewhere"),
        "{err}"
    );
    let r = c
        .query_one(
            "SELECT state, worker, attempts FROM minerva_evolve_jobs",
            &[],
        )
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "queued");
    assert_eq!(r.get::<_, Option<String>>(1), None);
    assert_eq!(r.get::<_, i32>(2), 0);
}

/// No server: a clear error, no panic, nothing written.
#[test]
fn an_unreachable_queue_is_a_clear_error() {
    let url = "postgres://postgres@127.0.0.1:1/none";
    let out = minerva().args(["worker", url]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("PostgreSQL postgres://postgres@127.0.0.1:1/none: connect"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let tmp = common::fresh_dir("fleet-unreachable");
    let dir = tmp.path();
    let best = dir.join("best.toml");
    let out = minerva()
        .args(SEARCH)
        .args(["0", "--fleet", url, "--out", best.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("connect"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!best.exists());

    // --lease belongs to --fleet.
    let out = minerva()
        .args(SEARCH)
        .args(["0", "--lease", "5s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fleet"));
}
