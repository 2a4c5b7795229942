//! Runs the real `lvs-router simulate` binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const SCRIPT: &str = "\
# rr over three dests added .2 .3 .4: the kernel list is .4 .3 .2
-A -t 192.0.2.1:80 -s rr
-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
-a -t 192.0.2.1:80 -r 10.0.0.3:80 -m
-a -t 192.0.2.1:80 -r 10.0.0.4:80 -m
flow -t 192.0.2.1:80 from 198.51.100.1:1000 count=4 step=cport
";

fn simulate(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvs-router"))
        .arg("simulate")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lvs-router");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const EXPECTED: &str = "=> 10.0.0.4:80 10.0.0.3:80 10.0.0.2:80 10.0.0.4:80\n";

#[test]
fn reads_stdin() {
    for args in [&[][..], &["-"][..]] {
        let out = simulate(args, SCRIPT);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED);
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn reads_a_file() {
    let dir = std::env::temp_dir().join(format!("lvs-router-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("script.txt");
    std::fs::write(&path, SCRIPT).unwrap();
    let out = simulate(&[path.to_str().unwrap()], "");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED);
}

#[test]
fn an_invalid_line_fails_with_its_number() {
    let script = format!(
        "{SCRIPT}-a -t 192.0.2.1:80 -r 10.0.0.4:80 -m\nflow -t 192.0.2.1:80 from 198.51.100.1:1\n"
    );
    let out = simulate(&[], &script);
    assert!(!out.status.success());
    // Lines before the error have run and printed.
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: line 7: Destination already exists\n"
    );
}

#[test]
fn a_missing_file_fails() {
    let out = simulate(&["/nonexistent/lvs-router-script.txt"], "");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: /nonexistent/lvs-router-script.txt: ")
    );
}

/// The example scripts run, and print what their `# => ` comments say.
#[test]
fn the_examples_run_as_documented() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/simulate");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# => "))
            .map(|l| format!("=> {l}\n"))
            .collect();
        let out = simulate(&[path.to_str().unwrap()], "");
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "{}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 3);
}
