//! TLS for Binance's `https://` and `wss://` endpoints, tried against a real TLS
//! server on loopback (`openssl s_server` with a certificate made here and trusted
//! through `MINERVA_CA_FILE`): the handshake completes, the certificate is checked
//! against the name (an address not in it is refused), and HTTP flows over it.
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
fn https_to_a_tls_server_checks_its_certificate() {
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
}
