//! `lvs-router run` exit codes for files it refuses and interfaces it cannot open (no root
//! needed: both fail before any packet socket is opened, or exactly when it is).

use std::process::Command;

fn run(rules: &str, toml: &str) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!(
        "lvs-run-cli-{}-{}",
        std::process::id(),
        rules.len() + toml.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules"), rules).unwrap();
    std::fs::write(dir.join("router.toml"), toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lvs-router"))
        .args(["run", "--rules"])
        .arg(dir.join("rules"))
        .arg("--config")
        .arg(dir.join("router.toml"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const IFACE: &str = "[[interface]]\nname = \"lvsnosuchif0\"\n";

#[test]
fn a_rules_line_ipvsadm_refuses_exits_1_naming_the_line() {
    let (code, err) = run("-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80 -w x\n", IFACE);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn rules_that_do_not_apply_exit_1() {
    let (code, err) = run("-a -t 192.0.2.10:80 -r 198.51.100.2 -m\n", IFACE);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("Service not defined"), "{err}");
}

#[test]
fn an_unknown_toml_key_exits_1() {
    let (code, err) = run("", &format!("wrokers = 2\n{IFACE}"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("wrokers"), "{err}");
}

#[test]
fn a_missing_interface_exits_2() {
    let (code, err) = run(
        "-A -t 192.0.2.10:80\n",
        &format!("disable_offloads = false\nisolate = false\n{IFACE}"),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("lvsnosuchif0"), "{err}");
}
