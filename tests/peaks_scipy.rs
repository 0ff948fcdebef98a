//! The peak finder against `scipy.signal.find_peaks` on the vectors of
//! `tools/gen_peak_vectors.py` (committed in `tests/fixtures/peak_vectors.jsonl`).

use minerva::signal::peaks::{Interval, PeakParams, find_peaks};
use serde_json::Value;

fn interval(v: Option<&Value>) -> Option<Interval<f64>> {
    match v? {
        Value::Null => None,
        Value::Array(a) => Some(Interval {
            min: a[0].as_f64(),
            max: a[1].as_f64(),
        }),
        n => Some(Interval::at_least(n.as_f64().unwrap())),
    }
}

#[test]
fn agrees_with_scipy_on_every_vector() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/peak_vectors.jsonl"
    ))
    .unwrap();
    let (mut exact, mut ties) = (0, 0);
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        let y: Vec<f64> = v["y"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let p = PeakParams {
            height: interval(v.get("height")),
            threshold: interval(v.get("threshold")),
            distance: v.get("distance").and_then(Value::as_f64),
            prominence: interval(v.get("prominence")),
            wlen: v.get("wlen").and_then(Value::as_f64),
        };
        let got = find_peaks(&y, &p).unwrap();
        let want_key = if v["tie_sensitive"] == true {
            "peaks_stable"
        } else {
            "peaks"
        };
        let want: Vec<usize> = v[want_key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(got, want, "vector {i}: {line}");
        if v["tie_sensitive"] == true {
            ties += 1
        } else {
            exact += 1
        }
    }
    assert!(exact >= 2900, "{exact} vectors");
    eprintln!(
        "{exact} vectors equal to SciPy, {ties} tie-sensitive equal to SciPy with a stable sort"
    );
}
