//! What every venue's keys share: they come from the environment only, are checked
//! for shape, and are never shown (their types print `<redacted>`) or left in memory
//! (wiped on drop).

/// Why keys could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A variable is unset or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable is not printable ASCII (venues' keys, secrets and passphrases are).
    #[error("{0} is not printable ASCII")]
    Malformed(&'static str),
}

/// The value of the first of `vars` that is set and not empty (a documented name,
/// then its fallbacks). The error names the first variable when none is set, or the
/// one whose value is malformed — never a value.
pub(crate) fn first_var(vars: &[&'static str]) -> Result<String, KeyError> {
    for &var in vars {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => {
                if !v.bytes().all(|c| c.is_ascii_graphic()) {
                    return Err(KeyError::Malformed(var));
                }
                return Ok(v);
            }
            _ => {}
        }
    }
    Err(KeyError::Missing(vars.first().copied().unwrap_or("")))
}

/// Overwrites a secret's bytes with zeros in a way the compiler keeps.
pub(crate) fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference into the caller's
        // buffer; a volatile write keeps the compiler from eliding the wipe of memory
        // about to be freed.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}
