//! A `minerva peaks` request line (the seed's SciPy `find_peaks` call as JSON):
//! `{"y":[..],"height":h,"threshold":t,"distance":d,"prominence":p,"wlen":w}`, where a
//! bound is a number (a minimum) or `[min, max]` with either end `null`. The one reader
//! of that format: the command and its fuzz target use it. Cold path.

use super::peaks::{Interval, PeakParams};
use serde::Deserialize;

/// A bound as SciPy takes it: a number is a minimum, `[min, max]` a range with either
/// end `null`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Bound {
    Min(f64),
    Range([Option<f64>; 2]),
}

impl Bound {
    fn interval(self) -> Interval<f64> {
        match self {
            Bound::Min(m) => Interval::at_least(m),
            Bound::Range([min, max]) => Interval { min, max },
        }
    }

    fn finite(&self) -> bool {
        match self {
            Bound::Min(m) => m.is_finite(),
            Bound::Range(r) => r.iter().flatten().all(|v| v.is_finite()),
        }
    }
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    y: Vec<f64>,
    height: Option<Bound>,
    threshold: Option<Bound>,
    distance: Option<f64>,
    prominence: Option<Bound>,
    wlen: Option<f64>,
}

/// Why a request line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not a request object.
    #[error("not a request object: {0}")]
    Json(String),
    /// A value that is not a finite number.
    #[error("`{0}` must hold finite numbers")]
    NotFinite(&'static str),
}

/// A request read: the signal and the search's conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakRequest {
    /// The signal.
    pub y: Vec<f64>,
    /// The conditions.
    pub params: PeakParams<f64>,
}

/// Reads one request line.
///
/// # Errors
/// [`RequestError`] for text that is not a request, or a value that is not finite.
pub fn parse(line: &str) -> Result<PeakRequest, RequestError> {
    let r: Line = sonic_rs::from_str(line).map_err(|e| RequestError::Json(e.to_string()))?;
    if !r.y.iter().all(|v| v.is_finite()) {
        return Err(RequestError::NotFinite("y"));
    }
    for (k, b) in [
        ("height", &r.height),
        ("threshold", &r.threshold),
        ("prominence", &r.prominence),
    ] {
        if b.as_ref().is_some_and(|b| !b.finite()) {
            return Err(RequestError::NotFinite(k));
        }
    }
    for (k, v) in [("distance", r.distance), ("wlen", r.wlen)] {
        if v.is_some_and(|v| !v.is_finite()) {
            return Err(RequestError::NotFinite(k));
        }
    }
    Ok(PeakRequest {
        y: r.y,
        params: PeakParams {
            height: r.height.map(Bound::interval),
            threshold: r.threshold.map(Bound::interval),
            distance: r.distance,
            prominence: r.prominence.map(Bound::interval),
            wlen: r.wlen,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_read_as_scipy_takes_them() {
        let r = parse(r#"{"y":[0,2,0],"height":1,"threshold":[null,5],"distance":1}"#).unwrap();
        assert_eq!(r.params.height, Some(Interval::at_least(1.0)));
        assert_eq!(
            r.params.threshold,
            Some(Interval {
                min: None,
                max: Some(5.0)
            })
        );
        assert_eq!(
            parse("[1]").unwrap_err().to_string().split(':').next(),
            Some("not a request object")
        );
        assert!(parse(r#"{"y":[1e400]}"#).is_err());
    }
}
