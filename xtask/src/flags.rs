//! The commands' arguments: `--flag value`, `--flag=value`, flags alone and words.

use anyhow::{Context, Result, bail};

/// A command's arguments, read a flag (or word) at a time.
///
/// ```text
/// let mut args = Flags::new(args);
/// while let Some(flag) = args.next()? {
///     match flag {
///         "--secs" => secs = args.value()?.parse()?,
///         ...
///     }
/// }
/// ```
#[derive(Debug)]
pub(crate) struct Flags<'a> {
    rest: std::slice::Iter<'a, String>,
    /// The flag last returned.
    flag: &'a str,
    /// Its `=value`, until [`Flags::value`] takes it.
    inline: Option<&'a str>,
}

impl<'a> Flags<'a> {
    pub(crate) fn new(args: &'a [String]) -> Self {
        Flags { rest: args.iter(), flag: "", inline: None }
    }

    /// The next argument, a flag up to its first `=` (the rest is its value) or a word;
    /// `None` at the end. An `=value` the previous flag did not take is an error.
    pub(crate) fn next(&mut self) -> Result<Option<&'a str>> {
        if self.inline.is_some() {
            bail!("{} takes no value", self.flag);
        }
        let Some(arg) = self.rest.next() else { return Ok(None) };
        (self.flag, self.inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') => (flag, Some(value)),
            _ => (arg.as_str(), None),
        };
        Ok(Some(self.flag))
    }

    /// The value of the flag just returned: its `=value`, else the next argument.
    pub(crate) fn value(&mut self) -> Result<&'a str> {
        match self.inline.take() {
            Some(value) => Ok(value),
            None => self
                .rest
                .next()
                .map(String::as_str)
                .with_context(|| format!("{} needs a value", self.flag)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(line: &str) -> Result<Vec<(String, Option<String>)>> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        let mut flags = Flags::new(&args);
        let mut out = Vec::new();
        while let Some(flag) = flags.next()? {
            let value = match flag {
                "--a" | "--b" => Some(flags.value()?.to_owned()),
                _ => None,
            };
            out.push((flag.to_owned(), value));
        }
        Ok(out)
    }

    #[test]
    fn values_follow_or_are_inline() {
        let got = read("--a 1 --b=x=y --c word k=v").unwrap();
        let want = [
            ("--a", Some("1")),
            ("--b", Some("x=y")),
            ("--c", None),
            ("word", None),
            ("k=v", None),
        ];
        let want: Vec<_> =
            want.iter().map(|(f, v)| ((*f).to_owned(), v.map(str::to_owned))).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_missing_or_unwanted_value_is_an_error() {
        assert_eq!(read("--a").unwrap_err().to_string(), "--a needs a value");
        assert_eq!(read("--c=1").unwrap_err().to_string(), "--c takes no value");
        assert!(read("--c=1 --a 2").is_err());
    }
}
