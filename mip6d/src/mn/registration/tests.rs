//! The home registration's decisions in simulated time: no socket, no
//! kernel, hours of protocol in microseconds.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use mip6::coa::PrimaryCoa;
use mip6::consts::BaStatus;
use mip6::wire::mh::{BaFlags, BindingAck, MhMessage, MhRepr};
use mip6::wire::ndisc::{DhaadReply, MobilePrefixAdvert};

use super::{RegAction, Registration};
use crate::config::{parse, Config, Offline};
use crate::mn::location::Location;

fn addr(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn config(text: &str) -> Config {
    let host = Offline {
        interfaces: vec!["eth0".to_owned(), "eth1".to_owned()],
    };
    match parse(text.as_bytes(), "test.conf", &host) {
        Ok(l) => l.config,
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// A mobile node whose home agent is `ha` (`::`: found by DHAAD).
fn mn_config(ha: &str, extra: &str) -> Config {
    config(&format!(
        "NodeConfig MN;\nUseMnHaIPsec disabled;\n{extra}\n\
         Interface \"eth1\";\n\
         MnHomeLink \"eth0\" {{\n  HomeAgentAddress {ha};\n  HomeAddress 2001:db8:1::100/64;\n}}\n"
    ))
}

fn registration(config: &Config) -> Registration {
    Registration::new(config, &config.mn_home_link[0])
}

fn away() -> Location {
    Location::Away(PrimaryCoa {
        ifindex: 3,
        address: addr("2001:db8:a::50"),
    })
}

fn ba(status: BaStatus, sequence: u16, lifetime_units: u16) -> MhRepr {
    MhRepr {
        message: MhMessage::BindingAck(BindingAck {
            status,
            flags: BaFlags::default(),
            sequence,
            lifetime_units,
        }),
        options: Vec::new(),
    }
}

/// The sequence number of the BU in `action`.
fn bu_sequence(action: &RegAction) -> u16 {
    match action {
        RegAction::SendBu {
            message:
                MhRepr {
                    message: MhMessage::BindingUpdate(bu),
                    ..
                },
            ..
        } => bu.sequence,
        other => panic!("expected a BU, got {other:?}"),
    }
}

#[test]
fn first_registration_sends_a_bu_from_the_home_address_over_the_coa_link() {
    let c = mn_config("2001:db8:1::1", "");
    let mut reg = registration(&c);
    let actions = reg.register(Instant::now(), addr("2001:db8:a::50"), away(), &c);
    let [RegAction::SendBu {
        hoa,
        ha,
        coa,
        ifindex,
        ..
    }] = &actions[..]
    else {
        panic!("{actions:?}");
    };
    assert_eq!(
        (*hoa, *ha, *coa, *ifindex),
        (
            addr("2001:db8:1::100"),
            addr("2001:db8:1::1"),
            addr("2001:db8:a::50"),
            3
        )
    );
}

#[test]
fn no_bu_without_an_ipsec_policy_for_it() {
    // UseMnHaIPsec (on by default) with no policy covering BU/BA.
    let c = config(
        "NodeConfig MN;\nMnHomeLink \"eth0\" {\n  HomeAgentAddress 2001:db8:1::1;\n  \
         HomeAddress 2001:db8:1::100/64;\n}\n",
    );
    let mut reg = registration(&c);
    assert!(!reg.may_send_bu);
    let actions = reg.register(Instant::now(), addr("2001:db8:a::50"), away(), &c);
    assert_eq!(actions, Vec::new());
}

#[test]
fn ba_from_the_home_agent_registers_and_schedules_prefix_discovery() {
    let c = mn_config("2001:db8:1::1", "");
    let mut reg = registration(&c);
    let t0 = Instant::now();
    let sent = reg.register(t0, addr("2001:db8:a::50"), away(), &c);
    let seq = bu_sequence(&sent[0]);
    let t1 = t0 + Duration::from_millis(40);
    // A BA from anyone but the home agent is not the registration's.
    let forged = reg.handle_mh(
        t1,
        addr("2001:db8:99::1"),
        &ba(BaStatus::ACCEPTED, seq, 100),
        away(),
        &c,
    );
    assert_eq!(forged, Vec::new());
    let actions = reg.handle_mh(
        t1,
        addr("2001:db8:1::1"),
        &ba(BaStatus::ACCEPTED, seq, 100),
        away(),
        &c,
    );
    assert_eq!(
        actions,
        vec![RegAction::Registered {
            care_of_address: addr("2001:db8:a::50"),
            previous_care_of_address: None,
        }]
    );
    // 100 units of 4 s granted: refresh and the solicitation come before
    // the binding's end (RFC 6275 §11.4.2: 90 % of the lifetime for MPS).
    let next = reg.poll_timeout().expect("a timer after registration");
    assert!(
        next > t1 && next < t1 + Duration::from_secs(400),
        "{next:?}"
    );
}

#[test]
fn silence_retransmits_the_bu_with_the_next_sequence_number() {
    let c = mn_config("2001:db8:1::1", "");
    let mut reg = registration(&c);
    let t0 = Instant::now();
    let sent = reg.register(t0, addr("2001:db8:a::50"), away(), &c);
    let due = reg.poll_timeout().expect("a retransmission timer");
    let again = reg.handle_timeout(due, away(), &c);
    assert_eq!(again.len(), 1, "{again:?}");
    // Every BU sent carries a sequence number of its own.
    assert_eq!(
        bu_sequence(&again[0]),
        bu_sequence(&sent[0]).wrapping_add(1)
    );
}

/// DHAAD from the CoA, then the reply's two agents: the first is used.
fn discovered(c: &Config, t0: Instant) -> Registration {
    let mut reg = registration(c);
    let actions = reg.care_of_address_changed(t0, Some(addr("2001:db8:a::50")), away(), c);
    let [RegAction::SendDhaadRequest {
        source,
        ifindex,
        request,
        ..
    }] = &actions[..]
    else {
        panic!("{actions:?}");
    };
    assert_eq!((*source, *ifindex), (addr("2001:db8:a::50"), 3));
    let reply = DhaadReply {
        identifier: request.identifier,
        flags: 0,
        home_agents: vec![addr("2001:db8:1::1"), addr("2001:db8:1::2")],
    };
    let actions = reg.handle_dhaad_reply(t0, addr("2001:db8:1::1"), &reply, away(), c);
    assert_eq!(
        actions,
        vec![
            RegAction::LeaveAway,
            RegAction::EnterAway {
                ha: addr("2001:db8:1::1"),
                coa: PrimaryCoa {
                    ifindex: 3,
                    address: addr("2001:db8:a::50")
                },
            }
        ]
    );
    assert_eq!(reg.ha, addr("2001:db8:1::1"));
    reg
}

#[test]
fn dhaad_reply_chooses_the_first_home_agent() {
    let c = mn_config("::", "");
    discovered(&c, Instant::now());
}

#[test]
fn a_silent_home_agent_gives_way_to_the_next_one() {
    let c = mn_config("::", "MnMaxHaConsecutiveResends 2;");
    let t0 = Instant::now();
    let mut reg = discovered(&c, t0);
    assert_eq!(
        reg.register(t0, addr("2001:db8:a::50"), away(), &c).len(),
        1
    );
    for _ in 0..10 {
        let now = reg.poll_timeout().expect("a timer while registering");
        let actions = reg.handle_timeout(now, away(), &c);
        if actions.contains(&RegAction::LeaveAway) {
            assert_eq!(
                actions.last(),
                Some(&RegAction::EnterAway {
                    ha: addr("2001:db8:1::2"),
                    coa: PrimaryCoa {
                        ifindex: 3,
                        address: addr("2001:db8:a::50")
                    },
                })
            );
            assert_eq!(reg.ha, addr("2001:db8:1::2"));
            assert!(now > t0);
            return;
        }
    }
    panic!("never gave up on {}", reg.ha);
}

#[test]
fn a_reply_without_agents_leaves_the_away_state_and_forgets_the_agent() {
    let c = mn_config("::", "");
    let t0 = Instant::now();
    let mut reg = registration(&c);
    let actions = reg.care_of_address_changed(t0, Some(addr("2001:db8:a::50")), away(), &c);
    let [RegAction::SendDhaadRequest { request, .. }] = &actions[..] else {
        panic!("{actions:?}");
    };
    let reply = DhaadReply {
        identifier: request.identifier,
        flags: 0,
        home_agents: Vec::new(),
    };
    let actions = reg.handle_dhaad_reply(t0, addr("2001:db8:1::1"), &reply, away(), &c);
    assert_eq!(actions, vec![RegAction::LeaveAway]);
    assert!(reg.ha.is_unspecified());
}

#[test]
fn deregistered_at_home_with_reset_forgets_the_discovered_agent() {
    let c = mn_config("::", "MnResetDhaadAtHome enabled;");
    let t0 = Instant::now();
    let mut reg = discovered(&c, t0);
    let sent = reg.register(t0, addr("2001:db8:a::50"), away(), &c);
    let t1 = t0 + Duration::from_millis(30);
    let ok = ba(BaStatus::ACCEPTED, bu_sequence(&sent[0]), 100);
    reg.handle_mh(t1, addr("2001:db8:1::1"), &ok, away(), &c);
    let home = Location::Home(2);
    let sent = reg.deregister(t1, addr("2001:db8:1::100"), home, &c);
    let [RegAction::SendBu { ifindex: 2, .. }] = &sent[..] else {
        panic!("{sent:?}");
    };
    let ok = ba(BaStatus::ACCEPTED, bu_sequence(&sent[0]), 0);
    reg.handle_mh(t1, addr("2001:db8:1::1"), &ok, home, &c);
    assert!(reg.ha.is_unspecified());
}

#[test]
fn a_prefix_advert_from_anyone_but_the_home_agent_is_ignored() {
    let c = mn_config("2001:db8:1::1", "");
    let mut reg = registration(&c);
    let mpa = MobilePrefixAdvert {
        identifier: 7,
        flags: 0,
        options: Vec::new(),
    };
    let hoa = addr("2001:db8:1::100");
    let now = Instant::now();
    let forged = reg.handle_mobile_prefix_advert(now, addr("2001:db8:99::1"), hoa, &mpa);
    assert_eq!(forged, Vec::new());
    // Unsolicited from the home agent: not trusted as is, solicited anew
    // (RFC 6275 §11.4.3).
    let actions = reg.handle_mobile_prefix_advert(now, addr("2001:db8:1::1"), hoa, &mpa);
    assert!(
        matches!(actions[..], [RegAction::SendPrefixSolicitation(_)]),
        "{actions:?}"
    );
}

/// UMIP: a Parameter Problem from the home agent ends the registration only
/// with `UseMnHaIPsec` and `MnDiscardHaParamProb` both off.
#[test]
fn a_parameter_problem_from_the_home_agent_is_honoured_unless_discarded() {
    use mip6::wire::param_problem::{Culprit, ParamProblem};
    let (ha, coa, hoa) = (
        addr("2001:db8:1::1"),
        addr("2001:db8:a::50"),
        addr("2001:db8:1::100"),
    );
    let problem = ParamProblem {
        culprit: Culprit::HomeAddressOption,
        source: coa,
        destination: ha,
        home_address_option: Some(hoa),
    };
    for (extra, honoured) in [
        ("", true),
        ("MnDiscardHaParamProb enabled;", false),
        ("UseMnHaIPsec enabled;", false),
    ] {
        let c = mn_config("2001:db8:1::1", extra);
        let mut reg = registration(&c);
        let t0 = Instant::now();
        reg.register(t0, coa, away(), &c);
        let t1 = t0 + Duration::from_millis(10);
        let other = addr("2001:db8:9::9");
        assert_eq!(
            reg.handle_param_problem(t1, other, &problem, away(), &c),
            None,
            "from someone else"
        );
        let out = reg.handle_param_problem(t1, ha, &problem, away(), &c);
        assert_eq!(out, Some(Vec::new()), "{extra}");
        assert_eq!(
            reg.poll_timeout().is_none(),
            honoured,
            "{extra}: retransmissions stopped iff honoured"
        );
    }
}

/// Parameter Problems carry no proof of origin: a stream of them, discarded,
/// writes one log line a minute, not one each.
#[test]
fn discarded_parameter_problems_are_logged_once_a_minute() {
    use mip6::wire::param_problem::{Culprit, ParamProblem};
    let (ha, coa, hoa) = (
        addr("2001:db8:1::1"),
        addr("2001:db8:a::50"),
        addr("2001:db8:1::100"),
    );
    let problem = ParamProblem {
        culprit: Culprit::MobilityHeader,
        source: coa,
        destination: ha,
        home_address_option: Some(hoa),
    };
    let c = mn_config("2001:db8:1::1", "MnDiscardHaParamProb enabled;");
    let mut reg = registration(&c);
    let t0 = Instant::now();
    reg.register(t0, coa, away(), &c);
    for n in 0..100 {
        let now = t0 + Duration::from_millis(n);
        assert_eq!(
            reg.handle_param_problem(now, ha, &problem, away(), &c),
            Some(Vec::new())
        );
    }
    assert_eq!(reg.param_problem_log.refused(), 99, "one line of 100");
    let later = t0 + Duration::from_secs(61);
    reg.handle_param_problem(later, ha, &problem, away(), &c);
    assert_eq!(
        reg.param_problem_log.refused(),
        99,
        "a line again a minute on"
    );
}

/// RFC 6275 §11.5.4 as UMIP: back home with a binding, probe (home address
/// and the L flag's link-local address); an NA from the home agent →
/// deregistration; none → dropped without a BU, unless `MnFlushAllAtHome`.
/// `MnFlushAllAtHome` drops a never-acknowledged registration at once.
#[test]
fn the_home_return_probes_and_flush_all_at_home_decides_without_an_answer() {
    use super::HomeStep;
    let ha = addr("2001:db8:1::1");
    let home = Location::Home(2);
    let ll = addr("fe80::100");
    let is_dereg = |a: &RegAction| matches!(a, RegAction::SendBu { .. });
    for (flush, answered, dereg) in [
        (false, true, true),
        (false, false, false),
        (true, false, true),
    ] {
        let c = mn_config(
            "2001:db8:1::1",
            if flush {
                "MnFlushAllAtHome enabled;"
            } else {
                ""
            },
        );
        let mut reg = registration(&c);
        reg.use_link_local(&c, &c.mn_home_link[0], ll);
        let t0 = Instant::now();
        let sent = reg.register(t0, addr("2001:db8:a::50"), away(), &c);
        let seq = bu_sequence(&sent[0]);
        reg.handle_mh(t0, ha, &ba(BaStatus::ACCEPTED, seq, 100), away(), &c);
        let step = reg.home_step(t0, 2, &c);
        assert_eq!(
            step,
            HomeStep::Probe {
                ifindex: 2,
                targets: vec![addr("2001:db8:1::100"), ll]
            }
        );
        assert_eq!(reg.home_step(t0, 2, &c), HomeStep::Wait);
        // Our own answer (source = target) does not count.
        assert!(!reg.handle_home_probe_answer(2, ll, ll));
        let due = if answered {
            assert!(
                reg.handle_home_probe_answer(2, addr("fe80::2"), ll),
                "ends the wait"
            );
            t0
        } else {
            // Two more probes, 1 s apart, then 1.5 s without an answer.
            let mut probes = 0;
            let mut due = t0;
            while let Some(d) = reg
                .poll_timeout()
                .filter(|d| *d <= t0 + Duration::from_secs(4))
            {
                due = d;
                let out = reg.handle_timeout(d, home, &c);
                probes += out
                    .iter()
                    .filter(|a| matches!(a, RegAction::ProbeHome { .. }))
                    .count();
            }
            assert_eq!(probes, 2);
            assert_eq!(due, t0 + Duration::from_millis(3500));
            due
        };
        assert_eq!(reg.home_step(due, 2, &c), HomeStep::Proceed);
        let out = reg.deregister(due, addr("2001:db8:1::100"), home, &c);
        assert_eq!(
            out.iter().any(is_dereg),
            dereg,
            "flush {flush}, answered {answered}: {out:?}"
        );
    }
    // Never acknowledged: dropped at once with MnFlushAllAtHome, probed without.
    for flush in [false, true] {
        let c = mn_config(
            "2001:db8:1::1",
            if flush {
                "MnFlushAllAtHome enabled;"
            } else {
                ""
            },
        );
        let mut reg = registration(&c);
        let t0 = Instant::now();
        reg.register(t0, addr("2001:db8:a::50"), away(), &c);
        let step = reg.home_step(t0, 2, &c);
        assert_eq!(step == HomeStep::Proceed, flush, "{step:?}");
    }
}
