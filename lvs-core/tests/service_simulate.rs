//! `simulate` scripts with outputs worked out by hand from the kernel's rules.

use lvs_core::service::simulate::{SimError, run};

fn ok(script: &str) -> Vec<String> {
    let out = run(script);
    assert_eq!(out.error, None, "script failed");
    out.lines
}

#[test]
fn rr_then_wrr_matches_the_kernel_cross_check() {
    // Published result from a real kernel: dests added .2, .3, .4 sit in the list as
    // .4 .3 .2 (newest first), so rr starts at the head.
    let lines = ok("
        -A -t 192.0.2.1:80 -s rr
        -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.3:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.4:80 -m
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 count=6 step=cport
        -e -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 3
        -E -t 192.0.2.1:80 -s wrr
        flow -t 192.0.2.1:80 from 198.51.100.1:2000 count=6 step=cport
    ");
    assert_eq!(
        lines,
        [
            "=> 10.0.0.4:80 10.0.0.3:80 10.0.0.2:80 10.0.0.4:80 10.0.0.3:80 10.0.0.2:80",
            "=> 10.0.0.2:80 10.0.0.2:80 10.0.0.4:80 10.0.0.3:80 10.0.0.2:80 10.0.0.2:80",
        ]
    );
}

fn failing(script: &str) -> (Vec<String>, SimError) {
    let out = run(script);
    (out.lines, out.error.expect("script should fail"))
}

#[test]
fn wlc_with_assumed_counters() {
    // List order .4 (w2) .3 .2. With .4 at 2 active (512/2 per weight), .3 and .2 idle:
    // .3 (first of the idle ones), then .2, then .4 (512*1 > 256*2 is false), then .3
    // (768*1 > 256*2).
    let lines = ok("
        -A -t 192.0.2.1:80
        -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.3:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.4:80 -m -w 2
        assume -t 192.0.2.1:80 -r 10.0.0.4:80 active=2
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 count=4 step=cport
        # .3 overloaded: between .4 (768/2) and .2 (256/1) the latter wins
        assume -t 192.0.2.1:80 -r 10.0.0.3:80 overloaded=1
        flow -t 192.0.2.1:80 from 198.51.100.1:2000
        # .2 now 2 active + 1000 inactive = 1512: .4 (768/2) wins
        assume -t 192.0.2.1:80 -r 10.0.0.2 inactive=1000
        flow -t 192.0.2.1:80 from 198.51.100.1:3000
    ");
    assert_eq!(
        lines,
        [
            "=> 10.0.0.3:80 10.0.0.2:80 10.0.0.4:80 10.0.0.3:80",
            "=> 10.0.0.2:80",
            "=> 10.0.0.4:80",
        ]
    );
}

#[test]
fn then_decides_how_connections_count() {
    let script = |then: &str| {
        format!(
            "-A -t 192.0.2.1:80
             -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
             -a -t 192.0.2.1:80 -r 10.0.0.3:80 -m
             -a -t 192.0.2.1:80 -r 10.0.0.4:80 -m
             flow -t 192.0.2.1:80 from 198.51.100.1:1000 count=3 {then}"
        )
    };
    let all = "=> 10.0.0.4:80 10.0.0.3:80 10.0.0.2:80";
    assert_eq!(ok(&script("")), [all]);
    assert_eq!(ok(&script("then=active")), [all]);
    assert_eq!(ok(&script("then=inactive")), [all]);
    assert_eq!(
        ok(&script("then=none")),
        ["=> 10.0.0.4:80 10.0.0.4:80 10.0.0.4:80"]
    );
}

#[test]
fn persistence_expires_in_virtual_time() {
    // rr over .3 .2 (list order); short-lived connections (then=none) leave the templates
    // alone, so each lives 60 s after its last use.
    let lines = ok("
        -A -t 192.0.2.1:80 -s rr -p 60
        -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.3:80 -m
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 then=none
        flow -t 192.0.2.1:80 from 198.51.100.2:1000 then=none
        advance 59
        flow -t 192.0.2.1:80 from 198.51.100.1:2000 then=none   # template, re-armed to 119
        advance 1
        flow -t 192.0.2.1:80 from 198.51.100.2:2000 then=none   # expired at 60: rr again
        advance 59
        flow -t 192.0.2.1:80 from 198.51.100.1:3000 then=none   # expired at 119: rr again
    ");
    assert_eq!(
        lines,
        [
            "=> 10.0.0.3:80",
            "=> 10.0.0.2:80",
            "=> 10.0.0.3:80",
            "=> 10.0.0.3:80",
            "=> 10.0.0.2:80"
        ]
    );
}

#[test]
fn open_connections_keep_their_template() {
    let lines = ok("
        -A -t 192.0.2.1:80 -s rr -p 10
        -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.3:80 -m
        flow -t 192.0.2.1:80 from 198.51.100.1:1000
        advance 1000
        flow -t 192.0.2.1:80 from 198.51.100.1:1001
        flow -t 192.0.2.1:80 from 198.51.100.2:1000
        flow -t 192.0.2.1:80 from 198.51.100.3:1000
    ");
    assert_eq!(
        lines,
        [
            "=> 10.0.0.3:80",
            "=> 10.0.0.3:80",
            "=> 10.0.0.2:80",
            "=> 10.0.0.3:80"
        ]
    );
    // A year later the open connections still hold the template.
    let lines = ok("
        -A -t 192.0.2.1:80 -s rr -p 10
        -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.3:80 -m
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 count=100 step=cport
        advance 31536000
        flow -t 192.0.2.1:80 from 198.51.100.1:5000
    ");
    assert_eq!(lines[1], "=> 10.0.0.3:80");
}

#[test]
fn steps_vary_the_flow() {
    // Persistent rr: stepping the client port keeps the client, stepping the address does not.
    let lines = ok("
        -A -t 192.0.2.1:80 -s rr -p
        -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.3:80 -m
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 count=3 step=cport
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 count=4 step=caddr,cport
    ");
    assert_eq!(
        lines,
        [
            "=> 10.0.0.3:80 10.0.0.3:80 10.0.0.3:80",
            "=> 10.0.0.3:80 10.0.0.2:80 10.0.0.3:80 10.0.0.2:80"
        ]
    );
}

#[test]
fn source_hash_over_stepped_clients() {
    // Buckets go .4 .3 .2 .4 ... (list order, weight 1 each); bucket = hash_32(caddr, 8) =
    // (caddr * 0x61C88647 mod 2^32) >> 24: 198.51.100.1 -> 96, .2 -> 194, .3 -> 35, .4 -> 133.
    let lines = ok("
        -A -t 192.0.2.1:80 -s sh
        -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.3:80 -m
        -a -t 192.0.2.1:80 -r 10.0.0.4:80 -m
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 count=4 step=caddr
    ");
    assert_eq!(
        lines,
        ["=> 10.0.0.4:80 10.0.0.2:80 10.0.0.2:80 10.0.0.3:80"]
    );
}

#[test]
fn fwmark_flows_with_destination_hash() {
    // dh buckets by the packet's destination: 192.0.2.10 -> 162 (.4), .11 -> 4 (.3),
    // .12 -> 102 (.4), .13 -> 200 (.2). Dests have port 0: the packet's port is used.
    let lines = ok("
        -A -f 1 -s dh
        -a -f 1 -r 10.0.0.2 -g
        -a -f 1 -r 10.0.0.3 -g
        -a -f 1 -r 10.0.0.4 -g
        flow -f 1 from 198.51.100.1:1000 to 192.0.2.10:80 count=4 step=vaddr
    ");
    assert_eq!(
        lines,
        ["=> 10.0.0.4:80 10.0.0.3:80 10.0.0.4:80 10.0.0.2:80"]
    );
}

#[test]
fn ipv6_services() {
    let lines = ok("
        -A -t [2001:db8::1]:80 -s rr
        -a -t [2001:db8::1]:80 -r [2001:db8::10]:8080 -m
        -a -t [2001:db8::1]:80 -r [2001:db8::11]:8080 -m
        flow -t [2001:db8::1]:80 from [2001:db8:1::5]:40000 count=3 step=cport
        -A -t [2001:db8::1]:443 -s rr -p -M 64
        -a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -m
        -a -t [2001:db8::1]:443 -r [2001:db8::11]:443 -m
        flow -t [2001:db8::1]:443 from [2001:db8:1::5]:40000
        flow -t [2001:db8::1]:443 from [2001:db8:1::99]:40000
        flow -t [2001:db8::1]:443 from [2001:db8:2::5]:40000
    ");
    assert_eq!(
        lines,
        [
            "=> [2001:db8::11]:8080 [2001:db8::10]:8080 [2001:db8::11]:8080",
            "=> [2001:db8::11]:443",
            "=> [2001:db8::11]:443",
            "=> [2001:db8::10]:443",
        ]
    );
}

#[test]
fn none_when_no_dest_is_available() {
    let lines = ok("
        -A -t 192.0.2.1:80 -s rr
        flow -t 192.0.2.1:80 from 198.51.100.1:1000
        -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 0
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 count=2
        -e -t 192.0.2.1:80 -r 10.0.0.2:80 -m -w 1
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 to 192.0.2.1:81
        flow -t 192.0.2.1:80 from 198.51.100.1:1000
    ");
    assert_eq!(
        lines,
        ["=> none", "=> none none", "=> none", "=> 10.0.0.2:80"]
    );
}

#[test]
fn one_packet_scheduling_keeps_no_connection() {
    // With -o every datagram is scheduled and its connection freed at once: wlc keeps picking
    // the head. Without it the UDP connections stay and wlc spreads them.
    let script = |ops: &str| {
        format!(
            "-A -u 192.0.2.1:53 {ops}
             -a -u 192.0.2.1:53 -r 10.0.0.2:53 -m
             -a -u 192.0.2.1:53 -r 10.0.0.3:53 -m
             flow -u 192.0.2.1:53 from 198.51.100.1:1000 count=3 step=cport"
        )
    };
    assert_eq!(
        ok(&script("-o")),
        ["=> 10.0.0.3:53 10.0.0.3:53 10.0.0.3:53"]
    );
    assert_eq!(ok(&script("")), ["=> 10.0.0.3:53 10.0.0.2:53 10.0.0.3:53"]);
}

#[test]
fn errors_stop_the_script_with_their_line_number() {
    let (lines, e) = failing(
        "# a comment
-A -t 192.0.2.1:80 -s rr
-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
flow -t 192.0.2.1:80 from 198.51.100.1:1000
-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
flow -t 192.0.2.1:80 from 198.51.100.1:1000
",
    );
    assert_eq!(lines, ["=> 10.0.0.2:80"]);
    assert_eq!(
        e,
        SimError {
            line: 5,
            message: "Destination already exists".into()
        }
    );
    assert_eq!(e.to_string(), "line 5: Destination already exists");

    let first_error = |script: &str| failing(script).1.to_string();
    assert_eq!(
        first_error("-A -t 192.0.2.1"),
        "line 1: Zero port specified for non-persistent service"
    );
    assert_eq!(
        first_error("\n\n-A -t 192.0.2.1:80 -x 3"),
        "line 3: Illegal 'u-threshold' option with the 'add-service' command"
    );
    assert_eq!(first_error("hello"), "line 1: unknown statement `hello'");
    assert_eq!(
        first_error("flow -t 192.0.2.1:80 from 198.51.100.1:1"),
        "line 1: No such service"
    );
    assert_eq!(
        first_error("-A -f 1\nflow -f 1 from 198.51.100.1:1"),
        "line 2: a fwmark flow needs `to DADDR:DPORT'"
    );
    let svc = "-A -t 192.0.2.1:80\n";
    let flow = "flow -t 192.0.2.1:80 from 198.51.100.1:1";
    assert_eq!(
        first_error(&format!("{svc}{flow} then=maybe")),
        "line 2: invalid flow option `then=maybe'"
    );
    assert_eq!(
        first_error(&format!("{svc}{flow} step=dport")),
        "line 2: invalid step field `dport'"
    );
    assert_eq!(
        first_error(&format!("{svc}{flow} count=0")),
        "line 2: count must be at least 1"
    );
    assert_eq!(
        first_error(&format!("{svc}{flow} count=x")),
        "line 2: invalid number `x'"
    );
    assert_eq!(
        first_error(&format!("{svc}flow -t 192.0.2.1:80 from 198.51.100.1")),
        "line 2: illegal client address:port `198.51.100.1'"
    );
    assert_eq!(
        first_error(&format!("{svc}flow -t 192.0.2.1:80 from [2001:db8::5]:1")),
        "line 2: client and destination addresses differ in family"
    );
    assert_eq!(
        first_error(&format!(
            "{svc}assume -t 192.0.2.1:80 -r 10.0.0.9:80 active=1"
        )),
        "line 2: No such destination"
    );
    assert_eq!(
        first_error("advance soon"),
        "line 1: invalid number of seconds `soon'"
    );
}

#[test]
fn comments_and_the_ipvsadm_prefix() {
    let lines = ok("
        ipvsadm -A -t 192.0.2.1:80 -s rr   # the service
        ipvsadm -a -t 192.0.2.1:80 -r 10.0.0.2:80 -m
        flow -t 192.0.2.1:80 from 198.51.100.1:1000 # one flow
    ");
    assert_eq!(lines, ["=> 10.0.0.2:80"]);
}

proptest::proptest! {
    /// Scripts of arbitrary lines end in output or an error, never a panic.
    #[test]
    fn scripts_never_panic(lines in proptest::collection::vec(
        proptest::prop_oneof![
            proptest::prelude::Just("-A -t 192.0.2.1:80 -s rr -p 5".to_owned()),
            proptest::prelude::Just("-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m -x 2".to_owned()),
            proptest::prelude::Just("-d -t 192.0.2.1:80 -r 10.0.0.2:80".to_owned()),
            proptest::prelude::Just("-C".to_owned()),
            "flow -t 192.0.2.1:80 from 198.51.100.[0-9]:[0-9]{1,5}( count=[0-9])?( then=(none|active|inactive))?",
            "advance [0-9]{1,3}(\\.[0-9])?",
            "assume -t 192.0.2.1:80 -r 10.0.0.2:80 (active|inactive)=[0-9]{1,3}",
            "[ -~]{0,30}",
        ],
        0..30,
    )) {
        let _ = run(&lines.join("\n"));
    }
}
