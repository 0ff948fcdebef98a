//! KuCoin's signed requests (protocol notes §6, from KuCoin's documentation and its
//! universal SDK's signer): `KC-API-SIGN` = base64(HMAC-SHA256(secret, timestamp +
//! METHOD + endpoint + body)), where the endpoint is the path with its query string,
//! not URL-encoded, and the body the exact bytes sent ("" when none);
//! `KC-API-TIMESTAMP` = the same timestamp (ms); `KC-API-PASSPHRASE` =
//! base64(HMAC-SHA256(secret, passphrase)) for keys of version 2 and 3;
//! `KC-API-KEY-VERSION` = [`KEY_VERSION`].

use super::keys::KucoinKeys;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key version sent (`KC-API-KEY-VERSION`): KuCoin's current keys are version 3,
/// whose passphrase is sent signed, as for version 2.
pub const KEY_VERSION: &str = "3";

/// A base64 HMAC-SHA256: 44 ASCII bytes.
pub type Signature = [u8; 44];

/// A keyed HMAC-SHA256 prepared once, and the signed passphrase; signing clones the
/// keyed state (no allocation).
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
    passphrase: Signature,
    /// The passphrase as chosen (version-1 keys send it plain; the venue's check).
    plain_passphrase: Vec<u8>,
    /// What futures orders carry besides their fields (the link sets them at start).
    terms: std::sync::Arc<super::orders::FuturesTerms>,
}

impl Signer {
    /// A signer for `keys`.
    pub fn new(keys: &KucoinKeys) -> Self {
        Self::from_parts(keys.secret(), keys.passphrase())
    }

    fn from_parts(secret: &[u8], passphrase: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
        let plain_passphrase = passphrase.to_vec();
        let passphrase = base64_mac(&mac, &[passphrase]);
        Self {
            mac,
            passphrase,
            plain_passphrase,
            terms: Default::default(),
        }
    }

    /// This signer writing futures orders on `terms` (shared with the link that
    /// settles them at start).
    pub fn with_terms(mut self, terms: std::sync::Arc<super::orders::FuturesTerms>) -> Self {
        self.terms = terms;
        self
    }

    /// The futures terms orders carry.
    pub fn terms(&self) -> &super::orders::FuturesTerms {
        &self.terms
    }

    /// `KC-API-SIGN` for a request: `timestamp_ms`, `method` (`GET`, `POST`,
    /// `DELETE`), `endpoint` (path and query as sent) and `body` (as sent, or empty).
    ///
    /// # Hot path: no allocation.
    #[inline]
    pub fn sign(&self, timestamp_ms: u64, method: &str, endpoint: &str, body: &[u8]) -> Signature {
        let mut digits = [0u8; 20];
        let ts = crate::core::decimal::u64_digits(timestamp_ms, &mut digits);
        base64_mac(
            &self.mac,
            &[ts, method.as_bytes(), endpoint.as_bytes(), body],
        )
    }

    /// The signature of a request whose timestamp is the text sent (the venue's
    /// check signs what it received).
    fn sign_text(&self, timestamp: &str, method: &str, endpoint: &str, body: &[u8]) -> Signature {
        base64_mac(
            &self.mac,
            &[
                timestamp.as_bytes(),
                method.as_bytes(),
                endpoint.as_bytes(),
                body,
            ],
        )
    }

    /// `KC-API-PASSPHRASE`: the passphrase signed with the secret.
    pub fn passphrase(&self) -> &str {
        // Base64 is ASCII.
        std::str::from_utf8(&self.passphrase).unwrap_or("")
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        crate::venues::keys::wipe(&mut self.plain_passphrase);
    }
}

/// The headers of a signed request (KuCoin's names), for a client to send.
pub fn headers(
    signer: &Signer,
    keys: &KucoinKeys,
    timestamp_ms: u64,
    method: &str,
    endpoint: &str,
    body: &[u8],
) -> [(&'static str, String); 5] {
    let sig = signer.sign(timestamp_ms, method, endpoint, body);
    [
        ("KC-API-KEY", keys.api_key().to_string()),
        (
            "KC-API-SIGN",
            std::str::from_utf8(&sig).unwrap_or("").to_string(),
        ),
        ("KC-API-TIMESTAMP", timestamp_ms.to_string()),
        ("KC-API-PASSPHRASE", signer.passphrase().to_string()),
        ("KC-API-KEY-VERSION", KEY_VERSION.to_string()),
    ]
}

/// How far a request's timestamp may be from the server's clock (§6: more is
/// refused 400002).
pub const MAX_SKEW_MS: u64 = 5_000;

/// Why a signed request is refused: KuCoin's code and message (HTTP 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRefusal {
    /// KuCoin's code (400001…400005).
    pub code: &'static str,
    /// Its message.
    pub msg: &'static str,
}

/// The checks KuCoin makes of a signed request, in its order: the headers present,
/// the timestamp within [`MAX_SKEW_MS`] of `server_ms`, the key, the passphrase
/// (signed for key versions 2 and 3, plain for 1), the signature over timestamp,
/// method, endpoint (path and query as sent) and body. The venue's side (the local
/// KuCoin venue).
///
/// # Errors
/// [`AuthRefusal`] with KuCoin's code.
pub fn verify<'a>(
    signer: &Signer,
    account_key: &str,
    header: impl Fn(&str) -> Option<&'a str>,
    method: &str,
    endpoint: &str,
    body: &[u8],
    server_ms: u64,
) -> Result<(), AuthRefusal> {
    let (Some(key), Some(sig), Some(ts), Some(pass)) = (
        header("KC-API-KEY"),
        header("KC-API-SIGN"),
        header("KC-API-TIMESTAMP"),
        header("KC-API-PASSPHRASE"),
    ) else {
        return Err(AuthRefusal {
            code: "400001",
            msg: "Please check the header of your request for KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE",
        });
    };
    let skew_ok = ts
        .parse::<u64>()
        .is_ok_and(|t| t.abs_diff(server_ms) <= MAX_SKEW_MS);
    if !skew_ok {
        return Err(AuthRefusal {
            code: "400002",
            msg: "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 seconds",
        });
    }
    if key != account_key {
        return Err(AuthRefusal {
            code: "400003",
            msg: "KC-API-KEY not exists",
        });
    }
    let signed_pass = !matches!(header("KC-API-KEY-VERSION"), None | Some("1"));
    let pass_ok = if signed_pass {
        equal(pass.as_bytes(), &signer.passphrase)
    } else {
        equal(pass.as_bytes(), &signer.plain_passphrase)
    };
    if !pass_ok {
        return Err(AuthRefusal {
            code: "400004",
            msg: "Invalid KC-API-PASSPHRASE",
        });
    }
    let expected = signer.sign_text(ts, method, endpoint, body);
    if !equal(sig.as_bytes(), &expected) {
        return Err(AuthRefusal {
            code: "400005",
            msg: "Signature verification failed",
        });
    }
    Ok(())
}

/// Compares in time independent of where the first difference is.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// base64(HMAC-SHA256) of the concatenated `parts`, into a fixed buffer.
fn base64_mac(mac: &Hmac<Sha256>, parts: &[&[u8]]) -> Signature {
    let mut m = mac.clone();
    for p in parts {
        m.update(p);
    }
    let digest = m.finalize().into_bytes();
    let mut out = [0u8; 44];
    // 32 bytes always encode to 44 with padding: the buffer fits.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// KuCoin's universal SDK's published signer vector
    /// (`internal/infra/test_default_signer.py`: key `test_api_secret`, message
    /// `test_plain`), and two computed independently (Python's `hmac` and `openssl
    /// dgst -sha256 -hmac`, protocol notes §6) with the same secret.
    #[test]
    fn signatures_match_the_published_and_independent_vectors() {
        let s = Signer::from_parts(b"test_api_secret", b"test_passphrase");
        let plain = base64_mac(&s.mac, &[b"test_plain"]);
        assert_eq!(
            std::str::from_utf8(&plain).unwrap(),
            "jie/gxS38wLFFaBwl/cAzFbAzlI8MIny96jSXrB+iP4="
        );
        assert_eq!(
            s.passphrase(),
            "Ikr9KjwgA4urCb5Az1TNKgQELW10z84iOq+wsZsRRz0="
        );
        let sig = s.sign(
            1_234_567_890_000,
            "GET",
            "/api/v1/hf/orders/client-order/mnv-1?symbol=BTC-USDT",
            b"",
        );
        assert_eq!(
            std::str::from_utf8(&sig).unwrap(),
            "+NBdJR/dx2R76VF6EDPE/V6Y8q5dFx6WKX9i+gUk2k0="
        );
    }

    #[test]
    fn the_body_and_every_prefix_part_are_signed() {
        let s = Signer::from_parts(b"k", b"p");
        let a = s.sign(1, "POST", "/api/v1/hf/orders", br#"{"size":"1"}"#);
        assert_ne!(
            a,
            s.sign(1, "POST", "/api/v1/hf/orders", br#"{"size":"2"}"#)
        );
        assert_ne!(
            a,
            s.sign(2, "POST", "/api/v1/hf/orders", br#"{"size":"1"}"#)
        );
        assert_ne!(a, s.sign(1, "GET", "/api/v1/hf/orders", br#"{"size":"1"}"#));
    }

    #[test]
    fn the_venue_accepts_what_the_client_signs_and_refuses_each_fault() {
        let keys = KucoinKeys::new("k1".into(), b"secret".to_vec(), b"pass".to_vec());
        let s = Signer::new(&keys);
        let ep = "/api/v3/market/orderbook/level2?symbol=BTC-USDT";
        let h = headers(&s, &keys, 1_700_000_000_000, "GET", ep, b"");
        let get = |h: &[(&'static str, String)], name: &str| -> Option<String> {
            h.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        };
        let check = |h: &[(&'static str, String)], now: u64, body: &[u8]| {
            let owned: Vec<(&str, String)> = h.to_vec();
            verify(
                &s,
                "k1",
                |n| owned.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str()),
                "GET",
                ep,
                body,
                now,
            )
            .map_err(|r| r.code)
        };
        assert_eq!(check(&h, 1_700_000_004_000, b""), Ok(()));
        assert_eq!(check(&h, 1_700_000_006_000, b""), Err("400002"));
        assert_eq!(check(&h, 1_700_000_000_000, b"x"), Err("400005"));
        assert_eq!(check(&h[1..], 1_700_000_000_000, b""), Err("400001"));
        let mut other = h.clone();
        other[0].1 = "k2".into();
        assert_eq!(check(&other, 1_700_000_000_000, b""), Err("400003"));
        let mut bad_pass = h.clone();
        bad_pass[3].1 = "pass".into();
        assert_eq!(check(&bad_pass, 1_700_000_000_000, b""), Err("400004"));
        // Version 1 keys send the passphrase plain.
        bad_pass[4].1 = "1".into();
        assert_eq!(check(&bad_pass, 1_700_000_000_000, b""), Ok(()));
        assert_eq!(get(&h, "KC-API-KEY-VERSION").as_deref(), Some("3"));
    }
}
