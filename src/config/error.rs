//! Configuration errors and warnings that name the file, line and key.

use std::fmt;
use std::path::PathBuf;

/// A stack definition that cannot be used. `gauntlet` exits 2 on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Key path inside the file (`services[0].routes[1].methods`), when known.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.into(),
            line: None,
            column: None,
            key: None,
            message: message.into(),
        }
    }

    pub fn at_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn at_line(mut self, line: usize, column: Option<usize>) -> Self {
        self.line = Some(line);
        self.column = column;
        self
    }
}

impl fmt::Display for ConfigError {
    /// `scenarios/x/kong.yml:12:5: services[0].retries: invalid type ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// A real Kong feature Gauntlet does not emulate: never silently ignored, always reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigWarning {
    pub file: PathBuf,
    /// 1-based line of the key, when found.
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
    /// Names of the routes the ignored feature affects (empty when it affects none directly).
    pub routes: Vec<String>,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}: {}", self.key, self.message)?;
        if !self.routes.is_empty() {
            write!(f, " (affects routes: {})", self.routes.join(", "))?;
        }
        Ok(())
    }
}
