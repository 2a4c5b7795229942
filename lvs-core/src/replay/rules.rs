//! The rules file of `replay`: what `ipvsadm-save -n` (`ipvsadm -S -n`) prints.

use crate::ipvsadm::{Command, IpvsadmError, parse_line};

/// A line of the rules file that ipvsadm would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {source}: {text}")]
pub struct RulesError {
    /// 1-based line number.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// ipvsadm's complaint.
    #[source]
    pub source: IpvsadmError,
}

/// One command of the rules file and the line it came from (for errors applying it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// 1-based line number.
    pub line: usize,
    /// The parsed command.
    pub command: Command,
}

/// Parses every line into a command, in order. Blank lines and lines starting with `#` are
/// skipped (`ipvsadm-restore` reads the same file through a shell-like loop that skips them).
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RulesError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(i, l)| {
            let command = parse_line(l).map_err(|source| RulesError {
                line: i + 1,
                text: l.trim().to_owned(),
                source,
            })?;
            Ok(Rule {
                line: i + 1,
                command,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvsadm::{FwdMethod, ServiceKey};

    #[test]
    fn save_output_parses_in_order() {
        let text = "# ipvsadm-save -n\n\n-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 172.16.0.2:8080 -m -w 1\n";
        let rules = parse_rules(text).unwrap();
        assert_eq!(rules.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 4]);
        let cmds: Vec<Command> = rules.into_iter().map(|r| r.command).collect();
        let Command::AddService(ServiceKey::Inet { port: 80, .. }, svc) = &cmds[0] else {
            panic!("{:?}", cmds[0]);
        };
        assert_eq!(svc.scheduler, "rr");
        let Command::AddDest(_, dest) = &cmds[1] else {
            panic!("{:?}", cmds[1]);
        };
        assert_eq!((dest.port, dest.fwd), (8080, FwdMethod::Masq));
    }

    #[test]
    fn a_bad_line_names_its_number() {
        let err = parse_rules("-A -t 192.0.2.10:80\n\n-a -t 192.0.2.10:80 -w x\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().starts_with("line 3: "), "{err}");
    }
}
