//! Binance's signed requests (SPOT-REST / UM-GEN "SIGNED endpoint security"): the
//! payload is the query string and the form body concatenated as sent; `signature` =
//! lowercase hex HMAC-SHA256(secret, payload), appended as the last parameter; the key
//! travels in `X-MBX-APIKEY`; `timestamp` must be within `recvWindow` of the server's
//! clock (at most 1 s ahead).
//!
//! Both ends are here: the signer the trader and the live link use, and
//! [`authenticate`], the one check the local exchange makes of every signed request.

use super::errors::Code;
use super::keys::ApiKeys;
use super::params::{ParamError, Params, split_signature};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signed request bytes (parameters and signature), in a fixed buffer.
pub type Request = crate::venues::WireRequest;

/// `recvWindow` Binance assumes when none is sent, ms.
pub const DEFAULT_RECV_WINDOW_MS: u32 = 5_000;

/// A keyed HMAC-SHA256, prepared once; signing clones the keyed state (no allocation).
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
}

impl Signer {
    /// A signer for `keys`' secret.
    pub fn new(keys: &ApiKeys) -> Self {
        Self::from_secret(keys.secret())
    }

    pub(crate) fn from_secret(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
        Self { mac }
    }

    /// Lowercase hex HMAC-SHA256 of `payload`.
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn sign(&self, payload: &[u8]) -> [u8; 64] {
        let mut m = self.mac.clone();
        m.update(payload);
        let d = m.finalize().into_bytes();
        let mut hex = [0u8; 64];
        const H: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in d.iter().enumerate() {
            hex[2 * i] = H[(b >> 4) as usize];
            hex[2 * i + 1] = H[(b & 15) as usize];
        }
        hex
    }

    /// `params` with `recvWindow`, `timestamp` and the signature appended (the live
    /// link's own queries). Cold.
    pub fn sign_query(&self, params: &str, recv_window_ms: u32, timestamp_ms: i64) -> String {
        let mut s = if params.is_empty() {
            String::new()
        } else {
            format!("{params}&")
        };
        s.push_str(&format!(
            "recvWindow={recv_window_ms}&timestamp={timestamp_ms}"
        ));
        let sig = self.sign(s.as_bytes());
        s.push_str("&signature=");
        s.push_str(std::str::from_utf8(&sig).unwrap_or_default());
        s
    }
}

/// A signed request as it reached the server.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// `X-MBX-APIKEY`, when sent.
    pub api_key: Option<&'a str>,
    /// The query string, as sent.
    pub query: &'a str,
    /// The form body, as sent.
    pub body: &'a str,
}

/// Why a signed request is refused before it is read: the HTTP status, Binance's
/// code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {msg}")]
pub struct AuthError {
    /// HTTP status (401 for key problems, 400 otherwise).
    pub status: u16,
    /// Binance's code.
    pub code: Code,
    /// Binance's message.
    pub msg: String,
}

impl AuthError {
    fn new(status: u16, code: Code, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
        }
    }

    /// A mandatory parameter is missing.
    pub fn missing(name: &str) -> Self {
        Self::new(
            400,
            Code::MandatoryParamMissing,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }
}

impl From<ParamError> for AuthError {
    fn from(e: ParamError) -> Self {
        Self::new(400, Code::TooManyParameters, e.to_string())
    }
}

/// Checks a keyed request's API key only (listen-key endpoints are keyed, not
/// signed).
///
/// # Errors
/// -2014 without a key, -2015 with another key.
pub fn check_key(req: &Incoming<'_>, account_key: &str) -> Result<(), AuthError> {
    match req.api_key {
        None => Err(AuthError::new(
            401,
            Code::BadApiKeyFormat,
            "API-key format invalid.",
        )),
        Some(k) if k != account_key => Err(AuthError::new(
            401,
            Code::RejectedMbxKey,
            "Invalid API-key, IP, or permissions for action.",
        )),
        Some(_) => Ok(()),
    }
}

/// The checks of every signed request, in Binance's order: the key, the signature
/// over the query string and body as sent, the parameters (each at most once), the
/// timestamp against the server clock `server_ms` and `recvWindow`. Returns the
/// decoded parameters.
///
/// # Errors
/// [`AuthError`] with Binance's status, code and message.
pub fn authenticate(
    signer: &Signer,
    account_key: &str,
    req: &Incoming<'_>,
    server_ms: i64,
) -> Result<Params, AuthError> {
    check_key(req, account_key)?;
    let (q, q_sig) = split_signature(req.query);
    let (b, b_sig) = split_signature(req.body);
    let Some(sig) = b_sig.or(q_sig) else {
        return Err(AuthError::missing("signature"));
    };
    // Binance signs the query string and the body concatenated as they are.
    let mut payload = q.clone();
    payload.push_str(&b);
    let good = signer.sign(payload.as_bytes());
    if !sig.as_bytes().eq_ignore_ascii_case(&good) {
        return Err(AuthError::new(
            400,
            Code::InvalidSignature,
            "Signature for this request is not valid.",
        ));
    }
    let params = Params::parse(&q, &b)?;
    let Some(ts) = params.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(AuthError::missing("timestamp"));
    };
    let window = match params.get("recvWindow").map(str::parse::<i64>) {
        None => DEFAULT_RECV_WINDOW_MS as i64,
        Some(Ok(w)) if (0..=60_000).contains(&w) => w,
        Some(_) => {
            return Err(AuthError::new(
                400,
                Code::BadRecvWindow,
                "recvWindow must be less than 60000",
            ));
        }
    };
    if ts > server_ms.saturating_add(1_000) {
        return Err(AuthError::new(
            400,
            Code::InvalidTimestamp,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if server_ms.saturating_sub(ts) > window {
        return Err(AuthError::new(
            400,
            Code::InvalidTimestamp,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's published vectors (docs/binance-protocol.md §9).
    #[test]
    fn published_signature_vectors() {
        let spot = Signer::from_secret(
            b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
        );
        let payload = b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            &spot.sign(payload),
            b"c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        let um = Signer::from_secret(
            b"2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9",
        );
        let payload = b"symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
        assert_eq!(
            &um.sign(payload),
            b"3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
        );
    }

    #[test]
    fn authentication_in_binances_order() {
        let s = Signer::from_secret(b"secret");
        let q = s.sign_query("symbol=BTCUSDT", 5_000, 1_000_000);
        let ok = Incoming {
            api_key: Some("key"),
            query: &q,
            body: "",
        };
        let p = authenticate(&s, "key", &ok, 1_000_500).unwrap();
        assert_eq!(p.get("symbol"), Some("BTCUSDT"));
        let code = |r: Result<Params, AuthError>| r.unwrap_err().code;
        assert_eq!(
            code(authenticate(
                &s,
                "key",
                &Incoming {
                    api_key: None,
                    ..ok
                },
                1_000_500
            )),
            Code::BadApiKeyFormat
        );
        assert_eq!(
            code(authenticate(&s, "other", &ok, 1_000_500)),
            Code::RejectedMbxKey
        );
        assert_eq!(
            code(authenticate(
                &Signer::from_secret(b"x"),
                "key",
                &ok,
                1_000_500
            )),
            Code::InvalidSignature
        );
        assert_eq!(
            code(authenticate(&s, "key", &ok, 1_006_001)),
            Code::InvalidTimestamp
        );
        assert_eq!(
            code(authenticate(&s, "key", &ok, 998_000)),
            Code::InvalidTimestamp
        );
        // Query and body signed as sent, concatenated with no separator.
        let q = "symbol=BTCUSDT";
        let b = "side=BUY&recvWindow=5000&timestamp=1000000";
        let sig = s.sign(format!("{q}{b}").as_bytes());
        let body = format!("{b}&signature={}", std::str::from_utf8(&sig).unwrap());
        let split = Incoming {
            api_key: Some("key"),
            query: q,
            body: &body,
        };
        let p = authenticate(&s, "key", &split, 1_000_000).unwrap();
        assert_eq!(
            (p.get("symbol"), p.get("side")),
            (Some("BTCUSDT"), Some("BUY"))
        );
        let dup = s.sign_query("side=BUY&side=SELL", 5_000, 1_000_000);
        let dup = Incoming {
            api_key: Some("key"),
            query: &dup,
            body: "",
        };
        assert_eq!(
            code(authenticate(&s, "key", &dup, 1_000_000)),
            Code::TooManyParameters
        );
        let overflow = s.sign_query("", 5_000, i64::MIN);
        let overflow = Incoming {
            api_key: Some("key"),
            query: &overflow,
            body: "",
        };
        assert_eq!(
            code(authenticate(&s, "key", &overflow, 1_000_000)),
            Code::InvalidTimestamp
        );
    }
}
