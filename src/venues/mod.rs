//! The exchanges Minerva speaks to, one folder each: everything a venue's protocol
//! says (hosts, paths, signing, message shapes, error codes, sequence rules) lives in
//! its folder and nowhere else.

pub mod binance;
