//! An ordered variable list (ENV and ARG values in scope), the environment
//! every expansion and every RUN step sees.

use crate::shell::Env;

/// `KEY=value` pairs in first-definition order; setting a key again
/// replaces its value in place. Kept as `KEY=value` strings, the form
/// every RUN step's environment needs, so handing it over is a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvList {
    vars: Vec<String>,
}

/// Splits `KEY=value` (the key never contains `=`).
fn split(kv: &str) -> (&str, &str) {
    kv.split_once('=').unwrap_or((kv, ""))
}

impl EnvList {
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.vars.iter().position(|kv| split(kv).0 == key)
    }

    pub fn set(&mut self, key: &str, value: &str) {
        let mut kv = String::with_capacity(key.len() + value.len() + 1);
        kv.push_str(key);
        kv.push('=');
        kv.push_str(value);
        match self.position(key) {
            Some(i) => self.vars[i] = kv,
            None => self.vars.push(kv),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| split(&self.vars[i]).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|kv| split(kv))
    }

    /// `KEY=value` strings, as a process environment.
    pub fn to_vec(&self) -> Vec<String> {
        self.vars.clone()
    }

    /// Parses `KEY=value` strings (an image config's Env).
    pub fn from_strings<'a>(env: impl IntoIterator<Item = &'a String>) -> Self {
        let mut list = EnvList::new();
        for kv in env {
            let (k, v) = split(kv);
            list.set(k, v);
        }
        list
    }
}

impl Env for EnvList {
    fn get(&self, key: &str) -> Option<&str> {
        EnvList::get(self, key)
    }

    fn keys(&self) -> Vec<&str> {
        self.vars.iter().map(|kv| split(kv).0).collect()
    }
}

/// Sets `key=value` in an image config's Env list, replacing in place.
pub fn add_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let existing = env
        .iter_mut()
        .find(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == key);
    match existing {
        Some(kv) => *kv = entry,
        None => env.push(entry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place() {
        let mut env = EnvList::new();
        env.set("A", "1");
        env.set("B", "2");
        env.set("A", "3");
        assert_eq!(env.to_vec(), ["A=3", "B=2"]);
        assert_eq!(Env::keys(&env), ["A", "B"]);
    }

    #[test]
    fn image_env_strings_round_trip() {
        let strings = vec![
            "PATH=/bin".to_string(),
            "EMPTY=".to_string(),
            "BARE".to_string(),
        ];
        let env = EnvList::from_strings(&strings);
        assert_eq!(env.get("BARE"), Some(""));
        let mut config = strings.clone();
        add_env(&mut config, "PATH", "/usr/bin");
        add_env(&mut config, "NEW", "x=y");
        assert_eq!(config, ["PATH=/usr/bin", "EMPTY=", "BARE", "NEW=x=y"]);
    }
}
