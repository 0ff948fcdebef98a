//! API keys, from the environment only; never logged, printed or written anywhere.

use std::fmt;

/// The HTTP header that carries the API key on every keyed request.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";

/// Environment variable holding the API key.
pub const API_KEY_VAR: &str = "MINERVA_BINANCE_API_KEY";
/// Environment variable holding the API secret.
pub const API_SECRET_VAR: &str = "MINERVA_BINANCE_API_SECRET";
/// Testnet's key, never the live one's variable: a testnet run cannot pick up live
/// keys by accident (and the reverse).
pub const TESTNET_API_KEY_VAR: &str = "MINERVA_BINANCE_TESTNET_API_KEY";
/// Testnet's secret.
pub const TESTNET_API_SECRET_VAR: &str = "MINERVA_BINANCE_TESTNET_API_SECRET";
/// The names keys are read from, in order: the documented pair, then the seed's
/// (`BINANCE_API_KEY`/`BINANCE_API_SECRET` and `binance_api`/`binance_secret`). A key
/// is always paired with its own family's secret.
pub const KEY_FAMILIES: [(&str, &str); 3] = [
    (API_KEY_VAR, API_SECRET_VAR),
    ("BINANCE_API_KEY", "BINANCE_API_SECRET"),
    ("binance_api", "binance_secret"),
];

pub use crate::venues::keys::KeyError;

/// An API key and secret. `Debug` shows neither; the secret is wiped on drop.
pub struct ApiKeys {
    key: String,
    secret: Vec<u8>,
}

impl ApiKeys {
    /// Reads [`API_KEY_VAR`] and [`API_SECRET_VAR`].
    ///
    /// # Errors
    /// [`KeyError`] naming the variable that is missing or malformed (never its value).
    pub fn from_env() -> Result<Self, KeyError> {
        let (key, secret) = crate::venues::keys::key_pair(&KEY_FAMILIES)?;
        Ok(Self::new(key, secret.into_bytes()))
    }

    /// Reads the first family of `families` whose key is set (`--key-env`, testnet's
    /// names, or [`KEY_FAMILIES`]).
    ///
    /// # Errors
    /// [`KeyError`] naming the variable that is missing or malformed (never its value).
    pub fn from_vars(families: &[(&'static str, &'static str)]) -> Result<Self, KeyError> {
        let (key, secret) = crate::venues::keys::key_pair(families)?;
        Ok(Self::new(key, secret.into_bytes()))
    }

    /// Keys given directly (tests, the documented paper-mode dummy key).
    pub fn new(key: String, secret: Vec<u8>) -> Self {
        Self { key, secret }
    }

    /// The documented dummy pair (`minerva-paper` / `minerva-paper-secret`): paper
    /// trading signs with it, and `minerva exchange` accepts it when no keys are in
    /// the environment. Not a secret; never valid on Binance.
    pub fn paper() -> Self {
        Self::new("minerva-paper".into(), b"minerva-paper-secret".to_vec())
    }

    /// The environment's keys, or [`ApiKeys::paper`] when there are none; true when
    /// they came from the environment.
    pub fn from_env_or_paper() -> (Self, bool) {
        Self::from_vars_or_paper(&KEY_FAMILIES)
    }

    /// [`Self::from_vars`], or [`ApiKeys::paper`] when none of `families` is set; true
    /// when they came from the environment.
    pub fn from_vars_or_paper(families: &[(&'static str, &'static str)]) -> (Self, bool) {
        match Self::from_vars(families) {
            Ok(k) => (k, true),
            Err(_) => (Self::paper(), false),
        }
    }

    /// The API key, for the `X-MBX-APIKEY` header.
    pub fn api_key(&self) -> &str {
        &self.key
    }

    /// The secret, for the signer only.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeys { key: <redacted>, secret: <redacted> }")
    }
}

impl Drop for ApiKeys {
    fn drop(&mut self) {
        crate::venues::keys::wipe(&mut self.secret);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_keys() {
        let k = ApiKeys::new("visible-key".into(), b"top-secret".to_vec());
        let d = format!("{k:?}");
        assert!(
            !d.contains("visible-key") && !d.contains("top-secret"),
            "{d}"
        );
    }
}
