//! Writing a request's text into its fixed-size buffer, for every venue's order
//! encoder: numbers on the symbol's grid as canonical decimals, ids and symbols
//! checked for characters a venue takes.
//!
//! # Hot path: no allocation.

use crate::core::decimal::POW10;
use crate::core::{Lots, SymbolSpec, Ticks};
use crate::venues::{EncodeError, WireRequest as Request};

pub(crate) fn put(b: &mut Request, s: &[u8]) -> Result<(), EncodeError> {
    b.try_extend_from_slice(s).map_err(|_| EncodeError::TooLong)
}

pub(crate) fn put_u64(b: &mut Request, v: u64) -> Result<(), EncodeError> {
    put(b, crate::core::decimal::u64_digits(v, &mut [0u8; 20]))
}

/// Canonical decimal (`m × 10^-scale`, trailing zeros dropped) into `b`.
pub(crate) fn put_decimal(b: &mut Request, m: i64, scale: u8) -> Result<(), EncodeError> {
    if m <= 0 || scale as usize >= POW10.len() {
        return Err(EncodeError::BadNumber);
    }
    let p = POW10[scale as usize] as u64;
    let (int, mut frac) = (m as u64 / p, m as u64 % p);
    put_u64(b, int)?;
    if frac != 0 {
        let mut places = scale as usize;
        while frac % 10 == 0 {
            frac /= 10;
            places -= 1;
        }
        put(b, b".")?;
        let mut d = [b'0'; 19];
        let mut i = places;
        while i > 0 {
            d[i - 1] = b'0' + (frac % 10) as u8;
            frac /= 10;
            i -= 1;
        }
        put(b, &d[..places])?;
    }
    Ok(())
}

pub(crate) fn put_price(b: &mut Request, spec: &SymbolSpec, p: Ticks) -> Result<(), EncodeError> {
    let m = spec.price.mantissa(p).ok_or(EncodeError::BadNumber)?;
    put_decimal(b, m, spec.price.decimals())
}

pub(crate) fn put_qty(b: &mut Request, spec: &SymbolSpec, q: Lots) -> Result<(), EncodeError> {
    put_decimal(b, q.0, spec.qty.decimals())
}

/// `s` when it is 1..=`max` characters a venue takes in an id or a symbol.
pub(crate) fn checked(s: &str, max: usize) -> Result<&[u8], EncodeError> {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b'-'));
    if ok {
        Ok(s.as_bytes())
    } else {
        Err(EncodeError::BadText)
    }
}
