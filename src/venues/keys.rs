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

/// A key and its secret from the first family of variable names whose key is set (the
/// documented names first, then the seed's): a key is never paired with another
/// family's secret. The error names the documented key when no family is set, or the
/// set family's secret when only its key is.
pub(crate) fn key_pair(
    families: &[(&'static str, &'static str)],
) -> Result<(String, String), KeyError> {
    for &(key, secret) in families {
        match first_var(&[key]) {
            Ok(k) => return Ok((k, first_var(&[secret])?)),
            Err(KeyError::Missing(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Err(KeyError::Missing(families.first().map_or("", |f| f.0)))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Names of this test only (the environment is the process's).
    const FAMILIES: [(&str, &str); 2] = [
        ("MINERVA_TEST_PAIR_KEY", "MINERVA_TEST_PAIR_SECRET"),
        ("minerva_test_pair_api", "minerva_test_pair_secret"),
    ];

    #[test]
    fn a_key_comes_with_its_own_familys_secret() {
        let set = |k: &str, v: Option<&str>| match v {
            // SAFETY: these variables are this test's alone; no other thread reads them.
            Some(v) => unsafe { std::env::set_var(k, v) },
            // SAFETY: as above.
            None => unsafe { std::env::remove_var(k) },
        };
        for (k, s) in FAMILIES {
            set(k, None);
            set(s, None);
        }
        assert_eq!(
            key_pair(&FAMILIES),
            Err(KeyError::Missing("MINERVA_TEST_PAIR_KEY"))
        );
        set("minerva_test_pair_api", Some("seed-key"));
        set("MINERVA_TEST_PAIR_SECRET", Some("documented-secret"));
        // The seed's key is never paired with the documented family's secret.
        assert_eq!(
            key_pair(&FAMILIES),
            Err(KeyError::Missing("minerva_test_pair_secret"))
        );
        set("minerva_test_pair_secret", Some("seed-secret"));
        assert_eq!(
            key_pair(&FAMILIES),
            Ok(("seed-key".into(), "seed-secret".into()))
        );
        set("MINERVA_TEST_PAIR_KEY", Some("documented-key"));
        assert_eq!(
            key_pair(&FAMILIES),
            Ok(("documented-key".into(), "documented-secret".into()))
        );
        set("MINERVA_TEST_PAIR_KEY", Some("bad key"));
        assert_eq!(
            key_pair(&FAMILIES),
            Err(KeyError::Malformed("MINERVA_TEST_PAIR_KEY"))
        );
    }
}
