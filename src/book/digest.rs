//! The canonical book digest and top-of-book listing of `EXPECTED.json` (cold path).
//!
//! One line per level, bids by price descending as `b <price> <qty>`, then asks by
//! price ascending as `a <price> <qty>`, numbers in canonical decimal form, joined by
//! `\n` without a trailing newline; SHA-256 as lowercase hex.

use super::Book;
use crate::core::Level;
use sha2::{Digest, Sha256};

/// Digest of a whole book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookDigest {
    /// Lowercase hex SHA-256 of the canonical text.
    pub sha256: String,
    /// Length of the canonical text in bytes.
    pub bytes: usize,
}

/// The best `n` levels per side as canonical `[price, qty]` strings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopLevels {
    /// Bids, best first.
    pub bids: Vec<[String; 2]>,
    /// Asks, best first.
    pub asks: Vec<[String; 2]>,
}

impl Book {
    /// Canonical digest of every level (cold path, allocates).
    pub fn digest(&self) -> BookDigest {
        let mut text = String::new();
        let mut line = |tag: char, l: Level| {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push(tag);
            text.push(' ');
            text.push_str(&self.spec.price.format(l.price));
            text.push(' ');
            text.push_str(&self.spec.qty.format(l.qty));
        };
        self.for_each_bid(|l| {
            line('b', l);
            true
        });
        self.for_each_ask(|l| {
            line('a', l);
            true
        });
        BookDigest {
            sha256: hex(&Sha256::digest(text.as_bytes())),
            bytes: text.len(),
        }
    }

    /// The best `n` levels of each side as canonical strings (cold path).
    pub fn top(&self, n: usize) -> TopLevels {
        let mut t = TopLevels::default();
        let fmt = |l: Level| [self.spec.price.format(l.price), self.spec.qty.format(l.qty)];
        self.for_each_bid(|l| {
            t.bids.push(fmt(l));
            t.bids.len() < n
        });
        self.for_each_ask(|l| {
            t.asks.push(fmt(l));
            t.asks.len() < n
        });
        if n == 0 {
            t = TopLevels::default();
        }
        t
    }
}

fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_book_hashes_empty_string() {
        assert_eq!(
            super::hex(&<sha2::Sha256 as sha2::Digest>::digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
