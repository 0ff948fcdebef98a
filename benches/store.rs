//! Sustained insert rate into a recording database: the spot sample's lines, in the
//! recorder's transactions of 20,000, into a fresh SQLite file (WAL). Issue 8's target:
//! at least 200,000 lines per second on this machine. The same into PostgreSQL (binary
//! COPY) when `MINERVA_TEST_POSTGRES` names a server.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use minerva::store::postgres::PgStore;
use minerva::store::{NewSession, Row, Sink, SqliteStore, stream_of};

fn insert(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/hftbacktest/spot");
    let files = [
        root.join("btcusdt_20240808.gz"),
        root.join("btcusdt_20240809.gz"),
    ];
    let rows: Vec<Row> = minerva::store::files::recorded_frames(&files)
        .unwrap()
        .into_iter()
        .map(|(json, ns)| {
            let mut line = ns.to_string().into_bytes();
            line.push(b' ');
            line.extend_from_slice(&json);
            Row {
                session: 1,
                recv_ns: ns as i64,
                stream: stream_of(&json),
                conn: 1,
                line,
            }
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("minerva-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.sample_size(10);
    let mut k = 0;
    // Each pass a fresh database whose first session is 1, as the rows say.
    let fill = |s: &mut dyn Sink| {
        let id = s
            .begin_session(&NewSession {
                source: "bench",
                ..NewSession::default()
            })
            .unwrap();
        assert_eq!(id, 1);
        for chunk in rows.chunks(20_000) {
            s.append(chunk, &[]).unwrap();
        }
    };
    g.bench_function("insert_spot_sample_batches_of_20000", |b| {
        b.iter(|| {
            k += 1;
            let db = dir.join(format!("b{k}.db"));
            fill(&mut SqliteStore::open(&db).unwrap());
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
            }
        })
    });
    // PostgreSQL by binary COPY, when a server is given (.ci/postgres starts one).
    if let Ok(url) = std::env::var("MINERVA_TEST_POSTGRES") {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let base = url
            .rsplit_once('/')
            .map_or(url.as_str(), |(b, _)| b)
            .to_string();
        let mut made = Vec::new();
        g.bench_function("insert_spot_sample_batches_of_20000_postgres", |b| {
            // A fresh database per pass, made outside the timing.
            b.iter_batched(
                || {
                    k += 1;
                    let name = format!("minerva_bench_{}_{k}", std::process::id());
                    admin
                        .batch_execute(&format!("CREATE DATABASE {name}"))
                        .unwrap();
                    made.push(name.clone());
                    PgStore::connect(&format!("{base}/{name}")).unwrap()
                },
                |mut store| fill(&mut store),
                BatchSize::PerIteration,
            )
        });
        for name in made {
            let _ = admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"));
        }
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, insert);
criterion_main!(benches);
