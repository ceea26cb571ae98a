//! Instruction flags: the `--name=value` words written between the keyword
//! and the arguments (`COPY --from=build --link a b`), BuildKit's `BFlags`.
//!
//! Each instruction declares the flags it accepts, then parses the words the
//! parser collected. The rules are the reference's:
//!
//! - only `--name=value` binds a value; `--name value` is not a thing (the
//!   parser already stopped collecting flags at the first word without `--`);
//! - a bool flag is `--link`, `--link=true` or `--link=false` (any case);
//! - a string flag needs `=` (`--chown=` sets it to the empty string);
//! - a string-slice flag (`--mount`, `--exclude`) may be repeated, others
//!   may not;
//! - `--` ends the flags.
//!
//! Error texts match the reference word for word, e.g.
//! `unknown flag: --fro (did you mean from?)`.

use super::support::with_suggestion;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    String,
    Strings,
}

#[derive(Debug, Clone)]
struct Flag {
    name: &'static str,
    kind: Kind,
    /// Bool flags: "true"/"false"; string flags: the value.
    value: String,
    /// Values of a repeatable flag, in order.
    values: Vec<String>,
    used: bool,
}

/// The flags one instruction accepts, and after [`Flags::parse`] their values.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    flags: Vec<Flag>,
    /// A flag declared twice: reported by `parse`, as the reference does.
    setup_error: Option<String>,
}

impl Flags {
    pub fn new() -> Self {
        Flags::default()
    }

    fn add(&mut self, name: &'static str, kind: Kind, value: String) {
        if self.flags.iter().any(|f| f.name == name) {
            self.setup_error = Some(format!("Duplicate flag defined: {name}"));
            return;
        }
        self.flags.push(Flag {
            name,
            kind,
            value,
            values: Vec::new(),
            used: false,
        });
    }

    /// Declares `--name` / `--name=true|false`.
    pub fn add_bool(&mut self, name: &'static str, default: bool) -> &mut Self {
        self.add(name, Kind::Bool, default.to_string());
        self
    }

    /// Declares `--name=value`.
    pub fn add_string(&mut self, name: &'static str, default: &str) -> &mut Self {
        self.add(name, Kind::String, default.to_string());
        self
    }

    /// Declares a repeatable `--name=value`.
    pub fn add_strings(&mut self, name: &'static str) -> &mut Self {
        self.add(name, Kind::Strings, String::new());
        self
    }

    /// Reads the flag words of an instruction; the error is the reference's
    /// message.
    pub fn parse<S: AsRef<str>>(&mut self, args: &[S]) -> Result<(), String> {
        if let Some(err) = &self.setup_error {
            return Err(format!("error setting up flags: {err}"));
        }
        for arg in args {
            let arg = arg.as_ref();
            if arg == "--" {
                return Ok(());
            }
            let Some(body) = arg.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {arg}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let written = format!("--{name}");
            let known: Vec<&str> = self.flags.iter().map(|f| f.name).collect();
            let Some(flag) = self.flags.iter_mut().find(|f| f.name == name) else {
                return Err(with_suggestion(
                    format!("unknown flag: {written}"),
                    name,
                    &known,
                    true,
                ));
            };
            if flag.used && flag.kind != Kind::Strings {
                return Err(format!("duplicate flag specified: {written}"));
            }
            flag.used = true;
            match (flag.kind, value) {
                (Kind::Bool, Some("")) => {
                    return Err(format!("missing a value on flag: {written}"));
                }
                (Kind::Bool, None) => flag.value = "true".to_string(),
                (Kind::Bool, Some(v)) => match v.to_lowercase().as_str() {
                    "true" => flag.value = "true".to_string(),
                    "false" => flag.value = "false".to_string(),
                    _ => {
                        return Err(format!(
                            "expecting boolean value for flag {written}, not: {v}"
                        ))
                    }
                },
                (Kind::String | Kind::Strings, None) => {
                    return Err(format!("missing a value on flag: {written}"));
                }
                (Kind::String, Some(v)) => flag.value = v.to_string(),
                (Kind::Strings, Some(v)) => flag.values.push(v.to_string()),
            }
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    /// The value of a bool flag (its default when not written).
    pub fn bool(&self, name: &str) -> bool {
        self.get(name).is_some_and(|f| f.value == "true")
    }

    /// The value of a string flag (its default when not written).
    pub fn string(&self, name: &str) -> &str {
        self.get(name).map_or("", |f| f.value.as_str())
    }

    /// Every value of a repeatable flag, in order.
    pub fn strings(&self, name: &str) -> &[String] {
        self.get(name).map_or(&[], |f| f.values.as_slice())
    }

    /// Whether the flag was written.
    pub fn is_used(&self, name: &str) -> bool {
        self.get(name).is_some_and(|f| f.used)
    }

    /// The names of the flags written, sorted.
    pub fn used(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .flags
            .iter()
            .filter(|f| f.used)
            .map(|f| f.name.to_string())
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::Flags;

    fn parse(flags: &mut Flags, args: &[&str]) -> Result<(), String> {
        flags.parse(args)
    }

    #[test]
    fn empty_and_double_dash() {
        assert!(parse(&mut Flags::new(), &[]).is_ok());
        assert!(parse(&mut Flags::new(), &["--"]).is_ok());
        // Everything after `--` is left alone.
        assert!(parse(&mut Flags::new(), &["--", "--unknown"]).is_ok());
    }

    #[test]
    fn defaults_when_unused() {
        let mut f = Flags::new();
        f.add_string("str1", "HI")
            .add_bool("bool1", false)
            .add_bool("bool2", true);
        parse(&mut f, &[]).unwrap();
        assert_eq!(f.string("str1"), "HI");
        assert!(!f.bool("bool1"));
        assert!(f.bool("bool2"));
        assert!(!f.is_used("str1"));
        assert!(!f.is_used("bool1"));
        assert!(f.used().is_empty());
    }

    #[test]
    fn string_values() {
        let mut f = Flags::new();
        f.add_string("str1", "HI");
        assert_eq!(
            parse(&mut f, &["--str1"]).unwrap_err(),
            "missing a value on flag: --str1"
        );

        let mut f = Flags::new();
        f.add_string("str1", "HI");
        parse(&mut f, &["--str1="]).unwrap();
        assert_eq!(f.string("str1"), "");

        let mut f = Flags::new();
        f.add_string("str1", "HI");
        parse(&mut f, &["--str1=BYE=x"]).unwrap();
        assert_eq!(f.string("str1"), "BYE=x");
        assert!(f.is_used("str1"));
    }

    #[test]
    fn bool_values() {
        for (arg, want) in [
            ("--bool1", true),
            ("--bool1=true", true),
            ("--bool1=TRUE", true),
            ("--bool1=false", false),
            ("--bool1=False", false),
        ] {
            let mut f = Flags::new();
            f.add_bool("bool1", !want);
            parse(&mut f, &[arg]).unwrap();
            assert_eq!(f.bool("bool1"), want, "{arg}");
        }
        let mut f = Flags::new();
        f.add_bool("bool1", false);
        assert_eq!(
            parse(&mut f, &["--bool1=false1"]).unwrap_err(),
            "expecting boolean value for flag --bool1, not: false1"
        );
        let mut f = Flags::new();
        f.add_bool("bool1", false);
        assert_eq!(
            parse(&mut f, &["--bool1="]).unwrap_err(),
            "missing a value on flag: --bool1"
        );
        let mut f = Flags::new();
        f.add_bool("bool1", false);
        assert_eq!(
            parse(&mut f, &["--bool1=1"]).unwrap_err(),
            "expecting boolean value for flag --bool1, not: 1"
        );
    }

    #[test]
    fn repeatable() {
        let mut f = Flags::new();
        f.add_strings("exclude");
        parse(&mut f, &["--exclude=a", "--exclude=b", "--exclude="]).unwrap();
        assert_eq!(f.strings("exclude"), ["a", "b", ""]);
        let mut f = Flags::new();
        f.add_strings("exclude");
        assert_eq!(
            parse(&mut f, &["--exclude"]).unwrap_err(),
            "missing a value on flag: --exclude"
        );
    }

    #[test]
    fn unknown_and_duplicates() {
        let mut f = Flags::new();
        f.add_bool("bool1", false);
        assert_eq!(
            parse(&mut f, &["--bool2"]).unwrap_err(),
            "unknown flag: --bool2 (did you mean bool1?)"
        );
        let mut f = Flags::new();
        assert_eq!(
            parse(&mut f, &["--boo"]).unwrap_err(),
            "unknown flag: --boo"
        );
        let mut f = Flags::new();
        f.add_string("from", "");
        assert_eq!(
            parse(&mut f, &["--fro=x"]).unwrap_err(),
            "unknown flag: --fro (did you mean from?)"
        );
        let mut f = Flags::new();
        f.add_string("from", "");
        assert_eq!(
            parse(&mut f, &["--from=a", "--from=b"]).unwrap_err(),
            "duplicate flag specified: --from"
        );
        let mut f = Flags::new();
        f.add_bool("link", false);
        assert_eq!(
            parse(&mut f, &["--link", "--link=false"]).unwrap_err(),
            "duplicate flag specified: --link"
        );
        let mut f = Flags::new();
        assert_eq!(
            parse(&mut f, &["-x"]).unwrap_err(),
            "arg should start with -- : -x"
        );
        let mut f = Flags::new();
        f.add_bool("x", false).add_string("x", "");
        assert_eq!(
            parse(&mut f, &[]).unwrap_err(),
            "error setting up flags: Duplicate flag defined: x"
        );
    }

    #[test]
    fn used_names() {
        let mut f = Flags::new();
        f.add_bool("bool1", false)
            .add_bool("bool2", false)
            .add_bool("bool3", false)
            .add_bool("bool4", true)
            .add_bool("bool5", true)
            .add_string("str1", "")
            .add_string("str2", "")
            .add_string("str3", "def3")
            .add_string("str4", "def4");
        parse(
            &mut f,
            &[
                "--bool2=false",
                "--bool3",
                "--bool4=true",
                "--bool5",
                "--str2= ",
                "--str3=def3",
                "--str4=my-val",
            ],
        )
        .unwrap();
        assert_eq!(
            f.used().join(", "),
            "bool2, bool3, bool4, bool5, str2, str3, str4"
        );
        assert_eq!(f.string("str2"), " ");
        assert!(!f.bool("bool2"));
        assert!(f.bool("bool3"));
    }
}
