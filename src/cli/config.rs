//! `minerva.toml` (or `--config F`, or `MINERVA_CONFIG`): defaults for `run`, `record`
//! and `exchange`, and which environment variables hold each environment's keys.
//!
//! ```toml
//! [run]                       # any long flag of `minerva run`, by name
//! source = "binance"
//! endpoint = "testnet"
//! strategy = "strategy_0.toml"
//! journal = "journal.db"
//! pin = "2,3,4,5"
//!
//! [record]
//! symbols = ["BTCUSDT", "ETHUSDT"]
//! db = "postgres://minerva@db.internal/minerva"
//!
//! [exchange]
//! port = 9443
//!
//! [keys.binance]              # variable names, never keys; testnet's differ from live's
//! live = ["MINERVA_BINANCE_API_KEY", "MINERVA_BINANCE_API_SECRET"]
//! testnet = ["MY_TESTNET_KEY", "MY_TESTNET_SECRET"]
//!
//! [keys.kucoin]               # key, secret, passphrase
//! live = ["MY_KC_KEY", "MY_KC_SECRET", "MY_KC_PASSPHRASE"]
//!
//! [endpoints.binance.live]    # per market, servers in place of the published ones
//! spot = { rest = "https://api1.binance.com", ws = "wss://stream.binance.com:9443" }
//!
//! [endpoints.binance.local]
//! host = "10.0.0.7:9443"
//! ```
//!
//! The file's values become the command's flags; a flag on the command line wins. Every
//! key is checked against the command's own flags, with the file's line in the error.
//! `[keys.*]` and `[endpoints.*]` become `--key-env`/`--secret-env`/`--passphrase-env`
//! and `--rest`/`--ws`/`--host` of the run or recorder reaching that venue in that
//! environment. `minerva config check` prints the command lines the file gives, and
//! which key variables are set (never their values).

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The commands a file configures.
const COMMANDS: [&str; 3] = ["run", "record", "exchange"];

/// A flag and its values: one, or several for a list; none for a flag without a value.
type FlagValues = (String, Vec<String>);

/// A configuration file, read and checked.
#[derive(Debug)]
pub struct Config {
    /// Where it was read.
    pub path: PathBuf,
    /// Per command, its flags.
    sections: Vec<(String, Vec<FlagValues>)>,
    /// Key variables: (venue, environment, [key, secret(, passphrase)]).
    keys: Vec<(String, String, Vec<String>)>,
    /// Servers: (venue, environment, flag, value) — `rest`/`ws` as `MARKET=URL`, or
    /// the local exchange's `host`.
    endpoints: Vec<(String, String, &'static str, String)>,
}

/// The venues a file can name, and how many key variables each takes.
const VENUES: [(&str, usize); 2] = [("binance", 2), ("kucoin", 3)];
/// The environments.
const ENVIRONMENTS: [&str; 3] = ["live", "testnet", "local"];

/// The file's line of byte `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The long flags of `minerva <cmd>` and whether each takes values, and appends.
fn flags_of(cmd: &str) -> Vec<(String, bool, bool)> {
    let root = super::Cli::command();
    let Some(sub) = root.find_subcommand(cmd) else {
        return Vec::new();
    };
    sub.get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            let takes = a.get_action().takes_values();
            let appends = matches!(a.get_action(), clap::ArgAction::Append);
            Some((long.to_string(), takes, appends))
        })
        .collect()
}

/// Reads and checks `path`.
///
/// # Errors
/// Unreadable, not TOML, an unknown table or flag, a value of the wrong kind: each
/// with the file and line.
pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let doc = toml_edit::Document::parse(text.as_str())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let at = |span: Option<std::ops::Range<usize>>| {
        format!(
            "{}:{}",
            path.display(),
            span.map_or(1, |s| line_of(&text, s.start))
        )
    };
    let root = doc.as_table();
    let mut sections = Vec::new();
    let mut keys = Vec::new();
    let mut endpoints = Vec::new();
    for (name, item) in root.iter() {
        let key_span = root.key(name).and_then(|k| k.span());
        let Some(table) = item.as_table_like() else {
            bail!(
                "{}: `{name}` is not a table ([run], [record], [exchange], [keys.*] or [endpoints.*])",
                at(key_span)
            );
        };
        if name == "keys" || name == "endpoints" {
            for (venue, v) in table.iter() {
                let span = table.key(venue).and_then(|k| k.span());
                let Some(&(_, n_vars)) = VENUES.iter().find(|(n, _)| *n == venue) else {
                    bail!(
                        "{}: [{name}.{venue}]: the venues are binance and kucoin",
                        at(span)
                    );
                };
                let Some(envs) = v.as_table_like() else {
                    bail!("{}: [{name}.{venue}] must be a table", at(span));
                };
                for (env, item) in envs.iter() {
                    let span = envs.key(env).and_then(|k| k.span());
                    if !ENVIRONMENTS.contains(&env) {
                        bail!(
                            "{}: [{name}.{venue}] {env}: the environments are live, testnet and local",
                            at(span)
                        );
                    }
                    if name == "keys" {
                        keys.push((
                            venue.to_string(),
                            env.to_string(),
                            key_vars(item, n_vars).map_err(|e| {
                                anyhow::anyhow!("{}: [keys.{venue}] {env}: {e}", at(span))
                            })?,
                        ));
                    } else {
                        for (flag, value) in servers(env, item).map_err(|e| {
                            anyhow::anyhow!("{}: [endpoints.{venue}.{env}] {e}", at(span))
                        })? {
                            endpoints.push((venue.to_string(), env.to_string(), flag, value));
                        }
                    }
                }
            }
            continue;
        }
        if !COMMANDS.contains(&name) {
            bail!(
                "{}: [{name}]: the file configures [run], [record], [exchange], [keys.*] and [endpoints.*]",
                at(key_span)
            );
        }
        let flags = flags_of(name);
        let mut values = Vec::new();
        for (key, v) in table.iter() {
            let span = table.key(key).and_then(|k| k.span());
            let flag = key.replace('_', "-");
            let Some(&(_, takes, appends)) = flags.iter().find(|(f, ..)| *f == flag) else {
                bail!(
                    "{}: [{name}] {key}: not a flag of `minerva {name}` (see minerva {name} --help)",
                    at(span)
                );
            };
            if ["config", "help", "version"].contains(&flag.as_str()) {
                bail!("{}: [{name}] {key}: not set from a file", at(span));
            }
            let scalar = |v: &toml_edit::Value| -> Option<String> {
                match v {
                    toml_edit::Value::String(s) => Some(s.value().clone()),
                    toml_edit::Value::Integer(i) => Some(i.value().to_string()),
                    toml_edit::Value::Float(f) => Some(f.value().to_string()),
                    _ => None,
                }
            };
            let Some(value) = v.as_value() else {
                bail!("{}: [{name}] {key}: expected a value", at(span));
            };
            let vals: Vec<String> = match value {
                toml_edit::Value::Boolean(b) if !takes => {
                    if !*b.value() {
                        continue;
                    }
                    Vec::new()
                }
                toml_edit::Value::Array(arr) if takes => {
                    let items: Option<Vec<String>> = arr.iter().map(scalar).collect();
                    let Some(items) = items else {
                        bail!("{}: [{name}] {key}: a list of strings or numbers", at(span));
                    };
                    if appends {
                        items
                    } else {
                        vec![items.join(",")]
                    }
                }
                v if takes => match scalar(v) {
                    Some(s) => vec![s],
                    None => bail!(
                        "{}: [{name}] {key}: expected a string or a number",
                        at(span)
                    ),
                },
                _ => bail!(
                    "{}: [{name}] {key}: `--{flag}` takes no value: true or false",
                    at(span)
                ),
            };
            values.push((flag, vals));
        }
        sections.push((name.to_string(), values));
    }
    Ok(Config {
        path: path.to_path_buf(),
        sections,
        keys,
        endpoints,
    })
}

/// `["KEY_VAR", "SECRET_VAR"(, "PASSPHRASE_VAR")]`: `n` different variable names.
fn key_vars(item: &toml_edit::Item, n: usize) -> Result<Vec<String>, String> {
    let names: Option<Vec<String>> = item.as_array().and_then(|a| {
        a.iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
    });
    let valid =
        |v: &String| !v.is_empty() && v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    let want = if n == 2 {
        "[\"KEY_VARIABLE\", \"SECRET_VARIABLE\"]"
    } else {
        "[\"KEY_VARIABLE\", \"SECRET_VARIABLE\", \"PASSPHRASE_VARIABLE\"]"
    };
    match names {
        Some(v)
            if v.len() == n
                && v.iter().all(valid)
                && (0..n).all(|i| !v[i + 1..].contains(&v[i])) =>
        {
            Ok(v)
        }
        _ => Err(format!(
            "expected {want} (different environment variable names, not keys)"
        )),
    }
}

/// An environment's servers: `host = "H:P"` for local; per market (spot, usdm, coinm)
/// `{ rest = "URL", ws = "URL" }` for testnet and live. As flags and values.
fn servers(env: &str, item: &toml_edit::Item) -> Result<Vec<(&'static str, String)>, String> {
    let Some(t) = item.as_table_like() else {
        return Err("must be a table".into());
    };
    let mut out = Vec::new();
    for (key, v) in t.iter() {
        if env == "local" {
            match (key, v.as_str()) {
                ("host", Some(h)) if !h.is_empty() && !h.contains("://") => {
                    out.push(("host", h.to_string()));
                }
                _ => {
                    return Err(format!(
                        "{key}: the local exchange takes host = \"HOST:PORT\""
                    ));
                }
            }
            continue;
        }
        let Some(servers) = v.as_table_like() else {
            return Err(format!(
                "{key}: expected {{ rest = \"URL\", ws = \"URL\" }}"
            ));
        };
        for (kind, url) in servers.iter() {
            let flag = match kind {
                "rest" => "rest",
                "ws" => "ws",
                _ => return Err(format!("{key}.{kind}: the servers are rest and ws")),
            };
            let Some(url) = url.as_str() else {
                return Err(format!("{key}.{kind}: expected a URL"));
            };
            let value = format!("{key}={url}");
            super::access::parse_server(&value).map_err(|e| format!("{key}.{kind}: {e}"))?;
            out.push((flag, value));
        }
    }
    Ok(out)
}

/// The file to read: `--config F` (taken out of `argv`), else `MINERVA_CONFIG`, else
/// `minerva.toml` in the current directory when there is one.
///
/// # Errors
/// `--config` without a file.
pub fn find(argv: &mut Vec<OsString>) -> Result<Option<PathBuf>> {
    let mut found = None;
    let mut k = 1;
    while k < argv.len() {
        let a = argv[k].to_string_lossy().into_owned();
        if a == "--" {
            break;
        }
        if a == "--config" {
            let Some(f) = argv.get(k + 1).cloned() else {
                bail!("--config: give the configuration file");
            };
            argv.drain(k..k + 2);
            found = Some(PathBuf::from(f));
            continue;
        }
        if let Some(f) = a.strip_prefix("--config=") {
            found = Some(PathBuf::from(f));
            argv.remove(k);
            continue;
        }
        k += 1;
    }
    if found.is_some() {
        return Ok(found);
    }
    if let Some(f) = std::env::var_os("MINERVA_CONFIG").filter(|f| !f.is_empty()) {
        return Ok(Some(PathBuf::from(f)));
    }
    let here = PathBuf::from("minerva.toml");
    Ok(here.is_file().then_some(here))
}

/// True when `argv` sets `--flag` (as `--flag`, `--flag V` or `--flag=V`).
fn given(argv: &[OsString], flag: &str) -> bool {
    let long = format!("--{flag}");
    argv.iter().any(|a| {
        a.to_str()
            .is_some_and(|s| s == long || s.starts_with(&format!("{long}=")))
    })
}

impl Config {
    /// The command `argv` runs, when the file configures it.
    pub fn command_of(argv: &[OsString]) -> Option<&'static str> {
        let first = argv
            .iter()
            .skip(1)
            .find(|a| a.to_str().is_some_and(|s| !s.starts_with('-')))?;
        COMMANDS.into_iter().find(|c| first == c)
    }

    /// `argv` with the file's flags for its command added (after the command's name,
    /// those on the command line winning), and the key variables for the run's
    /// environment.
    pub fn apply(&self, argv: Vec<OsString>) -> Vec<OsString> {
        let Some(at) = argv
            .iter()
            .position(|a| a.to_str().is_some_and(|s| COMMANDS.contains(&s)))
        else {
            return argv;
        };
        let cmd = argv[at].to_string_lossy().into_owned();
        let mut added: Vec<OsString> = Vec::new();
        if let Some((_, values)) = self.sections.iter().find(|(n, _)| *n == cmd) {
            for (flag, vals) in values {
                if given(&argv, flag) {
                    continue;
                }
                if vals.is_empty() {
                    added.push(format!("--{flag}").into());
                }
                for v in vals {
                    added.push(format!("--{flag}").into());
                    added.push(v.into());
                }
            }
        }
        if let Some(venue) = self.venue(&argv, &cmd) {
            let env = self
                .setting(&argv, &cmd, "endpoint")
                .unwrap_or_else(|| "local".into());
            // Keys: a run's, and a KuCoin recorder's (its full-depth snapshots are signed).
            let wants_keys = cmd == "run" || venue == "kucoin";
            if wants_keys && !given(&argv, "key-env") {
                if let Some((.., vars)) =
                    self.keys.iter().find(|(v, e, _)| *v == venue && *e == env)
                {
                    for (flag, var) in ["--key-env", "--secret-env", "--passphrase-env"]
                        .iter()
                        .zip(vars)
                    {
                        added.extend([(*flag).into(), var.into()]);
                    }
                }
            }
            for (.., flag, value) in self
                .endpoints
                .iter()
                .filter(|(v, e, ..)| *v == venue && *e == env)
            {
                if !given(&argv, flag) {
                    added.extend([format!("--{flag}").into(), value.into()]);
                }
            }
        }
        let mut out = argv;
        out.splice(at + 1..at + 1, added);
        out
    }

    /// The venue `cmd` reaches: a run's `--source` when it is a venue, a recorder's
    /// `--venue` (Binance by default); none for the local exchange.
    fn venue(&self, argv: &[OsString], cmd: &str) -> Option<String> {
        let v = match cmd {
            "run" => self.setting(argv, cmd, "source")?,
            "record" => self
                .setting(argv, cmd, "venue")
                .unwrap_or_else(|| "binance".into()),
            _ => return None,
        };
        VENUES.iter().any(|(n, _)| *n == v).then_some(v)
    }

    /// `--flag`'s value: the command line's, else the file's `[cmd]` one.
    fn setting(&self, argv: &[OsString], cmd: &str, flag: &str) -> Option<String> {
        let args: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let long = format!("--{flag}");
        for (k, a) in args.iter().enumerate() {
            if *a == long {
                if let Some(v) = args.get(k + 1) {
                    return Some(v.clone());
                }
            }
            if let Some(v) = a.strip_prefix(&format!("{long}=")) {
                return Some(v.to_string());
            }
        }
        self.sections
            .iter()
            .find(|(n, _)| n == cmd)
            .and_then(|(_, v)| v.iter().find(|(f, _)| f == flag))
            .and_then(|(_, v)| v.first().cloned())
    }

    /// Checks the file further than [`load`] does: each command's flags parse (values
    /// of the right kind, required flags), and no two environments share a key
    /// variable.
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self) -> Result<()> {
        for (i, (v1, e1, vars1)) in self.keys.iter().enumerate() {
            for (v2, e2, vars2) in &self.keys[i + 1..] {
                if let Some(shared) = vars1.iter().find(|v| vars2.contains(v)) {
                    bail!(
                        "{}: [keys.{v1}] {e1} and [keys.{v2}] {e2} share {shared}: each environment's keys live in their own variables",
                        self.path.display(),
                    );
                }
            }
        }
        for (cmd, _) in &self.sections {
            let argv = self.apply(vec!["minerva".into(), cmd.into()]);
            if let Err(e) = super::Cli::try_parse_from(&argv) {
                // Required flags the file leaves to the command line are fine here.
                if e.kind() != clap::error::ErrorKind::MissingRequiredArgument {
                    bail!(
                        "{}: [{cmd}]: {}",
                        self.path.display(),
                        e.to_string().lines().next().unwrap_or_default()
                    );
                }
            }
        }
        Ok(())
    }

    /// What `minerva config check` prints: each command's line from the file, and the
    /// key variables per environment, set or not (never a value).
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}: valid\n", self.path.display());
        for (cmd, _) in &self.sections {
            let argv = self.apply(vec!["minerva".into(), cmd.into()]);
            let line: Vec<String> = argv
                .iter()
                .map(|a| {
                    // A database URL's password is never shown.
                    let s = minerva::store::postgres::redact(&a.to_string_lossy());
                    if s.contains(' ') || s.is_empty() {
                        format!("'{s}'")
                    } else {
                        s
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", line.join(" "));
        }
        let set = |v: &str| {
            if std::env::var_os(v).is_some_and(|x| !x.is_empty()) {
                "set"
            } else {
                "not set"
            }
        };
        for (venue, env) in [
            ("binance", "live"),
            ("binance", "testnet"),
            ("binance", "local"),
            ("kucoin", "live"),
            ("kucoin", "local"),
        ] {
            let vars: Vec<String> = match self.keys.iter().find(|(v, e, _)| *v == venue && e == env)
            {
                Some((.., vars)) => vars.clone(),
                None => default_key_vars(venue, env)
                    .iter()
                    .map(|v| v.to_string())
                    .collect(),
            };
            let shown: Vec<String> = vars.iter().map(|v| format!("{v} ({})", set(v))).collect();
            let _ = writeln!(out, "keys for {venue} {env}: {}", shown.join(", "));
        }
        for (venue, env, flag, value) in &self.endpoints {
            let _ = writeln!(out, "servers for {venue} {env}: --{flag} {value}");
        }
        out
    }
}

/// The variables read when a file names none (the seed's names are further
/// fallbacks, docs/operations.md).
fn default_key_vars(venue: &str, env: &str) -> &'static [&'static str] {
    use minerva::venues::{binance, kucoin};
    match (venue, env) {
        ("kucoin", _) => &[
            kucoin::keys::API_KEY_VARS[0],
            kucoin::keys::API_SECRET_VARS[0],
            kucoin::keys::PASSPHRASE_VARS[0],
        ],
        (_, "testnet") => &[
            binance::keys::TESTNET_API_KEY_VAR,
            binance::keys::TESTNET_API_SECRET_VAR,
        ],
        _ => &[binance::keys::API_KEY_VAR, binance::keys::API_SECRET_VAR],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
