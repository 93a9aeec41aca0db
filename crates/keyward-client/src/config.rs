//! Where the client's server URL and API key come from: `--url`/`--key`, then
//! `KEYWARD_URL`/`KEYWARD_API_KEY`, then `$XDG_CONFIG_HOME/keyward/config.toml`
//! (default `~/.config/keyward/config.toml`), which `login` writes with mode 0600.

use crate::cli::CliError;
use std::fmt;
use std::path::{Path, PathBuf};

pub const URL_ENV: &str = "KEYWARD_URL";
pub const KEY_ENV: &str = "KEYWARD_API_KEY";
/// The client's own config file; not `KEYWARD_CONFIG`, which is the server's settings file.
pub const CONFIG_ENV: &str = "KEYWARD_CLIENT_CONFIG";

/// The stored URL and key. `Debug` never shows the key.
#[derive(Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub url: Option<String>,
    pub key: Option<String>,
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFile")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where a setting came from, as `whoami` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment {var}"),
            Source::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

impl Source {
    /// `flag`, `environment` or `file`, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Flag(_) => "flag",
            Source::Env(_) => "environment",
            Source::File(_) => "file",
        }
    }
}

/// A setting and where it came from.
#[derive(Clone)]
pub struct Sourced {
    pub value: String,
    pub source: Source,
}

/// Never prints the value, which may be a key: only where it came from.
impl std::fmt::Debug for Sourced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sourced")
            .field("value", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// `--config` (or KEYWARD_CLIENT_CONFIG, which clap reads into it), else
/// `$XDG_CONFIG_HOME/keyward/config.toml`, else `$HOME/.config/keyward/config.toml`.
pub fn config_path(given: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(path) = given.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(path.to_path_buf());
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(CliError::failure(
                    "cannot find the config directory: set XDG_CONFIG_HOME or HOME",
                ))
            }
        },
    };
    Ok(base.join("keyward").join("config.toml"))
}

/// The config file, if there is one; warns on stderr when group or others may read it.
pub fn load(path: &Path) -> Result<Option<ConfigFile>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CliError::failure(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    warn_if_readable_by_others(path);
    let file = toml::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "{} is not a valid Keyward config file ({}); fix it or run `keyward logout`",
            path.display(),
            e.message()
        ))
    })?;
    Ok(Some(file))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} holds an API key but is readable by group or others (mode {mode:04o}); run: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Writes the file with mode 0600 (its directory 0700), replacing any previous one.
pub fn save(path: &Path, file: &ConfigFile) -> Result<(), CliError> {
    use std::io::Write;
    let fail =
        |e: std::io::Error| CliError::failure(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(fail)?;
    let text = toml::to_string(file).map_err(|e| CliError::failure(e.to_string()))?;
    let tmp = dir.join(".config.toml.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut out = private_file(&tmp).map_err(fail)?;
    out.write_all(text.as_bytes()).map_err(fail)?;
    out.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// The flag, else the (non-empty) environment variable, else the file's value.
pub fn pick(
    flag: Option<&str>,
    flag_name: &'static str,
    env: &'static str,
    file: Option<&str>,
    path: &Path,
) -> Option<Sourced> {
    let sourced = |value: &str, source| Sourced {
        value: value.trim().to_string(),
        source,
    };
    if let Some(v) = flag.filter(|v| !v.trim().is_empty()) {
        return Some(sourced(v, Source::Flag(flag_name)));
    }
    if let Some(v) = std::env::var(env).ok().filter(|v| !v.trim().is_empty()) {
        return Some(sourced(&v, Source::Env(env)));
    }
    file.filter(|v| !v.trim().is_empty())
        .map(|v| sourced(v, Source::File(path.to_path_buf())))
}

/// The API key from standard input, for `login --key-stdin`: the first line, trimmed.
pub fn read_key_from_stdin() -> Result<String, CliError> {
    use std::io::{BufRead, IsTerminal, Read};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("API key: ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .take(64 * 1024)
        .read_line(&mut line)
        .map_err(|e| {
            CliError::usage(format!("cannot read the API key from standard input: {e}"))
        })?;
    let key = line.trim();
    if key.is_empty() {
        return Err(CliError::usage(
            "--key-stdin read no API key: pipe it in, e.g. `echo \"$KEYWARD_API_KEY\" | keyward login --url URL --key-stdin`",
        ));
    }
    Ok(key.to_string())
}
