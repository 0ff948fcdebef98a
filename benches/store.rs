//! Sustained insert rate into a recording database: the spot sample's lines, in the
//! recorder's transactions of 20,000, into a fresh SQLite file (WAL). Issue 8's target:
//! at least 200,000 lines per second on this machine.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use minerva::store::{Row, Store, stream_of};

fn insert(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/hftbacktest/spot");
    let files = [
        root.join("btcusdt_20240808.gz"),
        root.join("btcusdt_20240809.gz"),
    ];
    let rows: Vec<Row> = minerva::replay::input::recorded_frames(&files)
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
    g.bench_function("insert_spot_sample_batches_of_20000", |b| {
        b.iter(|| {
            k += 1;
            let db = dir.join(format!("b{k}.db"));
            let mut s = Store::open(&db).unwrap();
            // A fresh database's first session is 1, as the rows say.
            assert_eq!(s.begin_session("bench").unwrap(), 1);
            for chunk in rows.chunks(20_000) {
                s.append(chunk).unwrap();
            }
            drop(s);
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
            }
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, insert);
criterion_main!(benches);
