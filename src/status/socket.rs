//! The read-only status socket: a Unix socket (mode 0600: this user only) that writes
//! every new [`Status`] as one JSON line to each connected reader. It never reads
//! what a client sends; a client too slow to take a line within two seconds is
//! dropped, so a stuck viewer costs the run nothing.

use super::{Status, StatusBoard, StatusError};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Readers served at once; more are turned away (closed at once).
const MAX_READERS: usize = 16;

/// A served status socket; dropping it stops serving and removes the socket file.
#[derive(Debug)]
pub struct StatusServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StatusError + '_ {
    move |source| StatusError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Serves `board` on a Unix socket at `path`. A stale socket left by a run that died
/// is replaced; a live one, or any other file there, is refused.
///
/// # Errors
/// [`StatusError::InUse`] when another process serves there, [`StatusError::Io`] when
/// the socket cannot be made.
pub fn serve(board: Arc<StatusBoard>, path: &Path) -> Result<StatusServer, StatusError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(StatusError::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is there; not replacing it",
                ),
            });
        }
        if UnixStream::connect(path).is_ok() {
            return Err(StatusError::InUse(path.display().to_string()));
        }
        std::fs::remove_file(path).map_err(io_err(path))?;
    }
    let listener = UnixListener::bind(path).map_err(io_err(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err(path))?;
    listener.set_nonblocking(true).map_err(io_err(path))?;
    let stop = Arc::new(AtomicBool::new(false));
    let readers = Arc::new(AtomicUsize::new(0));
    let accept = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("minerva-status".into())
            .spawn(move || {
                crate::core::mark_cold_thread();
                accept_loop(listener, board, stop, readers)
            })
            .map_err(io_err(path))?
    };
    Ok(StatusServer {
        path: path.to_path_buf(),
        stop,
        accept: Some(accept),
    })
}

fn accept_loop(
    listener: UnixListener,
    board: Arc<StatusBoard>,
    stop: Arc<AtomicBool>,
    readers: Arc<AtomicUsize>,
) {
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                if readers.fetch_add(1, Ordering::AcqRel) >= MAX_READERS {
                    readers.fetch_sub(1, Ordering::AcqRel);
                    tracing::warn!("status socket: {MAX_READERS} readers already; one turned away");
                    continue;
                }
                let (board, stop, readers) = (board.clone(), stop.clone(), readers.clone());
                let spawned = std::thread::Builder::new()
                    .name("minerva-status-reader".into())
                    .spawn(move || {
                        crate::core::mark_cold_thread();
                        write_loop(stream, &board, &stop);
                        readers.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    tracing::warn!("status socket: no thread for a reader");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                tracing::warn!(error = %e, "status socket: accept failed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Writes the latest snapshot, then each newer one, until the run ends, the server
/// stops or the reader fails to keep up.
fn write_loop(stream: UnixStream, board: &StatusBoard, stop: &AtomicBool) {
    if stream.set_nonblocking(false).is_err()
        || stream
            .set_write_timeout(Some(Duration::from_secs(2)))
            .is_err()
    {
        return;
    }
    let mut out = std::io::BufWriter::new(stream);
    let mut seen = 0;
    if let Some((v, s)) = board.latest() {
        seen = v;
        if write_line(&mut out, &s).is_err() {
            return;
        }
    }
    while !stop.load(Ordering::Acquire) {
        match board.wait_newer(seen, Duration::from_millis(200)) {
            Ok(Some((v, s))) => {
                seen = v;
                if write_line(&mut out, &s).is_err() {
                    tracing::info!("status socket: a reader left or fell behind; dropped");
                    return;
                }
            }
            Ok(None) => {}
            Err(()) => return,
        }
    }
}

fn write_line(out: &mut impl Write, s: &Status) -> std::io::Result<()> {
    let line = sonic_rs::to_string(s).map_err(std::io::Error::other)?;
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Connects to a status socket and reads its snapshots as they come (blocking).
///
/// # Errors
/// [`StatusError::Io`] when nothing serves there; each item is
/// [`StatusError::Malformed`] for a line that is not a snapshot.
pub fn read_feed(
    path: &Path,
) -> Result<impl Iterator<Item = Result<Status, StatusError>> + Send + use<>, StatusError> {
    let stream = UnixStream::connect(path).map_err(io_err(path))?;
    let name = path.display().to_string();
    Ok(BufReader::new(stream).lines().map(move |line| {
        let line = line.map_err(|source| StatusError::Io {
            path: name.clone(),
            source,
        })?;
        sonic_rs::from_str(&line).map_err(|e| StatusError::Malformed {
            path: name.clone(),
            reason: e.to_string(),
        })
    }))
}
