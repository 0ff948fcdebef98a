//! KuCoin API keys: key, secret and passphrase, from the environment only. The
//! documented names come first; the seed's own names (`kucoin_api`, `kucoin_secret`)
//! are accepted as fallbacks.

use crate::venues::keys::{KeyError, first_var, key_pair, wipe};
use std::fmt;

/// The API key: the documented variable, then the seed's.
pub const API_KEY_VARS: [&str; 2] = ["MINERVA_KUCOIN_API_KEY", "kucoin_api"];
/// The API secret: the documented variable, then the seed's.
pub const API_SECRET_VARS: [&str; 2] = ["MINERVA_KUCOIN_API_SECRET", "kucoin_secret"];
/// The passphrase chosen when the key was made (the seed has no name for it).
pub const PASSPHRASE_VARS: [&str; 1] = ["MINERVA_KUCOIN_API_PASSPHRASE"];

/// A KuCoin key, secret and passphrase. `Debug` shows none of them; the secret and
/// the passphrase are wiped on drop.
pub struct KucoinKeys {
    key: String,
    secret: Vec<u8>,
    passphrase: Vec<u8>,
}

impl KucoinKeys {
    /// Reads [`API_KEY_VARS`], [`API_SECRET_VARS`] and [`PASSPHRASE_VARS`].
    ///
    /// # Errors
    /// [`KeyError`] naming the variable that is missing or malformed (never a value).
    pub fn from_env() -> Result<Self, KeyError> {
        // A key is always paired with its own family's secret.
        let families = [
            (API_KEY_VARS[0], API_SECRET_VARS[0]),
            (API_KEY_VARS[1], API_SECRET_VARS[1]),
        ];
        Self::read(&families, &PASSPHRASE_VARS)
    }

    /// The keys in the variables named (`--key-env`, `--secret-env`,
    /// `--passphrase-env`, or a configuration file's `[keys.kucoin]`): no fallback.
    ///
    /// # Errors
    /// [`KeyError`] naming the variable that is missing or malformed (never a value).
    pub fn from_vars(
        key: &'static str,
        secret: &'static str,
        passphrase: &'static str,
    ) -> Result<Self, KeyError> {
        Self::read(&[(key, secret)], &[passphrase])
    }

    fn read(
        families: &[(&'static str, &'static str)],
        passphrase: &[&'static str],
    ) -> Result<Self, KeyError> {
        let (key, secret) = key_pair(families)?;
        Ok(Self::new(
            key,
            secret.into_bytes(),
            first_var(passphrase)?.into_bytes(),
        ))
    }

    /// Keys given directly (tests).
    pub fn new(key: String, secret: Vec<u8>, passphrase: Vec<u8>) -> Self {
        Self {
            key,
            secret,
            passphrase,
        }
    }

    /// The documented dummy keys (`minerva-paper` / `minerva-paper-secret` /
    /// `minerva-paper-passphrase`): the local KuCoin venue accepts them when no keys
    /// are in the environment. Not a secret; never valid on KuCoin.
    pub fn paper() -> Self {
        Self::new(
            "minerva-paper".into(),
            b"minerva-paper-secret".to_vec(),
            b"minerva-paper-passphrase".to_vec(),
        )
    }

    /// The environment's keys, or [`KucoinKeys::paper`] when there are none; true
    /// when they came from the environment.
    pub fn from_env_or_paper() -> (Self, bool) {
        match Self::from_env() {
            Ok(k) => (k, true),
            Err(_) => (Self::paper(), false),
        }
    }

    /// The API key, for the `KC-API-KEY` header.
    pub fn api_key(&self) -> &str {
        &self.key
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    pub(crate) fn passphrase(&self) -> &[u8] {
        &self.passphrase
    }
}

impl fmt::Debug for KucoinKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KucoinKeys { key: <redacted>, secret: <redacted>, passphrase: <redacted> }")
    }
}

impl Drop for KucoinKeys {
    fn drop(&mut self) {
        wipe(&mut self.secret);
        wipe(&mut self.passphrase);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_keys() {
        let k = KucoinKeys::new(
            "visible-key".into(),
            b"top-secret".to_vec(),
            b"pass-phrase".to_vec(),
        );
        let d = format!("{k:?}");
        for s in ["visible-key", "top-secret", "pass-phrase"] {
            assert!(!d.contains(s), "{d}");
        }
    }
}
