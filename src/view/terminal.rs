//! The view's terminal loop: feeds read on their own threads, the screen redrawn ten
//! times a second, keys read between redraws. Cold path only.

use super::{FeedView, Screen, draw};
use crate::status::StatusBoard;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use std::io::{IsTerminal, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where a view reads its snapshots.
#[derive(Debug, Clone)]
pub enum Feed {
    /// The board of a pipeline running in this process (`minerva run --view`).
    Board(Arc<StatusBoard>),
    /// A status socket of another process (`minerva run --status PATH`).
    Socket(PathBuf),
}

/// Why the view could not run.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// Nothing to draw on.
    #[error("the view needs a terminal: standard output is not one")]
    NotATerminal,
    /// The terminal could not be set up or drawn on.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Shows `feeds` until the user quits (q, Esc or Ctrl-C). With `quit_stops_run`
/// (the view of this process's own run) quitting asks the run to stop, and the view
/// also ends by itself when the run was stopped by a signal; a run that ended on its
/// own is kept on screen until the user quits.
///
/// # Errors
/// [`ViewError`] when standard output is not a terminal or the terminal fails.
pub fn run(feeds: Vec<Feed>, quit_stops_run: bool) -> Result<(), ViewError> {
    if !std::io::stdout().is_terminal() {
        return Err(ViewError::NotATerminal);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let shared: Vec<Arc<Mutex<FeedView>>> = feeds
        .into_iter()
        .map(|feed| {
            let name = match &feed {
                Feed::Board(_) => "this run".to_string(),
                Feed::Socket(p) => p.display().to_string(),
            };
            let slot = Arc::new(Mutex::new(FeedView {
                name,
                ..FeedView::default()
            }));
            let (slot2, stop2) = (slot.clone(), stop.clone());
            // Detached: a socket reader may sit in a read until the process ends.
            let _ = std::thread::Builder::new()
                .name("minerva-view-feed".into())
                .spawn(move || read_feed(feed, &slot2, &stop2));
            slot
        })
        .collect();
    // Log lines written while the view owns the screen are kept and shown after it.
    let capture = StderrCapture::start();
    let result = screen_loop(&shared, quit_stops_run);
    stop.store(true, Ordering::Release);
    drop(capture);
    result
}

fn lock(m: &Mutex<FeedView>) -> std::sync::MutexGuard<'_, FeedView> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn screen_loop(feeds: &[Arc<Mutex<FeedView>>], quit_stops_run: bool) -> Result<(), ViewError> {
    let mut term = ratatui::try_init()?;
    let mut screen = Screen::default();
    let outcome = (|| -> Result<(), ViewError> {
        loop {
            if !screen.paused || screen.feeds.is_empty() {
                screen.feeds = feeds.iter().map(|f| lock(f).clone()).collect();
            }
            term.draw(|f| draw(f, &screen))?;
            if quit_stops_run
                && crate::shutdown::requested()
                && feeds.iter().all(|f| lock(f).ended.is_some())
            {
                return Ok(());
            }
            if !event::poll(Duration::from_millis(100))? {
                continue;
            }
            let Event::Key(k) = event::read()? else {
                continue;
            };
            if k.kind != KeyEventKind::Press {
                continue;
            }
            let n = feeds.len().max(1);
            match k.code {
                KeyCode::Char('q') | KeyCode::Esc => break,
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => break,
                KeyCode::Char('p') | KeyCode::Char(' ') => screen.paused = !screen.paused,
                KeyCode::Right | KeyCode::Tab | KeyCode::Char('n') => {
                    screen.selected = (screen.selected + 1) % n;
                    screen.feeds = feeds.iter().map(|f| lock(f).clone()).collect();
                }
                KeyCode::Left | KeyCode::BackTab => {
                    screen.selected = (screen.selected + n - 1) % n;
                    screen.feeds = feeds.iter().map(|f| lock(f).clone()).collect();
                }
                // A run of several symbols: whose panels are drawn.
                KeyCode::Down | KeyCode::Up | KeyCode::Char('j') | KeyCode::Char('k') => {
                    let symbols = screen
                        .feeds
                        .get(screen.selected)
                        .and_then(|f| f.status.as_deref())
                        .map_or(1, |s| s.symbols.len().max(1));
                    let down = matches!(k.code, KeyCode::Down | KeyCode::Char('j'));
                    screen.symbol = if down {
                        (screen.symbol + 1) % symbols
                    } else {
                        (screen.symbol + symbols - 1) % symbols
                    };
                }
                _ => {}
            }
        }
        if quit_stops_run {
            crate::shutdown::request();
        }
        Ok(())
    })();
    ratatui::try_restore()?;
    outcome
}

/// Keeps `slot` up to date from `feed` until it ends or the view stops.
fn read_feed(feed: Feed, slot: &Mutex<FeedView>, stop: &AtomicBool) {
    match feed {
        Feed::Board(board) => {
            let mut seen = 0;
            while !stop.load(Ordering::Acquire) {
                match board.wait_newer(seen, Duration::from_millis(200)) {
                    Ok(Some((v, s))) => {
                        seen = v;
                        lock(slot).status = Some(s);
                    }
                    Ok(None) => {}
                    Err(()) => {
                        lock(slot).ended = Some("the run ended".into());
                        return;
                    }
                }
            }
        }
        Feed::Socket(path) => {
            let lines = match crate::status::read_feed(&path) {
                Ok(l) => l,
                Err(e) => {
                    lock(slot).ended = Some(e.to_string());
                    return;
                }
            };
            for s in lines {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                match s {
                    Ok(s) => lock(slot).status = Some(Arc::new(s)),
                    Err(e) => {
                        lock(slot).ended = Some(e.to_string());
                        return;
                    }
                }
            }
            lock(slot).ended = Some("the run ended (its socket closed)".into());
        }
    }
}

/// Standard error sent to an unlinked temporary file while the view owns the screen,
/// and written back to the real one after.
struct StderrCapture {
    saved: i32,
    file: std::fs::File,
}

impl StderrCapture {
    fn start() -> Option<Self> {
        let path = std::env::temp_dir().join(format!("minerva-view-{}.log", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .ok()?;
        let _ = std::fs::remove_file(&path);
        use std::os::fd::AsRawFd;
        // SAFETY: dup/dup2 on valid descriptors (2 and an open file); the saved copy
        // is restored and closed in Drop.
        unsafe {
            let saved = libc::dup(2);
            if saved < 0 {
                return None;
            }
            if libc::dup2(file.as_raw_fd(), 2) < 0 {
                libc::close(saved);
                return None;
            }
            Some(Self { saved, file })
        }
    }
}

impl Drop for StderrCapture {
    fn drop(&mut self) {
        // SAFETY: `saved` is the descriptor `start` duplicated from 2.
        unsafe {
            libc::dup2(self.saved, 2);
            libc::close(self.saved);
        }
        let mut kept = Vec::new();
        if self.file.rewind().is_ok() && self.file.read_to_end(&mut kept).is_ok() {
            let _ = std::io::stderr().write_all(&kept);
        }
    }
}
