//! TLS for Binance's `https://` and `wss://` endpoints, tried against a real TLS
//! server on loopback (`openssl s_server` with a certificate made here and trusted
//! through `MINERVA_CA_FILE`): the handshake completes, the certificate is checked
//! against the name (an address not in it is refused), HTTP flows over it, and
//! WebSocket frames are read over it as the market feed reads them (non-blocking,
//! through its poll).
//! `.ci/run` installs openssl when it is missing.

use minerva::net::http::Client;
use minerva::net::tls::{CA_FILE_VAR, Conn};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn https_and_wss_to_a_tls_server_check_its_certificate() {
    // Removed when the test ends, after the server (declared later, dropped first).
    let tmp = tempfile::Builder::new()
        .prefix("minerva-tls-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let (ca, cert, key) = (p("ca.pem"), p("cert.pem"), p("key.pem"));
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    // A test CA, and a leaf certificate for localhost signed by it.
    for args in [
        [
            &["req", "-x509"][..],
            &ec,
            &["-days", "1", "-subj", "/CN=minerva test CA"],
        ]
        .concat()
        .into_iter()
        .map(str::to_string)
        .chain(["-keyout".into(), p("ca.key"), "-out".into(), ca.clone()])
        .collect::<Vec<String>>(),
        [&["req"][..], &ec, &["-subj", "/CN=localhost"]]
            .concat()
            .into_iter()
            .map(str::to_string)
            .chain(["-keyout".into(), key.clone(), "-out".into(), p("leaf.csr")])
            .collect(),
        ["x509", "-req", "-days", "1", "-CAcreateserial"]
            .into_iter()
            .map(str::to_string)
            .chain([
                "-in".into(),
                p("leaf.csr"),
                "-CA".into(),
                ca.clone(),
                "-CAkey".into(),
                p("ca.key"),
                "-extfile".into(),
                p("leaf.ext"),
                "-out".into(),
                cert.clone(),
            ])
            .collect(),
    ] {
        let made = Command::new("openssl")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is needed for this test (.ci/run installs it)");
        assert!(made.success(), "openssl {args:?}");
    }
    let port = free_port();
    let _server = Server(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // SAFETY: no other thread of this test process reads the environment now; set
    // before the first TLS connection (the configuration is built once).
    unsafe { std::env::set_var(CA_FILE_VAR, &ca) };
    let until = Instant::now() + Duration::from_secs(10);
    let host = format!("localhost:{port}");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "s_server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = Conn::connect(&host, true, Duration::from_secs(5)).unwrap();
    assert!(matches!(c, Conn::Tls(_)));
    drop(c);
    let mut client = Client::new(&format!("https://{host}"), Duration::from_secs(5));
    let r = client.request("GET", "/", b"", &[]).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        String::from_utf8_lossy(&r.body).contains("s_server"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The certificate names localhost, not the address: refused.
    let wrong = Conn::connect(&format!("127.0.0.1:{port}"), true, Duration::from_secs(5));
    assert!(wrong.is_err());
    websocket_frames_over_tls_read_through_the_poll(&cert, &key);
}

/// The market feed's way of reading, over TLS: WebSocket frames a TLS server sends in
/// pieces (what its standard input is given, 16 KB records at most) are read from a
/// non-blocking socket watched by the feed's poll, every message whole and in order,
/// small and large (past the reader's buffer), with waits on the poll whenever the
/// session has nothing more. (The WebSocket handshake is the plain-TCP one, tested
/// against `minerva exchange`; here the session starts after it.)
fn websocket_frames_over_tls_read_through_the_poll(cert: &str, key: &str) {
    use minerva::net::poll::Quiet;
    use minerva::net::ws::{Wire, server_frame};
    use std::io::Write;
    let port = free_port();
    let mut child = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut to_client = child.stdin.take().unwrap();
    let _server = Server(child);
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "s_server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The connection above was s_server's one client until it closed; wait for it
    // to take the next.
    std::thread::sleep(Duration::from_millis(200));
    let mut rng = fastrand::Rng::with_seed(5);
    let messages: Vec<Vec<u8>> = (0..400)
        .map(|k| {
            let len = match k % 50 {
                0 => rng.usize(130_000..300_000),
                n if n % 7 == 0 => rng.usize(126..40_000),
                _ => rng.usize(1..2_000),
            };
            (0..len).map(|_| b'a' + rng.u8(..26)).collect()
        })
        .collect();
    let bytes: Vec<u8> = messages
        .iter()
        .flat_map(|m| server_frame(true, 1, m))
        .collect();
    let conn = Conn::connect(&format!("localhost:{port}"), true, Duration::from_secs(5)).unwrap();
    // In pieces of up to 50 KB with pauses, so the client finds partial frames and
    // partial records.
    let writer = std::thread::spawn(move || {
        let mut cuts = fastrand::Rng::with_seed(9);
        let mut at = 0;
        while at < bytes.len() {
            let n = cuts.usize(1..50_000).min(bytes.len() - at);
            if to_client.write_all(&bytes[at..at + n]).is_err() {
                return;
            }
            at += n;
            std::thread::sleep(Duration::from_millis(cuts.u64(0..5)));
        }
        // Kept open until the client has read: s_server ends the session at EOF.
        std::thread::sleep(Duration::from_secs(30));
    });
    let mut quiet = Quiet::default();
    quiet.watch(&conn).unwrap();
    let mut wire = Wire::over(conn, 1);
    let mut got = 0;
    let mut waits = 0;
    let until = Instant::now() + Duration::from_secs(60);
    while got < messages.len() {
        assert!(
            Instant::now() < until,
            "{got} of {} messages",
            messages.len()
        );
        match wire.read_message() {
            Ok(m) => {
                assert!(m == messages[got].as_slice(), "message {got} differs");
                got += 1;
                quiet.heard();
            }
            Err(e) if e.is_quiet() => {
                waits += 1;
                quiet.wait(Duration::from_millis(100));
            }
            Err(e) => panic!("after {got} messages: {e}"),
        }
    }
    // The poll was waited on: the socket was read non-blocking, not by luck at once.
    assert!(waits > 0);
    drop(wire);
    drop(writer);
}
