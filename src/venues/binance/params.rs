//! Request parameters as Binance reads them: the query string and the form body,
//! percent-decoded (`form_urlencoded`), every name at most once (a repeated name is
//! refused, -1101), the signature kept apart (it signs the raw text, not the decoded
//! values). The one parameter parser of the Binance code; cold path.

use std::collections::BTreeMap;

/// Why parameters could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A name sent twice (`side=BUY&side=SELL`).
    #[error("Duplicate values for parameter '{0}'.")]
    Duplicate(String),
}

/// The decoded parameters of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// The parameters of `query` and `body` (either may be empty), decoded.
    ///
    /// # Errors
    /// [`ParamError::Duplicate`] for a name given twice.
    pub fn parse(query: &str, body: &str) -> Result<Self, ParamError> {
        let mut values = BTreeMap::new();
        for part in [query, body] {
            for (k, v) in form_urlencoded::parse(part.as_bytes()) {
                if values.insert(k.to_string(), v.into_owned()).is_some() {
                    return Err(ParamError::Duplicate(k.into_owned()));
                }
            }
        }
        Ok(Self { values })
    }

    /// A parameter's decoded value; an empty value counts as absent (Binance's
    /// "was not sent, was empty/null").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// These parameters and `name` = `value` (a value the server fills in).
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut p = self.clone();
        p.values.insert(name.to_string(), value.to_string());
        p
    }

    /// True when `name` was sent (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// `text` split at its `signature=` parameter: the rest as sent (what was signed), and
/// the signature. The signature is the last parameter Binance's clients send; it is
/// taken out wherever it is.
pub fn split_signature(text: &str) -> (String, Option<&str>) {
    let mut rest = String::with_capacity(text.len());
    let mut sig = None;
    for kv in text.split('&').filter(|kv| !kv.is_empty()) {
        match kv.strip_prefix("signature=") {
            Some(v) => sig = Some(v),
            None => {
                if !rest.is_empty() {
                    rest.push('&');
                }
                rest.push_str(kv);
            }
        }
    }
    (rest, sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_once_each() {
        let p = Params::parse("symbol=BTCUSDT&newClientOrderId=my%3Aid", "side=BUY&x=").unwrap();
        assert_eq!(p.get("newClientOrderId"), Some("my:id"));
        assert_eq!(p.get("side"), Some("BUY"));
        assert_eq!(p.get("x"), None);
        assert!(p.has("x"));
        assert_eq!(
            Params::parse("side=BUY", "side=SELL"),
            Err(ParamError::Duplicate("side".into()))
        );
        let (rest, sig) = split_signature("a=1&signature=ff&b=2");
        assert_eq!((rest.as_str(), sig), ("a=1&b=2", Some("ff")));
    }
}
