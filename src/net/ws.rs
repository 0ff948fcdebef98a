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

/// Bytes the receive buffer starts with: a burst of market frames (Binance's depth
/// diffs are 0.3–20 KB) fits in one read. It grows only for a larger message.
const RX_START: usize = 128 * 1024;

/// Free room below which the buffer's unread bytes are moved to its front before a
/// read, so a read never asks the socket for a few bytes only.
const RX_MIN_READ: usize = 16 * 1024;

/// Where the message [`Wire::read_message`] returned last is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    None,
    /// A single-frame message, in place in the receive buffer.
    Rx(usize, usize),
    /// A fragmented message, put together in `msg`.
    Msg,
}

/// A client session over a byte stream (a TCP stream in use; anything that reads and
/// writes in tests and fuzzing).
///
/// Frames are parsed from a receive buffer that one read fills with as many as the
/// socket holds (one system call for a burst, not three a frame), and a frame that
/// is not all there yet stays in it: a read that times out, or a non-blocking socket
/// that has nothing more ([`Self::read_message`]'s `WouldBlock`), loses nothing, so the
/// same session can be read blocking with a timeout or from a `mio` poll loop.
pub struct Wire<S = super::tls::Conn> {
    stream: S,
    /// Received bytes; `rx[head..tail]` are not parsed yet.
    rx: Vec<u8>,
    head: usize,
    tail: usize,
    /// A fragmented message being put together.
    msg: Vec<u8>,
    /// A fragmented message has begun (its first fragment may be empty).
    assembling: bool,
    last: Last,
    rng: fastrand::Rng,
}

/// One frame's header, parsed from the receive buffer.
struct Head {
    fin: bool,
    opcode: u8,
    /// Header bytes (2 to 10).
    size: usize,
    /// Payload bytes.
    len: usize,
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
            rx: vec![0; RX_START],
            head: 0,
            tail: 0,
            msg: Vec::new(),
            assembling: false,
            last: Last::None,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The last message read.
    pub fn message(&self) -> &[u8] {
        match self.last {
            Last::None => &[],
            Last::Rx(from, to) => &self.rx[from..to],
            Last::Msg => &self.msg,
        }
    }

    /// Reads the next text or binary message and returns it (a single frame's in
    /// place in the receive buffer, a fragmented one put together). Pings are answered
    /// on the way; control frames are not returned.
    ///
    /// # Hot path: no allocation once the buffers have grown to the largest message.
    ///
    /// # Errors
    /// [`WireError`]; `Io` with `WouldBlock`/`TimedOut` when the socket had no more
    /// bytes (a non-blocking socket) or its read timeout passed before a message was
    /// complete: nothing is lost, what arrived stays buffered; call again.
    pub fn read_message(&mut self) -> Result<&[u8], WireError> {
        if self.last == Last::Msg {
            self.msg.clear();
        }
        self.last = Last::None;
        loop {
            let Some(h) = self.parse_head()? else {
                self.fill(14)?;
                continue;
            };
            let at = self.head + h.size;
            match h.opcode {
                // Continuation, text, binary: the payload is the message or part of it.
                0..=2 => {
                    if self.msg.len() + h.len > MAX_MESSAGE {
                        return Err(WireError::Protocol("message too large"));
                    }
                    if self.tail - at < h.len {
                        self.fill(h.size + h.len)?;
                        continue;
                    }
                    self.head = at + h.len;
                    if h.fin && !self.assembling {
                        self.last = Last::Rx(at, at + h.len);
                        return Ok(&self.rx[at..at + h.len]);
                    }
                    self.msg.extend_from_slice(&self.rx[at..at + h.len]);
                    self.assembling = !h.fin;
                    if h.fin {
                        self.last = Last::Msg;
                        return Ok(&self.msg);
                    }
                }
                // Close: its code says whether the venue's data was served.
                8 => {
                    let body = h.len.min(125);
                    if self.tail - at < body {
                        self.fill(h.size + body)?;
                        continue;
                    }
                    let code =
                        (body >= 2).then(|| u16::from_be_bytes([self.rx[at], self.rx[at + 1]]));
                    self.head = at + body;
                    let _ = self.send_control(8, &[]);
                    return Err(if code == Some(SERVED) {
                        WireError::Served
                    } else {
                        WireError::Closed
                    });
                }
                // Ping: answer with the same payload; pong: nothing to do.
                9 | 10 => {
                    if h.len > 125 {
                        return Err(WireError::Protocol("control frame over 125 bytes"));
                    }
                    if self.tail - at < h.len {
                        self.fill(h.size + h.len)?;
                        continue;
                    }
                    self.head = at + h.len;
                    if h.opcode == 9 {
                        let mut p = [0u8; 125];
                        p[..h.len].copy_from_slice(&self.rx[at..at + h.len]);
                        self.send_control(10, &p[..h.len])?;
                    }
                }
                _ => return Err(WireError::Protocol("unknown opcode")),
            }
        }
    }

    /// The next frame's header when its bytes are in, `None` when more are needed.
    #[inline]
    fn parse_head(&self) -> Result<Option<Head>, WireError> {
        let b = &self.rx[self.head..self.tail];
        let (Some(&h0), Some(&h1)) = (b.first(), b.get(1)) else {
            return Ok(None);
        };
        if h1 & 0x80 != 0 {
            return Err(WireError::Protocol("a server frame must not be masked"));
        }
        let (size, len) = match h1 & 0x7f {
            126 => match b.get(2..4) {
                Some(l) => (4, u16::from_be_bytes([l[0], l[1]]) as usize),
                None => return Ok(None),
            },
            127 => match b.get(2..10) {
                Some(l) => {
                    let l = u64::from_be_bytes(l.try_into().expect("eight bytes"));
                    (10, usize::try_from(l).unwrap_or(usize::MAX))
                }
                None => return Ok(None),
            },
            n => (2, n as usize),
        };
        if len > MAX_MESSAGE {
            return Err(WireError::Protocol("message too large"));
        }
        Ok(Some(Head {
            fin: h0 & 0x80 != 0,
            opcode: h0 & 0x0f,
            size,
            len,
        }))
    }

    /// One read from the socket into the receive buffer, making room for a frame of
    /// `need` bytes (header included) first. `Closed` at the end of the stream; the
    /// socket's `WouldBlock`/`TimedOut` as is (the caller's "quiet").
    fn fill(&mut self, need: usize) -> Result<(), WireError> {
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
        } else if self.rx.len() - self.head < need || self.rx.len() - self.tail < RX_MIN_READ {
            self.rx.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
        if self.rx.len() < need {
            // A message larger than any before (cold: at most once per size class).
            self.rx
                .resize(need.next_power_of_two().min(MAX_MESSAGE + 14), 0);
        }
        loop {
            match self.stream.read(&mut self.rx[self.tail..]) {
                Ok(0) => return Err(WireError::Closed),
                Ok(n) => {
                    self.tail += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
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
        let (mut head, mut n) = frame_head(0x80 | opcode, true, payload.len());
        let mask: [u8; 4] = self.rng.u32(..).to_be_bytes();
        head[n..n + 4].copy_from_slice(&mask);
        n += 4;
        write_patiently(&mut self.stream, &head[..n])?;
        // Masked through a stack buffer: a pong or a close allocates nothing.
        let mut chunk = [0u8; 256];
        for (c, part) in payload.chunks(chunk.len()).enumerate() {
            for (i, b) in part.iter().enumerate() {
                chunk[i] = b ^ mask[(c * 256 + i) % 4];
            }
            write_patiently(&mut self.stream, &chunk[..part.len()])?;
        }
        Ok(())
    }
}

/// A frame's header: `first` (FIN and opcode), the mask bit when `masked`, and the
/// payload length in the shortest of its three forms (RFC 6455 §5.2). The bytes and
/// how many of them are used; four are left for the mask.
fn frame_head(first: u8, masked: bool, len: usize) -> ([u8; 14], usize) {
    let mut head = [0u8; 14];
    head[0] = first;
    let mask_bit = if masked { 0x80 } else { 0 };
    match len {
        l if l < 126 => {
            head[1] = mask_bit | l as u8;
            (head, 2)
        }
        l if l <= u16::MAX as usize => {
            head[1] = mask_bit | 126;
            head[2..4].copy_from_slice(&(l as u16).to_be_bytes());
            (head, 4)
        }
        l => {
            head[1] = mask_bit | 127;
            head[2..10].copy_from_slice(&(l as u64).to_be_bytes());
            (head, 10)
        }
    }
}

/// A frame as a server sends it (unmasked): for tests that play the server.
#[doc(hidden)]
pub fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let (head, n) = frame_head((fin as u8) << 7 | opcode, false, payload.len());
    let mut f = head[..n].to_vec();
    f.extend_from_slice(payload);
    f
}

/// A stream for tests that play the server: it reads `input` whole, or in random
/// pieces of 1 to `max_piece` bytes with "nothing yet" (`WouldBlock`) before each, as a
/// non-blocking socket hands over what the network delivered; it keeps what is
/// written to it.
#[doc(hidden)]
pub struct Scripted {
    input: Vec<u8>,
    at: usize,
    pieces: Option<(fastrand::Rng, usize)>,
    quiet_next: bool,
    /// What the session wrote.
    pub output: Vec<u8>,
}

impl Scripted {
    /// `input` read as asked.
    pub fn whole(input: &[u8]) -> Self {
        Self {
            input: input.to_vec(),
            at: 0,
            pieces: None,
            quiet_next: false,
            output: Vec::new(),
        }
    }

    /// `input` read in pieces of 1 to `max_piece` bytes chosen by `seed`.
    pub fn in_pieces(input: &[u8], seed: u64, max_piece: usize) -> Self {
        Self {
            pieces: Some((fastrand::Rng::with_seed(seed), max_piece.max(1))),
            ..Self::whole(input)
        }
    }
}

impl Read for Scripted {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = match self.pieces.as_mut() {
            None => b.len(),
            Some((rng, max)) => {
                self.quiet_next = !self.quiet_next;
                if self.quiet_next {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                rng.usize(1..=*max)
            }
        };
        let n = n.min(b.len()).min(self.input.len() - self.at);
        b[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Scripted {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Every message `wire` reads until its first error other than "nothing more yet"
/// (read again at once), at most `limit` of them, and that error's text: what a
/// session said, for tests that compare two ways of delivering the same bytes.
#[doc(hidden)]
pub fn transcript<S: Read + Write>(wire: &mut Wire<S>, limit: usize) -> (Vec<Vec<u8>>, String) {
    let mut said = Vec::new();
    let mut quiet_in_a_row = 0;
    while said.len() < limit {
        match wire.read_message() {
            Ok(m) => {
                quiet_in_a_row = 0;
                said.push(m.to_vec());
            }
            Err(e) if e.is_quiet() && quiet_in_a_row < 1_000_000 => quiet_in_a_row += 1,
            Err(e) => return (said, e.to_string()),
        }
    }
    (said, String::new())
}

/// How long a write may wait for room in the socket's send buffer.
const WRITE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// `write_all` that also works on a non-blocking socket (a session a `mio` poll
/// reads): a full send buffer is waited out for [`WRITE_PATIENCE`], in 1-ms naps
/// (cold: pongs, closes and subscriptions are a few bytes).
fn write_patiently(stream: &mut impl Write, mut buf: &[u8]) -> io::Result<()> {
    let mut since: Option<std::time::Instant> = None;
    while !buf.is_empty() {
        match stream.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let t = *since.get_or_insert_with(std::time::Instant::now);
                if t.elapsed() > WRITE_PATIENCE {
                    return Err(e);
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(bytes: &[u8]) -> Wire<Scripted> {
        Wire::over(Scripted::whole(bytes), 7)
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

    /// Messages of every size class (past the receive buffer too), fragmented or
    /// not, pings between fragments: read in one piece or in random pieces with
    /// "nothing yet" between them, the session says the same messages, answers the
    /// same pongs and ends the same way.
    #[test]
    fn any_cut_of_the_bytes_reads_the_same() {
        let mut rng = fastrand::Rng::with_seed(11);
        for round in 0..40 {
            let mut bytes = Vec::new();
            let mut want = Vec::new();
            for _ in 0..rng.usize(1..40) {
                let len = match rng.u8(..4) {
                    0 => rng.usize(0..126),
                    1 => rng.usize(126..70_000),
                    2 if round % 8 == 0 => rng.usize(RX_START..RX_START * 3),
                    _ => rng.usize(0..2_000),
                };
                let msg: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                if rng.bool() && len > 2 {
                    let cut = rng.usize(0..len);
                    bytes.extend(server_frame(false, 1, &msg[..cut]));
                    bytes.extend(server_frame(true, 9, b"ping"));
                    bytes.extend(server_frame(true, 0, &msg[cut..]));
                } else {
                    bytes.extend(server_frame(true, 2, &msg));
                }
                want.push(msg);
            }
            if round % 2 == 0 {
                bytes.extend(server_frame(true, 8, &SERVED.to_be_bytes()));
            }
            let mut whole = wire(&bytes);
            let (said, end) = transcript(&mut whole, usize::MAX);
            assert_eq!(said, want);
            let mut cut = Wire::over(Scripted::in_pieces(&bytes, round, 300), 7);
            let (said_cut, end_cut) = transcript(&mut cut, usize::MAX);
            assert!(said_cut == want, "round {round}");
            assert_eq!(end_cut, end);
            // Same pongs and close (the masks come from the same seed).
            assert_eq!(cut.stream.output, whole.stream.output);
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
