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
//! ```
//!
//! The file's values become the command's flags; a flag on the command line wins. Every
//! key is checked against the command's own flags, with the file's line in the error.
//! `minerva config check` prints the command lines the file gives, and which key
//! variables are set (never their values).

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
    /// Binance's key variables per environment: (environment, key var, secret var).
    keys: Vec<(String, String, String)>,
}

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
    for (name, item) in root.iter() {
        let key_span = root.key(name).and_then(|k| k.span());
        let Some(table) = item.as_table_like() else {
            bail!(
                "{}: `{name}` is not a table ([run], [record], [exchange] or [keys.binance])",
                at(key_span)
            );
        };
        if name == "keys" {
            for (venue, v) in table.iter() {
                let span = table.key(venue).and_then(|k| k.span());
                if venue != "binance" {
                    bail!(
                        "{}: [keys.{venue}]: only [keys.binance] is read (KuCoin's keys: MINERVA_KUCOIN_API_*)",
                        at(span)
                    );
                }
                let Some(envs) = v.as_table_like() else {
                    bail!("{}: [keys.binance] must be a table", at(span));
                };
                for (env, pair) in envs.iter() {
                    let span = envs.key(env).and_then(|k| k.span());
                    if !["live", "testnet", "local"].contains(&env) {
                        bail!(
                            "{}: [keys.binance] {env}: the environments are live, testnet and local",
                            at(span)
                        );
                    }
                    let names: Option<Vec<&str>> = pair
                        .as_array()
                        .map(|a| a.iter().map(|v| v.as_str()).collect::<Option<Vec<_>>>())
                        .unwrap_or(None);
                    let valid = |n: &str| {
                        !n.is_empty() && n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
                    };
                    match names.as_deref() {
                        Some([k, s]) if valid(k) && valid(s) && k != s => {
                            keys.push((env.to_string(), k.to_string(), s.to_string()));
                        }
                        _ => bail!(
                            "{}: [keys.binance] {env}: expected [\"KEY_VARIABLE\", \"SECRET_VARIABLE\"] (two different environment variable names, not keys)",
                            at(span)
                        ),
                    }
                }
            }
            continue;
        }
        if !COMMANDS.contains(&name) {
            bail!(
                "{}: [{name}]: the file configures [run], [record], [exchange] and [keys.binance]",
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
    })
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
        if cmd == "run" && !given(&argv, "key-env") {
            let env = self.endpoint(&argv);
            if let Some((_, k, s)) = self.keys.iter().find(|(e, ..)| *e == env) {
                added.extend([
                    "--key-env".into(),
                    k.into(),
                    "--secret-env".into(),
                    s.into(),
                ]);
            }
        }
        let mut out = argv;
        out.splice(at + 1..at + 1, added);
        out
    }

    /// The run's environment: the command line's `--endpoint`, the file's, or local.
    fn endpoint(&self, argv: &[OsString]) -> String {
        let args: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for (k, a) in args.iter().enumerate() {
            if a == "--endpoint" {
                if let Some(v) = args.get(k + 1) {
                    return v.clone();
                }
            }
            if let Some(v) = a.strip_prefix("--endpoint=") {
                return v.to_string();
            }
        }
        self.sections
            .iter()
            .find(|(n, _)| n == "run")
            .and_then(|(_, v)| v.iter().find(|(f, _)| f == "endpoint"))
            .and_then(|(_, v)| v.first().cloned())
            .unwrap_or_else(|| "local".into())
    }

    /// Checks the file further than [`load`] does: each command's flags parse (values
    /// of the right kind, required flags), and no two environments share a key
    /// variable.
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self) -> Result<()> {
        for (i, (e1, k1, s1)) in self.keys.iter().enumerate() {
            for (e2, k2, s2) in &self.keys[i + 1..] {
                let shared: Vec<&String> = [k1, s1]
                    .into_iter()
                    .filter(|v| *v == k2 || *v == s2)
                    .collect();
                if !shared.is_empty() {
                    bail!(
                        "{}: [keys.binance] {e1} and {e2} share {}: each environment's keys live in their own variables",
                        self.path.display(),
                        shared[0]
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
        for env in ["live", "testnet", "local"] {
            let (k, s) = match self.keys.iter().find(|(e, ..)| e == env) {
                Some((_, k, s)) => (k.clone(), s.clone()),
                None if env == "testnet" => (
                    "MINERVA_BINANCE_TESTNET_API_KEY".into(),
                    "MINERVA_BINANCE_TESTNET_API_SECRET".into(),
                ),
                None => (
                    "MINERVA_BINANCE_API_KEY".into(),
                    "MINERVA_BINANCE_API_SECRET".into(),
                ),
            };
            let _ = writeln!(out, "keys for {env}: {k} ({}), {s} ({})", set(&k), set(&s));
        }
        out
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
