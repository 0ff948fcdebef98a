//! A WebSocket client's wire: the opening handshake (RFC 6455 §4) and frames read into
//! one reusable buffer, so steady-state reads allocate nothing. Text and binary
//! messages are handed over as bytes; pings are answered; a close ends the session.
//! Plain `ws://` only (TLS for `wss://` is to come with the live endpoints).

use std::io::{self, Read, Write};

/// Why a WebSocket session could not start or went on no longer.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// The server did not upgrade the connection.
    #[error("handshake refused: {0}")]
    Handshake(String),
    /// A frame broke the protocol (or exceeded the buffer).
    #[error("protocol: {0}")]
    Protocol(&'static str),
    /// The server closed the session.
    #[error("closed by the server")]
    Closed,
    /// The server closed the session with [`SERVED`]: a `minerva exchange` whose
    /// recording is over, so there is nothing to reconnect to.
    #[error("closed by the server: its data has been served")]
    Served,
}

/// Close code (from the range RFC 6455 leaves to applications) with which `minerva
/// exchange` ends its market sessions when its recording is over. Without it a client
/// learnt the end only by reconnecting and being refused with 410 Gone, which a venue
/// that had already exited (`--linger 0`) could not answer: the client then retried
/// forever.
pub const SERVED: u16 = 4410;

impl WireError {
    /// A read that found no message within the socket's read timeout: the session is
    /// quiet, not broken.
    pub fn is_quiet(&self) -> bool {
        matches!(self, WireError::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

/// Largest message accepted (Binance's depth snapshots over WS are far below).
pub const MAX_MESSAGE: usize = 16 << 20;

/// A client session over a byte stream (a TCP stream in use; anything that reads and
/// writes in tests and fuzzing).
pub struct Wire<S = super::tls::Conn> {
    stream: S,
    /// The current message.
    msg: Vec<u8>,
    rng: fastrand::Rng,
}

impl<S: Read + Write> Wire<S> {
    /// Opens `ws://host/path` (or `wss://` over a TLS `stream`) on `stream`. Cold.
    ///
    /// # Errors
    /// [`WireError`] when the socket fails or the server does not upgrade.
    pub fn handshake(mut stream: S, host: &str, path: &str, seed: u64) -> Result<Self, WireError> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let key_bytes: [u8; 16] = std::array::from_fn(|_| rng.u8(..));
        let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key_bytes);
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        // The response head, byte by byte: nothing of the first frame is read past it.
        let mut head = Vec::with_capacity(256);
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut b)? == 0 {
                return Err(WireError::Handshake("connection closed".into()));
            }
            head.push(b[0]);
            if head.len() > 8192 {
                return Err(WireError::Handshake("response head too long".into()));
            }
        }
        let text = String::from_utf8_lossy(&head);
        if !text.starts_with("HTTP/1.1 101") {
            let line = text.lines().next().unwrap_or("").to_string();
            return Err(WireError::Handshake(line));
        }
        let want = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let ok = text.lines().any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == want
            })
        });
        if !ok {
            return Err(WireError::Handshake("wrong Sec-WebSocket-Accept".into()));
        }
        Ok(Wire::over(stream, rng.u64(..)))
    }

    /// The connection (its socket's timeouts, shutdown).
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// A session over `stream` whose opening handshake is done.
    pub fn over(stream: S, seed: u64) -> Self {
        Self {
            stream,
            msg: Vec::with_capacity(64 * 1024),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The last message read.
    pub fn message(&self) -> &[u8] {
        &self.msg
    }

    /// Reads the next text or binary message into the session's buffer and returns it.
    /// Pings are answered on the way; control frames are not returned.
    ///
    /// # Hot path: no allocation once the buffer has grown to the largest message.
    ///
    /// # Errors
    /// [`WireError`]; `Io` with `WouldBlock`/`TimedOut` when the socket's read timeout
    /// passed before a frame began (nothing is lost: call again).
    pub fn read_message(&mut self) -> Result<&[u8], WireError> {
        self.msg.clear();
        loop {
            // The first byte alone may time out (nothing begun, nothing lost); once a
            // frame has begun, its bytes are waited for.
            let mut h = [0u8; 2];
            match self.stream.read(&mut h[..1]) {
                Ok(0) => return Err(WireError::Closed),
                Ok(_) => {}
                Err(e)
                    if self.msg.is_empty()
                        || !matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                {
                    return Err(e.into());
                }
                Err(_) => continue,
            }
            read_full(&mut self.stream, &mut h[1..])?;
            let fin = h[0] & 0x80 != 0;
            let opcode = h[0] & 0x0f;
            if h[1] & 0x80 != 0 {
                return Err(WireError::Protocol("a server frame must not be masked"));
            }
            let len = match h[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.read_all(&mut b)?;
                    u16::from_be_bytes(b) as usize
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.read_all(&mut b)?;
                    usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX)
                }
                n => n as usize,
            };
            if len > MAX_MESSAGE || self.msg.len() + len > MAX_MESSAGE {
                return Err(WireError::Protocol("message too large"));
            }
            match opcode {
                // Continuation, text, binary: payload into the message.
                0..=2 => {
                    let at = self.msg.len();
                    self.msg.resize(at + len, 0);
                    let (stream, msg) = (&mut self.stream, &mut self.msg);
                    read_full(stream, &mut msg[at..])?;
                    if fin {
                        return Ok(&self.msg);
                    }
                }
                // Close.
                8 => {
                    let mut body = [0u8; 125];
                    self.read_all(&mut body[..len.min(125)])?;
                    let _ = self.send_control(8, &[]);
                    let code = (len >= 2).then(|| u16::from_be_bytes([body[0], body[1]]));
                    return Err(if code == Some(SERVED) {
                        WireError::Served
                    } else {
                        WireError::Closed
                    });
                }
                // Ping: answer with the same payload; pong: nothing to do.
                9 | 10 => {
                    let mut p = [0u8; 125];
                    if len > 125 {
                        return Err(WireError::Protocol("control frame over 125 bytes"));
                    }
                    self.read_all(&mut p[..len])?;
                    if opcode == 9 {
                        self.send_control(10, &p[..len])?;
                    }
                }
                _ => return Err(WireError::Protocol("unknown opcode")),
            }
        }
    }

    /// Sends a text message (subscriptions). Cold.
    ///
    /// # Errors
    /// [`WireError::Io`] when the socket fails.
    pub fn send_text(&mut self, text: &[u8]) -> Result<(), WireError> {
        self.send_frame(1, text)
    }

    /// Closes the session (best effort).
    pub fn close(&mut self) {
        let _ = self.send_control(8, &[]);
    }

    fn send_control(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WireError> {
        self.send_frame(opcode, &payload[..payload.len().min(125)])
    }

    /// One masked frame (RFC 6455 §5.3: every client frame is masked).
    fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WireError> {
        let mut head = [0u8; 14];
        head[0] = 0x80 | opcode;
        let mut n = 2;
        match payload.len() {
            l if l < 126 => head[1] = 0x80 | l as u8,
            l if l <= u16::MAX as usize => {
                head[1] = 0x80 | 126;
                head[2..4].copy_from_slice(&(l as u16).to_be_bytes());
                n = 4;
            }
            l => {
                head[1] = 0x80 | 127;
                head[2..10].copy_from_slice(&(l as u64).to_be_bytes());
                n = 10;
            }
        }
        let mask: [u8; 4] = self.rng.u32(..).to_be_bytes();
        head[n..n + 4].copy_from_slice(&mask);
        n += 4;
        self.stream.write_all(&head[..n])?;
        // Masked through a stack buffer: a pong or a close allocates nothing.
        let mut chunk = [0u8; 256];
        for (c, part) in payload.chunks(chunk.len()).enumerate() {
            for (i, b) in part.iter().enumerate() {
                chunk[i] = b ^ mask[(c * 256 + i) % 4];
            }
            self.stream.write_all(&chunk[..part.len()])?;
        }
        Ok(())
    }

    fn read_all(&mut self, buf: &mut [u8]) -> Result<(), WireError> {
        read_full(&mut self.stream, buf)
    }
}

/// Reads exactly `buf.len()` bytes, riding out read timeouts once a frame has begun.
fn read_full(stream: &mut impl Read, buf: &mut [u8]) -> Result<(), WireError> {
    let mut at = 0;
    while at < buf.len() {
        match stream.read(&mut buf[at..]) {
            Ok(0) => return Err(WireError::Closed),
            Ok(n) => at += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Reads from `input`, keeps what is written.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.input.read(b)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn wire(bytes: &[u8]) -> Wire<Duplex> {
        Wire::over(
            Duplex {
                input: Cursor::new(bytes.to_vec()),
                output: Vec::new(),
            },
            7,
        )
    }

    #[test]
    fn messages_fragments_pings_and_close() {
        let mut b = vec![0x81, 5];
        b.extend_from_slice(b"hello");
        // "ab" + "cd" in two fragments, a ping in between.
        b.extend_from_slice(&[0x01, 2, b'a', b'b', 0x89, 1, b'p', 0x80, 2, b'c', b'd']);
        // 16-bit length.
        b.extend_from_slice(&[0x82, 126, 0x01, 0x00]);
        b.extend(std::iter::repeat_n(b'x', 256));
        b.extend_from_slice(&[0x88, 0]);
        let mut w = wire(&b);
        assert_eq!(w.read_message().unwrap(), b"hello");
        assert_eq!(w.read_message().unwrap(), b"abcd");
        // The pong: FIN + opcode 10, masked, one byte of payload, unmasked back to `p`.
        let out = w.stream.output.clone();
        assert_eq!(&out[..2], &[0x8a, 0x81]);
        assert_eq!(out[6] ^ out[2], b'p');
        assert_eq!(w.read_message().unwrap().len(), 256);
        assert!(matches!(w.read_message(), Err(WireError::Closed)));
    }

    /// A close with `SERVED` is the venue's end, any other close (or none) a drop.
    #[test]
    fn a_close_says_whether_the_data_was_served() {
        let served = SERVED.to_be_bytes();
        for (frame, served_end) in [
            (vec![0x88, 2, served[0], served[1]], true),
            (
                vec![0x88, 6, served[0], served[1], b'd', b'o', b'n', b'e'],
                true,
            ),
            (vec![0x88, 2, 0x03, 0xe8], false),
            (vec![0x88, 0], false),
        ] {
            let mut w = wire(&frame);
            let got = w.read_message();
            if served_end {
                assert!(matches!(got, Err(WireError::Served)), "{frame:?}");
            } else {
                assert!(matches!(got, Err(WireError::Closed)), "{frame:?}");
            }
        }
    }

    #[test]
    fn broken_frames_are_errors() {
        // A masked server frame.
        assert!(matches!(
            wire(&[0x81, 0x81, 1, 2, 3, 4, b'a']).read_message(),
            Err(WireError::Protocol(_))
        ));
        // Larger than the limit.
        let mut b = vec![0x82, 127];
        b.extend_from_slice(&(MAX_MESSAGE as u64 + 1).to_be_bytes());
        assert!(matches!(
            wire(&b).read_message(),
            Err(WireError::Protocol(_))
        ));
        // An unknown opcode; a truncated frame.
        assert!(wire(&[0x83, 0]).read_message().is_err());
        assert!(matches!(
            wire(&[0x81, 5, b'a']).read_message(),
            Err(WireError::Closed)
        ));
    }
}
