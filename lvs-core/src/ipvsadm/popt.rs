//! A popt-compatible word scanner over ipvsadm's option table.
//!
//! It reproduces the popt behaviour ipvsadm users meet: clustered short options, short option
//! arguments attached or in the next word, `--long=value`, an optional argument that is skipped
//! when the next word starts with `-` (popt >= 1.16), `--` ending the options, and words that are
//! not options collected as leftovers. Errors name the word as `poptBadOption` does.

use super::IpvsadmError;
use super::options::{ArgKind, TABLE, Tag};

/// One option popt handed out: its tag, its argument, and the word it came from (the text popt
/// names in its errors).
#[derive(Debug)]
pub(super) struct Opt<'a> {
    pub(super) tag: Tag,
    pub(super) arg: Option<&'a str>,
    pub(super) word: &'a str,
}

/// A popt context over borrowed words.
pub(super) struct Scanner<'a> {
    words: &'a [&'a str],
    next: usize,
    /// Rest of a short-option cluster and the word it belongs to.
    cluster: Option<(&'a str, &'a str)>,
    leftovers: Vec<&'a str>,
    rest_leftover: bool,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(words: &'a [&'a str]) -> Self {
        Self {
            words,
            next: 0,
            cluster: None,
            leftovers: Vec::new(),
            rest_leftover: false,
        }
    }

    /// Words that were not options or option arguments.
    pub(super) fn leftovers(&self) -> &[&'a str] {
        &self.leftovers
    }

    /// The next option, `Ok(None)` at the end.
    pub(super) fn next_opt(&mut self) -> Result<Option<Opt<'a>>, IpvsadmError> {
        let (def, word, attached) = loop {
            if let Some((rest, word)) = self.cluster.take() {
                let mut chars = rest.chars();
                let c = chars.next().unwrap_or('\0');
                let def = TABLE
                    .iter()
                    .find(|d| d.short == Some(c))
                    .ok_or_else(|| IpvsadmError::UnknownOption(word.to_owned()))?;
                let rest = chars.as_str();
                if def.arg == ArgKind::None {
                    if rest.starts_with('=') {
                        return Err(IpvsadmError::UnwantedArgument(word.to_owned()));
                    }
                    if !rest.is_empty() {
                        self.cluster = Some((rest, word));
                    }
                    break (def, word, None);
                }
                // An argument-taking short option eats the rest of its cluster, minus one '='.
                let attached = (!rest.is_empty()).then(|| rest.strip_prefix('=').unwrap_or(rest));
                break (def, word, attached);
            }
            let Some(&word) = self.words.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            if self.rest_leftover || !word.starts_with('-') {
                self.leftovers.push(word);
                continue;
            }
            if word == "--" {
                self.rest_leftover = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--") {
                let (name, value) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (long, None),
                };
                let def = TABLE
                    .iter()
                    .find(|d| d.long == name)
                    .ok_or_else(|| IpvsadmError::UnknownOption(word.to_owned()))?;
                if def.arg == ArgKind::None && value.is_some() {
                    return Err(IpvsadmError::UnwantedArgument(word.to_owned()));
                }
                break (def, word, value);
            }
            // A single dash starts a short-option cluster (also "-" alone: unknown option).
            self.cluster = Some((&word[1..], word));
        };
        let arg = match (def.arg, attached) {
            (ArgKind::None, _) => None,
            (_, Some(a)) => Some(a),
            (kind, None) => match self.words.get(self.next) {
                Some(next) if kind == ArgKind::Optional && next.starts_with('-') => None,
                Some(next) => {
                    self.next += 1;
                    Some(*next)
                }
                None if kind == ArgKind::Optional => None,
                None => return Err(IpvsadmError::MissingArgument(word.to_owned())),
            },
        };
        Ok(Some(Opt {
            tag: def.tag,
            arg,
            word,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvsadm::options::Cmd;

    fn scan(words: &[&str]) -> Result<Vec<(Tag, Option<String>)>, IpvsadmError> {
        let words: Vec<&str> = words.to_vec();
        let mut s = Scanner::new(&words);
        let mut out = Vec::new();
        while let Some(o) = s.next_opt()? {
            out.push((o.tag, o.arg.map(str::to_owned)));
        }
        Ok(out)
    }

    #[test]
    fn clusters_and_attached_arguments() {
        let got = scan(&["-At", "1.2.3.4:80", "-w3", "--weight=4", "-s", "rr"]).unwrap();
        assert_eq!(
            got,
            vec![
                (Tag::Command(Cmd::Add), None),
                (Tag::Tcp, Some("1.2.3.4:80".into())),
                (Tag::Weight, Some("3".into())),
                (Tag::Weight, Some("4".into())),
                (Tag::Scheduler, Some("rr".into())),
            ]
        );
    }

    #[test]
    fn optional_argument_skips_options() {
        let got = scan(&["-p", "-s", "rr", "-p", "60", "--persistent=7", "-p"]).unwrap();
        assert_eq!(got[0], (Tag::Persistent, None));
        assert_eq!(got[2], (Tag::Persistent, Some("60".into())));
        assert_eq!(got[3], (Tag::Persistent, Some("7".into())));
        assert_eq!(got[4], (Tag::Persistent, None));
    }

    #[test]
    fn popt_errors_name_the_word() {
        assert_eq!(scan(&["-Q"]), Err(IpvsadmError::UnknownOption("-Q".into())));
        assert_eq!(
            scan(&["--bogus"]),
            Err(IpvsadmError::UnknownOption("--bogus".into()))
        );
        assert_eq!(
            scan(&["-A", "-t"]),
            Err(IpvsadmError::MissingArgument("-t".into()))
        );
        assert_eq!(
            scan(&["--ops=1"]),
            Err(IpvsadmError::UnwantedArgument("--ops=1".into()))
        );
        assert_eq!(scan(&["-"]), Err(IpvsadmError::UnknownOption("-".into())));
    }

    #[test]
    fn leftovers_and_double_dash() {
        let words = ["x", "-A", "--", "-t"];
        let mut s = Scanner::new(&words);
        assert_eq!(s.next_opt().unwrap().unwrap().tag, Tag::Command(Cmd::Add));
        assert!(s.next_opt().unwrap().is_none());
        assert_eq!(s.leftovers(), ["x", "-t"]);
    }
}
