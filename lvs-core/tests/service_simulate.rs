//! `simulate` scripts with outputs worked out by hand from the kernel's rules.

use lvs_core::service::simulate::run;

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
