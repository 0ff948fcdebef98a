//! Faults a local exchange injects on request (`minerva exchange --fault`), so the
//! recovery of clients (Minerva's own, third-party libraries) is tested: dropped
//! sessions, gaps, malformed and stalled streams, refused signatures, unknown
//! execution status, a clock step. Venue-agnostic: each venue's server decides what
//! a fault looks like in its protocol.

/// Faults a local exchange injects, each every N published messages or signed
/// requests (tests of clients' recovery).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Close every stream session (clients must reconnect and resync).
    pub drop_every: Option<u64>,
    /// Leave out a depth diff (an update id gap: clients must resync).
    pub skip_depth_every: Option<u64>,
    /// Send a truncated JSON message before the real one.
    pub malformed_every: Option<u64>,
    /// Every N published messages, stop publishing for the given ms (the streams go
    /// silent while the sessions stay open).
    pub stall: Option<(u64, u64)>,
    /// Answer a signed request -1022 (bad signature) without executing it.
    pub bad_signature_every: Option<u64>,
    /// Execute an order or cancel request, then answer 503 "execution status unknown"
    /// (clients must query, not resend blindly).
    pub unknown_status_every: Option<u64>,
    /// Every N published messages, end the account's private sessions (Binance's
    /// user data streams, KuCoin's private ones) and refuse new ones (503) for the
    /// given ms: clients must hold what they cannot hear and poll.
    pub user_outage: Option<(u64, u64)>,
    /// Every N-th new order is answered 503 "execution status unknown" at once and
    /// reaches the engine the given ms later, its `recvWindow` checked then (as
    /// Binance's engine does, -5028): until that window closes, a query that cannot
    /// find the order does not mean it will never be.
    pub late_order: Option<(u64, u64)>,
    /// Shift the server clock (`time`, signed requests' checks, user events) by this
    /// many ms (negative: behind), from the first signed request on.
    pub clock_shift_ms: i64,
}

impl Faults {
    /// Parses `drop=N,skip-depth=N,malformed=N,stall=N:MS,bad-signature` `=N,
    /// unknown-status=N,user-outage=N:MS,late-order=N:MS,clock-shift=±MS` (any
    /// subset).
    ///
    /// # Errors
    /// A message naming the part that could not be read.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut f = Faults::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("fault `{part}`: expected NAME=N"))?;
            if k == "stall" || k == "user-outage" || k == "late-order" {
                let parsed = v
                    .split_once(':')
                    .and_then(|(n, ms)| Some((n.parse::<u64>().ok()?, ms.parse::<u64>().ok()?)))
                    .filter(|(n, _)| *n > 0);
                let Some(every) = parsed else {
                    return Err(format!("fault `{part}`: expected {k}=N:MS"));
                };
                match k {
                    "stall" => f.stall = Some(every),
                    "user-outage" => f.user_outage = Some(every),
                    _ => f.late_order = Some(every),
                }
                continue;
            }
            if k == "clock-shift" {
                f.clock_shift_ms = v
                    .parse()
                    .map_err(|_| format!("fault `{part}`: expected a shift in ms (±N)"))?;
                continue;
            }
            let n: u64 = v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("fault `{part}`: N must be a positive count"))?;
            match k {
                "drop" => f.drop_every = Some(n),
                "skip-depth" => f.skip_depth_every = Some(n),
                "malformed" => f.malformed_every = Some(n),
                "bad-signature" => f.bad_signature_every = Some(n),
                "unknown-status" => f.unknown_status_every = Some(n),
                _ => {
                    return Err(format!(
                        "fault `{k}`: expected drop, skip-depth, malformed, stall, bad-signature, unknown-status, user-outage, late-order or clock-shift"
                    ));
                }
            }
        }
        Ok(f)
    }
}

/// What the faults do to the `n`-th published message (1-based).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    /// Leave it out (only depth updates are left out: a gap).
    pub skip: bool,
    /// Publish nothing for this long first.
    pub stall_ms: Option<u64>,
    /// Close every market session first.
    pub drop: bool,
    /// Send the first half of it before it.
    pub malformed: bool,
    /// End the private sessions and refuse new ones for this long.
    pub user_outage_ms: Option<u64>,
}

impl Faults {
    /// Whether the `n`-th depth update published is left out (`skip-depth`).
    pub fn skips_depth(&self, n: u64) -> bool {
        self.skip_depth_every.is_some_and(|e| n % e == 0)
    }

    /// The faults due at the `n`-th published message, a depth update or not.
    pub fn at(&self, n: u64, depth: bool) -> Injected {
        let every = |e: Option<u64>| e.is_some_and(|e| n % e == 0);
        Injected {
            skip: depth && self.skips_depth(n),
            stall_ms: self
                .stall
                .and_then(|(every, ms)| (n % every == 0).then_some(ms)),
            drop: every(self.drop_every),
            malformed: every(self.malformed_every),
            user_outage_ms: self
                .user_outage
                .and_then(|(every, ms)| (n % every == 0).then_some(ms)),
        }
    }
}

/// The `user-outage` fault's window: while it holds, the venue refuses to open the
/// account's private sessions.
#[derive(Debug, Default)]
pub struct Outage {
    until_ms: std::sync::atomic::AtomicU64,
}

impl Outage {
    /// Starts (or extends) an outage of `ms` from now.
    pub fn begin(&self, ms: u64) {
        let until = now_ms().saturating_add(ms);
        self.until_ms
            .fetch_max(until, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether an outage holds now.
    pub fn holds(&self) -> bool {
        now_ms() < self.until_ms.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The first half of a message (the malformed fault), cut on a character boundary.
pub fn half(s: &str) -> String {
    let mut at = s.len() / 2;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s[..at].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_with_their_timings_and_refuse_what_does_not_read() {
        let f = Faults::parse(
            "drop=5, stall=7:250,user-outage=40000:1000,clock-shift=-300,late-order=3:40",
        )
        .unwrap();
        assert_eq!(f.drop_every, Some(5));
        assert_eq!(f.late_order, Some((3, 40)));
        assert_eq!(f.stall, Some((7, 250)));
        assert_eq!(f.user_outage, Some((40_000, 1_000)));
        assert_eq!(f.clock_shift_ms, -300);
        assert_eq!(f.at(40_000, false).user_outage_ms, Some(1_000));
        assert_eq!(f.at(39_999, false).user_outage_ms, None);
        for bad in [
            "user-outage=0:5",
            "user-outage=5",
            "late-order=0:5",
            "late-order=4",
            "stall=x:1",
            "drop=0",
            "nope=1",
            "drop",
        ] {
            assert!(Faults::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_outage_holds_for_its_time_only() {
        let o = Outage::default();
        assert!(!o.holds());
        o.begin(60_000);
        assert!(o.holds());
        let o = Outage::default();
        o.begin(0);
        assert!(!o.holds());
    }
}
