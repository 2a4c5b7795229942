//! Dest order in listings, golden: the kernel keeps a service's dests newest first
//! (`list_add_rcu` at the head of `svc->destinations`); ipvsadm 1.31 sorts services and dests
//! by default (`ipvs_sort_dests`: address, then port) and prints the kernel's order with
//! `--nosort`. `-S` accepts no `--nosort` (its row of `commands_v_options`), so a save is
//! always sorted. The director's listing model follows the same order whether the rules came
//! one by one (`apply`) or as a whole file (`replace_config`, the path `lvs-router run` and
//! its control socket take).
//!
//! Services are another matter: `--nosort` prints the kernel's service hash-table order,
//! which mixes in a per-namespace random value (`net_hash_mix`), so no userspace model can
//! reproduce it; the director lists services in creation order there.

use lvs_core::director::{Director, DirectorConfig};
use lvs_core::ipvsadm::{
    AdmState, Command, ListFormat, NumericResolver, list_all, parse_line, save,
};
use lvs_core::time::Instant;

const RULES: &str = "-A -t 192.0.2.10:80 -s rr
-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 1
-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 2
-a -t 192.0.2.10:80 -r 10.0.0.13:8080 -m -w 3
-a -t 192.0.2.10:80 -r 10.0.0.11:80 -m -w 4";

fn commands() -> Vec<Command> {
    RULES
        .lines()
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

const HEAD: &str = "IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.10:80 rr
";

fn row(dest: &str, w: u32) -> String {
    format!("  -> {dest:<28} Masq    {w:<6} 0          0         \n")
}

fn check(d: &Director) {
    let state = AdmState::from_director(d, None);
    let numeric = ListFormat {
        numeric: true,
        ..ListFormat::default()
    };
    let sorted = format!(
        "{HEAD}{}{}{}{}",
        row("10.0.0.11:80", 4),
        row("10.0.0.11:8080", 2),
        row("10.0.0.12:8080", 1),
        row("10.0.0.13:8080", 3)
    );
    assert_eq!(list_all(&state, &numeric, &NumericResolver), sorted);
    let nosort = ListFormat {
        nosort: true,
        ..numeric
    };
    let newest_first = format!(
        "{HEAD}{}{}{}{}",
        row("10.0.0.11:80", 4),
        row("10.0.0.13:8080", 3),
        row("10.0.0.11:8080", 2),
        row("10.0.0.12:8080", 1)
    );
    assert_eq!(list_all(&state, &nosort, &NumericResolver), newest_first);
    assert_eq!(
        save(&state, true, &NumericResolver),
        "-A -t 192.0.2.10:80 -s rr
-a -t 192.0.2.10:80 -r 10.0.0.11:80 -m -w 4
-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 2
-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 1
-a -t 192.0.2.10:80 -r 10.0.0.13:8080 -m -w 3
"
    );
}

#[test]
fn listing_order_after_apply_one_by_one() {
    let mut d = Director::new(DirectorConfig::default());
    for c in commands() {
        d.apply(&c, Instant::ZERO).unwrap();
    }
    check(&d);
}

#[test]
fn listing_order_after_replace_config_and_a_diff() {
    let mut d = Director::new(DirectorConfig::default());
    d.replace_config(&commands(), Instant::ZERO).unwrap();
    check(&d);
    // A reload with one more dest: the running ones keep their places, the new one heads the
    // kernel's list.
    let mut more = commands();
    more.push(parse_line("-a -t 192.0.2.10:80 -r 10.0.0.10:8080 -m -w 5").unwrap());
    d.replace_config(&more, Instant::ZERO).unwrap();
    let state = AdmState::from_director(&d, None);
    let nosort = ListFormat {
        numeric: true,
        nosort: true,
        ..ListFormat::default()
    };
    let text = list_all(&state, &nosort, &NumericResolver);
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  -> "))
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "10.0.0.10:8080",
            "10.0.0.11:80",
            "10.0.0.13:8080",
            "10.0.0.11:8080",
            "10.0.0.12:8080"
        ]
    );
}
