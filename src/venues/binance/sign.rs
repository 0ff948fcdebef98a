//! Binance order requests: the query string, HMAC-SHA256 signed, written into a fixed
//! buffer with no allocation.
//!
//! Signing (SPOT-REST / UM-GEN "SIGNED endpoint security"): the payload is the query
//! string (or form body); `signature` = lowercase hex HMAC-SHA256(secret, payload),
//! appended as the last parameter; the key travels in `X-MBX-APIKEY`.

use super::keys::ApiKeys;
use crate::core::decimal::POW10;
use arrayvec::ArrayVec;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest request this encoder builds (parameters + signature).
pub const MAX_REQUEST: usize = 512;

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
}

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSide {
    /// `BUY`
    Buy,
    /// `SELL`
    Sell,
}

/// Order type and time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// `LIMIT` with `GTC`.
    LimitGtc,
    /// `LIMIT` with `IOC`.
    LimitIoc,
    /// `LIMIT` with `FOK`.
    LimitFok,
    /// Post-only: spot `LIMIT_MAKER`, futures `LIMIT` with `GTX`.
    PostOnly,
    /// `MARKET`.
    Market,
    /// A stop that sends a market order when the last trade reaches `price`: spot
    /// `STOP_LOSS`, futures `STOP_MARKET` (`price` is written as `stopPrice`).
    StopMarket,
}

/// One order, in integers; prices and quantities are written on the symbol's grids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest<'a> {
    /// Symbol.
    pub symbol: &'a str,
    /// Side.
    pub side: OrderSide,
    /// Type.
    pub kind: OrderKind,
    /// Quantity mantissa and its decimal places.
    pub qty: (i64, u8),
    /// Limit price mantissa and its decimal places (ignored for market orders).
    pub price: (i64, u8),
    /// `newClientOrderId` (`[.A-Za-z0-9:/_-]{1,36}`), idempotency key.
    pub client_id: &'a str,
    /// Futures: `reduceOnly=true`.
    pub reduce_only: bool,
    /// `recvWindow`, ms.
    pub recv_window_ms: u32,
    /// `timestamp`, ms.
    pub timestamp_ms: u64,
}

/// Why a request could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Longer than [`MAX_REQUEST`].
    #[error("request longer than {MAX_REQUEST} bytes")]
    TooLong,
    /// A symbol or client id with characters Binance does not accept.
    #[error("symbol or client order id has characters Binance does not accept")]
    BadText,
    /// A negative or zero quantity, or a non-positive limit price.
    #[error("quantity and limit price must be positive")]
    BadNumber,
}

/// Signed request bytes (parameters and signature), in a fixed buffer.
pub type Request = ArrayVec<u8, MAX_REQUEST>;
type Buf = Request;

fn put(b: &mut Buf, s: &[u8]) -> Result<(), EncodeError> {
    b.try_extend_from_slice(s).map_err(|_| EncodeError::TooLong)
}

fn put_u64(b: &mut Buf, mut v: u64) -> Result<(), EncodeError> {
    let mut d = [0u8; 20];
    let mut i = d.len();
    loop {
        i -= 1;
        d[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(b, &d[i..])
}

/// Canonical decimal (`m × 10^-scale`, trailing zeros dropped) into `b`.
fn put_decimal(b: &mut Buf, (m, scale): (i64, u8)) -> Result<(), EncodeError> {
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

fn checked(s: &str, max: usize) -> Result<&[u8], EncodeError> {
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

/// Writes the signed query string of an order (`symbol=..&...&signature=<hex>`), the
/// body of `POST /api/v3/order` (spot, `futures = false`) or `/fapi/v1/order`.
///
/// # Hot path: no allocation.
///
/// # Errors
/// [`EncodeError`] for text Binance would reject, bad numbers, or an over-long request.
pub fn signed_order(
    signer: &Signer,
    o: &OrderRequest<'_>,
    futures: bool,
) -> Result<Buf, EncodeError> {
    let mut b = Buf::new();
    put(&mut b, b"symbol=")?;
    put(&mut b, checked(o.symbol, 24)?)?;
    put(
        &mut b,
        if o.side == OrderSide::Buy {
            b"&side=BUY"
        } else {
            b"&side=SELL"
        },
    )?;
    let (ty, tif): (&[u8], &[u8]) = match (o.kind, futures) {
        (OrderKind::LimitGtc, _) => (b"LIMIT", b"GTC"),
        (OrderKind::LimitIoc, _) => (b"LIMIT", b"IOC"),
        (OrderKind::LimitFok, _) => (b"LIMIT", b"FOK"),
        (OrderKind::PostOnly, false) => (b"LIMIT_MAKER", b""),
        (OrderKind::PostOnly, true) => (b"LIMIT", b"GTX"),
        (OrderKind::Market, _) => (b"MARKET", b""),
        (OrderKind::StopMarket, false) => (b"STOP_LOSS", b""),
        (OrderKind::StopMarket, true) => (b"STOP_MARKET", b""),
    };
    put(&mut b, b"&type=")?;
    put(&mut b, ty)?;
    if !tif.is_empty() {
        put(&mut b, b"&timeInForce=")?;
        put(&mut b, tif)?;
    }
    put(&mut b, b"&quantity=")?;
    put_decimal(&mut b, o.qty)?;
    match o.kind {
        OrderKind::Market => {}
        OrderKind::StopMarket => {
            put(&mut b, b"&stopPrice=")?;
            put_decimal(&mut b, o.price)?;
        }
        _ => {
            put(&mut b, b"&price=")?;
            put_decimal(&mut b, o.price)?;
        }
    }
    put(&mut b, b"&newClientOrderId=")?;
    put(&mut b, checked(o.client_id, 36)?)?;
    if futures && o.reduce_only {
        put(&mut b, b"&reduceOnly=true")?;
    }
    finish(b, signer, o.recv_window_ms, o.timestamp_ms)
}

/// `recvWindow`, `timestamp`, then the signature over everything before it.
fn finish(mut b: Buf, signer: &Signer, recv_window_ms: u32, ts: u64) -> Result<Buf, EncodeError> {
    put(&mut b, b"&recvWindow=")?;
    put_u64(&mut b, recv_window_ms as u64)?;
    put(&mut b, b"&timestamp=")?;
    put_u64(&mut b, ts)?;
    let sig = signer.sign(&b);
    put(&mut b, b"&signature=")?;
    put(&mut b, &sig)?;
    Ok(b)
}

/// A spot one-cancels-the-other exit (`POST /api/v3/orderList/oco`): a `LIMIT_MAKER`
/// take profit and a `STOP_LOSS` stop for the same quantity; when one executes the
/// exchange cancels the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcoRequest<'a> {
    /// Symbol.
    pub symbol: &'a str,
    /// `SELL` closes a long (take profit above, stop below); `BUY` closes a short.
    pub side: OrderSide,
    /// Quantity of both legs `(mantissa, scale)`.
    pub qty: (i64, u8),
    /// Take-profit limit price.
    pub take_profit: (i64, u8),
    /// Stop trigger price.
    pub stop: (i64, u8),
    /// Client ids: the list, the take profit, the stop.
    pub ids: [&'a str; 3],
    /// `recvWindow`.
    pub recv_window_ms: u32,
    /// `timestamp`.
    pub timestamp_ms: u64,
}

/// Encodes and signs an OCO exit. No allocation.
///
/// # Errors
/// [`EncodeError`] for bad text, non-positive numbers or an over-long request.
pub fn signed_oco(signer: &Signer, o: &OcoRequest<'_>) -> Result<Buf, EncodeError> {
    let mut b = Buf::new();
    put(&mut b, b"symbol=")?;
    put(&mut b, checked(o.symbol, 24)?)?;
    put(&mut b, b"&listClientOrderId=")?;
    put(&mut b, checked(o.ids[0], 36)?)?;
    let sell = o.side == OrderSide::Sell;
    put(&mut b, if sell { b"&side=SELL" } else { b"&side=BUY" })?;
    put(&mut b, b"&quantity=")?;
    put_decimal(&mut b, o.qty)?;
    // SELL: take profit above, stop below. BUY: stop above, take profit below.
    let (tp, sl): (&[u8], &[u8]) = if sell {
        (b"above", b"below")
    } else {
        (b"below", b"above")
    };
    for leg in [tp, sl] {
        put(&mut b, b"&")?;
        put(&mut b, leg)?;
        if leg == tp {
            put(&mut b, b"Type=LIMIT_MAKER&")?;
            put(&mut b, leg)?;
            put(&mut b, b"ClientOrderId=")?;
            put(&mut b, checked(o.ids[1], 36)?)?;
            put(&mut b, b"&")?;
            put(&mut b, leg)?;
            put(&mut b, b"Price=")?;
            put_decimal(&mut b, o.take_profit)?;
        } else {
            put(&mut b, b"Type=STOP_LOSS&")?;
            put(&mut b, leg)?;
            put(&mut b, b"ClientOrderId=")?;
            put(&mut b, checked(o.ids[2], 36)?)?;
            put(&mut b, b"&")?;
            put(&mut b, leg)?;
            put(&mut b, b"StopPrice=")?;
            put_decimal(&mut b, o.stop)?;
        }
    }
    finish(b, signer, o.recv_window_ms, o.timestamp_ms)
}

/// Encodes and signs a cancel (`DELETE /api/v3/order` or `/fapi/v1/order`) by client
/// order id. No allocation.
///
/// # Errors
/// [`EncodeError`] for bad text or an over-long request.
pub fn signed_cancel(
    signer: &Signer,
    symbol: &str,
    client_id: &str,
    recv_window_ms: u32,
    timestamp_ms: u64,
) -> Result<Buf, EncodeError> {
    let mut b = Buf::new();
    put(&mut b, b"symbol=")?;
    put(&mut b, checked(symbol, 24)?)?;
    put(&mut b, b"&origClientOrderId=")?;
    put(&mut b, checked(client_id, 36)?)?;
    finish(b, signer, recv_window_ms, timestamp_ms)
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
    fn encodes_and_signs_an_order() {
        let s = Signer::from_secret(
            b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
        );
        let o = OrderRequest {
            symbol: "LTCBTC",
            side: OrderSide::Buy,
            kind: OrderKind::LimitGtc,
            qty: (100_000_000, 8),
            price: (10, 2),
            client_id: "mnv-1",
            reduce_only: false,
            recv_window_ms: 5000,
            timestamp_ms: 1_499_827_319_559,
        };
        let req = signed_order(&s, &o, false).unwrap();
        let text = std::str::from_utf8(&req).unwrap();
        let (payload, sig) = text.split_once("&signature=").unwrap();
        assert_eq!(
            payload,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&newClientOrderId=mnv-1&recvWindow=5000&timestamp=1499827319559"
        );
        assert_eq!(sig.as_bytes(), &s.sign(payload.as_bytes()));
        let post_only = OrderRequest {
            kind: OrderKind::PostOnly,
            reduce_only: true,
            ..o
        };
        let f = signed_order(&s, &post_only, true).unwrap();
        assert!(std::str::from_utf8(&f).unwrap().contains("&type=LIMIT&timeInForce=GTX&quantity=1&price=0.1&newClientOrderId=mnv-1&reduceOnly=true"));
        let bad = OrderRequest {
            client_id: "no spaces allowed",
            ..o
        };
        assert_eq!(signed_order(&s, &bad, false), Err(EncodeError::BadText));
        let zero = OrderRequest { qty: (0, 8), ..o };
        assert_eq!(signed_order(&s, &zero, false), Err(EncodeError::BadNumber));
    }
}
